//go:build race

package store

// raceEnabled: the race detector makes the search comparisons several
// times slower; they check answers, not concurrency, so under -race they
// run fewer queries (make test runs them in full without it).
const raceEnabled = true

// Package bench holds sonolink's benchmarks against its peers (DCMTK,
// Orthanc, GDCM). They run binaries side by side on loopback and report
// figures with b.ReportMetric; run them with `make bench`.
//
// SONOLINK_BENCH_SERVE_ARGS adds flags to every `sonolink serve` a
// benchmark starts, for performance work: for example
// "--cpuprofile /tmp/serve.cpu" writes a CPU profile of the server.
package bench

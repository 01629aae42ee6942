package admin

import (
	"sort"
	"strconv"
	"strings"
)

// ParseImages parses an object selection such as "1,3,5-8" into sorted,
// distinct numbers. With max > 0, numbers above max are an error.
func ParseImages(s string, max int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 1 || b < a {
			return nil, errorf(KindInvalid, "--images %q: %q is not an object number or range; use numbers from 'sonolink study', e.g. 1,3,5-8", s, part)
		}
		if b-a > 100000 {
			return nil, errorf(KindInvalid, "--images %q: range %q is too large", s, part)
		}
		for n := a; n <= b; n++ {
			if max > 0 && n > max {
				return nil, errorf(KindInvalid, "--images %q: the study has %d objects; there is no object %d (see 'sonolink study')", s, max, n)
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, errorf(KindInvalid, "--images %q selects nothing; use numbers from 'sonolink study', e.g. 1,3,5-8", s)
	}
	sort.Ints(out)
	return out, nil
}

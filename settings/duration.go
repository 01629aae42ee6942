package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration accepts Go durations (90s, 2h30m) and days or weeks (90d,
// 2w). Only positive durations are accepted.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	for suffix, unit := range map[string]time.Duration{"d": day, "w": 7 * day} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("bad duration %q", v)
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

// FormatDuration writes d the way settings are typed: whole days as 90d,
// whole hours as 48h, whole minutes as 2m, else Go's form (1m30s); zero as
// "". ParseDuration reads every result back to d.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

package settings

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Space is an amount of free disk space: a share of the disk or a size.
// The zero Space is "off".
type Space struct {
	Percent float64 // of the disk's size, 0 < Percent < 100; 0 when Bytes is used
	Bytes   uint64
}

// Off reports whether no amount is set.
func (s Space) Off() bool { return s.Percent == 0 && s.Bytes == 0 }

// Of is the amount in bytes on a disk of total bytes.
func (s Space) Of(total uint64) uint64 {
	if s.Percent > 0 {
		return uint64(math.Ceil(float64(total) * s.Percent / 100))
	}
	return s.Bytes
}

// String is the amount as typed: 10%, 50GB, 500MB, 1.5TB or off.
// ParseSpace reads it back to the same Space.
func (s Space) String() string {
	switch {
	case s.Percent > 0:
		return strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
	case s.Bytes == 0:
		return "off"
	}
	for _, u := range spaceUnits {
		if s.Bytes >= u.n && s.Bytes%u.n == 0 {
			return strconv.FormatUint(s.Bytes/u.n, 10) + u.name
		}
	}
	return strconv.FormatUint(s.Bytes, 10) + "B"
}

// spaceUnits are decimal, as disks are sold, largest first.
var spaceUnits = []struct {
	name string
	n    uint64
}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}}

// ParseSpace reads 10%, 0.5%, 50GB, 500 MB, 1.5TB, 4096B or off (also 0).
func ParseSpace(v string) (Space, error) {
	v = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(v), " ", ""))
	if v == "OFF" || v == "0" || v == "0%" {
		return Space{}, nil
	}
	if n, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || !(f > 0 && f < 100) {
			return Space{}, fmt.Errorf("%q: a share of the disk is more than 0%% and less than 100%%", v)
		}
		return Space{Percent: f}, nil
	}
	for _, u := range append(spaceUnits, struct {
		name string
		n    uint64
	}{"B", 1}) {
		if n, ok := strings.CutSuffix(v, u.name); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 || f*float64(u.n) >= 1<<63 {
				break
			}
			return Space{Bytes: uint64(math.Round(f * float64(u.n)))}, nil
		}
	}
	return Space{}, fmt.Errorf("%q: give a share of the disk (10%%) or a size (50GB, 500MB)", v)
}

func parseSpace(_ *Registry, key, v string) (string, string, error) {
	s, err := ParseSpace(v)
	if err != nil {
		return "", "", invalid(key, "%w, or off", err)
	}
	return s.String(), s.String(), nil
}

// Retention periods: 1h to 3650d, or off (0: never purged for age).
func parseRetention(_ *Registry, key, v string) (string, string, error) {
	if strings.EqualFold(v, "off") {
		return "off", "off", nil
	}
	return durationIn(time.Hour, 3650*day, "from 1h to 3650d, e.g. 30d, 180d, or off")(nil, key, v)
}

func decodeRetention(s string) (time.Duration, error) {
	if s == "off" {
		return 0, nil
	}
	return ParseDuration(s)
}

func showRetention(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return FormatDuration(d)
}

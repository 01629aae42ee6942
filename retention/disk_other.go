//go:build !linux

package retention

import "errors"

// statfs is not implemented here: the free space is unknown, so nothing is
// refused and the free-space floor does not apply.
type statfs struct{}

func (statfs) Space(string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space is not measured on this system")
}

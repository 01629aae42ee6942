package retention

import "syscall"

// statfs is the free-space probe of a real disk: the space an unprivileged
// process may still use (Bavail), and the file system's size.
type statfs struct{}

func (statfs) Space(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

//go:build !linux

package admin

import "net"

// peerAllowed relies on the socket's 0600 mode where peer credentials are
// not available.
func peerAllowed(net.Conn) bool { return true }

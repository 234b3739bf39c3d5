//go:build unix

package gw

import "syscall"

// reuseAddr sets SO_REUSEADDR on the PGW's connections from a UE's address
// and port, so that a UE reusing a port does not hit the previous
// connection's TIME_WAIT.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

//go:build !linux

package devicesim

import "syscall"

func bindNoPort(network, address string, c syscall.RawConn) error { return nil }

//go:build !linux

package gateway

import "net"

// pollConn: the event loop is Linux's (epoll); elsewhere every connection
// has a reader goroutine (streamed).
func pollConn(net.Conn) pollTransport { return nil }

package devicesim

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): with a source
// address given, bind() leaves the port to connect(), which picks it knowing
// the destination — instead of a linear search of the ephemeral range on
// every bind, which makes tens of thousands of dials from one address slow.
const ipBindAddressNoPort = 24

func bindNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	_ = serr // an older kernel without it: bind() picks the port as before
	return nil
}

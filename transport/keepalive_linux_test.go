package transport_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/correio-dev/correio/transport"
)

// The zero Net dials with DefaultKeepAlive, not Go's 15 s probes.
func TestZeroNetKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := transport.Net{}.Dial(context.Background(), "test", "127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	opt := func(level, name int) int {
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, name) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}
	ka := transport.DefaultKeepAlive()
	if got := opt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); got != 1 {
		t.Errorf("SO_KEEPALIVE %d", got)
	}
	if got := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); got != int(ka.Idle.Seconds()) {
		t.Errorf("TCP_KEEPIDLE %d s, want %v", got, ka.Idle)
	}
	if got := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL); got != int(ka.Interval.Seconds()) {
		t.Errorf("TCP_KEEPINTVL %d s, want %v", got, ka.Interval)
	}
	if got := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT); got != ka.Count {
		t.Errorf("TCP_KEEPCNT %d, want %d", got, ka.Count)
	}
}

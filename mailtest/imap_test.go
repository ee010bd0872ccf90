package mailtest_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/mailtest"
)

func TestIMAPServerHelpers(t *testing.T) {
	s, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddUser("bob", "pw")
	if _, err := s.Append("nobody", "INBOX", []byte("x")); !errors.Is(err, mailtest.ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	uid, err := s.Append("bob", "Archive/2026", []byte("Subject: a\r\n\r\nb\r\n"))
	if err != nil || uid != 1 {
		t.Fatalf("uid %v err %v", uid, err)
	}
	st, err := s.Status("bob", "Archive/2026")
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("%v %v", st, err)
	}
	old := st.UIDValidity
	if err := s.ResetUIDValidity("bob", "Archive/2026"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Status("bob", "Archive/2026")
	if st.UIDValidity == old || *st.NumMessages != 1 {
		t.Fatalf("after reset %+v", st)
	}
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.SetLoginRefused(true)
	if err := c.Login("bob", "pw").Wait(); err == nil {
		t.Fatal("refused login succeeded")
	}
	s.SetLoginRefused(false)
	if err := c.Login("bob", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if ok, failed := s.Logins(); ok != 1 || failed != 1 {
		t.Fatalf("logins %d/%d", ok, failed)
	}
}

// echo is a TCP server that writes "hello" then echoes.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.Write([]byte("hello")); io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestProxyModes(t *testing.T) {
	p, err := mailtest.NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	read := func(c net.Conn, n int) (string, error) {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		b := make([]byte, n)
		_, err := io.ReadFull(c, b)
		return string(b), err
	}
	c, _ := net.Dial("tcp", p.Addr)
	if s, err := read(c, 5); s != "hello" || err != nil {
		t.Fatalf("pass: %q %v", s, err)
	}
	p.SetMode(mailtest.Blackhole)
	c.Write([]byte("ping"))
	if _, err := read(c, 4); err == nil {
		t.Fatal("blackhole answered")
	}
	p.SetMode(mailtest.Reset)
	// The connection is closed: the read fails, and not by its deadline.
	var ne net.Error
	if _, err := read(c, 1); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("reset: %v", err)
	}
	c2, err := net.Dial("tcp", p.Addr)
	if err == nil {
		if _, err := read(c2, 1); err == nil {
			t.Fatal("reset mode let a connection through")
		}
	}
	// Set before dialling: the server greets at once, so setting it after
	// could let the greeting through first.
	p.DropAfter(3)
	c3, _ := net.Dial("tcp", p.Addr)
	if s, err := read(c3, 5); err == nil {
		t.Fatalf("drop-after: read %q", s)
	}
	c4, _ := net.Dial("tcp", p.Addr)
	if s, err := read(c4, 5); s != "hello" || err != nil {
		t.Fatalf("back to pass: %q %v", s, err)
	}
	p.SetMode(mailtest.Down)
	if _, err := read(c4, 1); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("down closes open connections: %v", err)
	}
	c5, _ := net.Dial("tcp", p.Addr)
	if _, err := read(c5, 1); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("down refuses new connections: %v", err)
	}
	p.SetLatency(20 * time.Millisecond)
	c6, _ := net.Dial("tcp", p.Addr)
	if s, err := read(c6, 5); s != "hello" || err != nil {
		t.Fatalf("latency still forwards: %q %v", s, err)
	}
	if p.Mode() != mailtest.Latency || p.Accepted() < 6 {
		t.Fatalf("mode %v accepted %d", p.Mode(), p.Accepted())
	}
	// The server's greeting passes; the client's 8 bytes cross the limit
	// of 4 and the connection is reset.
	p.ResetUpstreamAfter(4)
	c7, _ := net.Dial("tcp", p.Addr)
	if s, err := read(c7, 5); s != "hello" || err != nil {
		t.Fatalf("reset-upstream greeting: %q %v", s, err)
	}
	c7.Write([]byte("abcdefgh"))
	if s, err := read(c7, 8); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("reset-upstream: connection alive (%q %v)", s, err)
	}
	c8, _ := net.Dial("tcp", p.Addr)
	c8.Write([]byte("12345678"))
	if s, err := read(c8, 13); s != "hello12345678" || err != nil {
		t.Fatalf("back to pass after reset-upstream: %q %v", s, err)
	}
}

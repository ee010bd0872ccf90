package transporttest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/transporttest"
)

// memServer is a POP3-like mail drop in memory: messages in arrival
// order, delete and keep only, no read state, no folders. Its listener
// only makes the transport dial (so the address policy applies).
type memServer struct {
	ln net.Listener

	mu      sync.Mutex
	epoch   int // changes when the drop is rebuilt: cursors reset
	seq     int
	msgs    []memMsg
	down    bool
	refuse  bool
	breakAt int64 // >0: bytes left before the next fetch breaks
	arrived chan struct{}
}

type memMsg struct {
	seq int
	raw []byte
}

func newMemServer(t *testing.T) *memServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return &memServer{ln: ln, epoch: 1, arrived: make(chan struct{}, 1)}
}

func (s *memServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// memSource is the transport under test: a few dozen lines, as a host's
// own would be, with a cursor that is not IMAP's.
type memSource struct {
	srv *memServer
	n   transport.Net
}

func (m *memSource) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostDelete, mailbox.PostKeep}
}

func (m *memSource) Validate(mb *mailbox.Mailbox) error { return mb.Validate() }

func (m *memSource) Check(ctx context.Context, mb *mailbox.Mailbox) (transport.Report, error) {
	start := time.Now()
	rep := transport.Report{Kind: mb.Transport(), Server: m.srv.ln.Addr().String()}
	s, err := m.Open(ctx, mb)
	if err != nil {
		return rep, err
	}
	defer s.Close(ctx)
	m.srv.mu.Lock()
	rep.Facts = append(rep.Facts, transport.Fact{Name: "messages", Value: strconv.Itoa(len(m.srv.msgs))})
	m.srv.mu.Unlock()
	rep.Elapsed = max(time.Since(start), time.Nanosecond)
	return rep, nil
}

func memErr(class transport.Class, op string, err error) error {
	return &transport.Error{Class: class, Protocol: "mem", Op: op, Err: err}
}

func (m *memSource) Open(ctx context.Context, mb *mailbox.Mailbox) (transport.Session, error) {
	c, err := m.n.Dial(ctx, "mem", "127.0.0.1", m.srv.port())
	if err != nil {
		return nil, err
	}
	_ = c.Close()
	m.srv.mu.Lock()
	defer m.srv.mu.Unlock()
	switch {
	case m.srv.down:
		return nil, memErr(transport.Temporary, "dial", errors.New("connection refused"))
	case m.srv.refuse || mb.Inbound.Credentials.Password.Reveal() != "pw":
		return nil, memErr(transport.Auth, "login", errors.New("bad password"))
	}
	return &memSession{srv: m.srv}, nil
}

type memSession struct{ srv *memServer }

func cursor(epoch, seq int) transport.Cursor {
	return transport.MakeCursor("mem", 1, fmt.Sprintf("%d.%d", epoch, seq))
}

func parse(c transport.Cursor) (epoch, seq int, err error) {
	kind, v, p, err := c.Parse()
	if err != nil || c.IsZero() {
		return 0, 0, err
	}
	e, s, ok := strings.Cut(p, ".")
	epoch, err1 := strconv.Atoi(e)
	seq, err2 := strconv.Atoi(s)
	if kind != "mem" || v != 1 || !ok || err1 != nil || err2 != nil {
		return 0, 0, memErr(transport.Permanent, "resume", fmt.Errorf("%w: %q", transport.ErrCursor, string(c)))
	}
	return epoch, seq, nil
}

func (s *memSession) Resume(_ context.Context, c transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	epoch, _, err := parse(c)
	switch {
	case err != nil:
		return "", false, err
	case c.IsZero() && latest:
		return cursor(s.srv.epoch, s.srv.seq), false, nil
	case c.IsZero():
		return cursor(s.srv.epoch, 0), false, nil
	case epoch != s.srv.epoch:
		return cursor(s.srv.epoch, 0), true, nil
	}
	return c, false, nil
}

func (s *memSession) List(_ context.Context, c transport.Cursor) ([]transport.Item, error) {
	epoch, after, err := parse(c)
	if err != nil {
		return nil, err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if epoch != s.srv.epoch {
		return nil, memErr(transport.Temporary, "list", transport.ErrCursor)
	}
	var out []transport.Item
	for _, m := range s.srv.msgs {
		if m.seq > after {
			out = append(out, transport.Item{ID: strconv.Itoa(m.seq), Cursor: cursor(epoch, m.seq), Size: int64(len(m.raw))})
		}
	}
	return out, nil
}

// breaking stops after n bytes, as a dropped connection does.
type breaking struct {
	r io.Reader
	n *int64
}

func (b breaking) Read(p []byte) (int, error) {
	if *b.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > *b.n {
		p = p[:*b.n]
	}
	n, err := b.r.Read(p)
	*b.n -= int64(n)
	return n, err
}

func (s *memSession) Fetch(_ context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	for _, it := range items {
		s.srv.mu.Lock()
		var raw []byte
		for _, m := range s.srv.msgs {
			if strconv.Itoa(m.seq) == it.ID {
				raw = m.raw
			}
		}
		var r io.Reader = strings.NewReader(string(raw))
		broken := s.srv.breakAt > 0
		if broken {
			r = breaking{r: r, n: &s.srv.breakAt}
		}
		s.srv.mu.Unlock()
		if raw == nil {
			continue // gone
		}
		sp, err := transport.NewSpool(r, int64(len(raw)), 0, "")
		if broken {
			s.srv.mu.Lock()
			if s.srv.breakAt <= 0 {
				s.srv.breakAt = 0
			}
			s.srv.mu.Unlock()
		}
		if err != nil {
			return memErr(transport.Temporary, "fetch", err)
		}
		sp.ID = it.ID
		fn(sp)
	}
	return nil
}

func (s *memSession) Apply(_ context.Context, a transport.Action, ids []string) error {
	switch a.Kind {
	case mailbox.PostKeep:
		return nil
	case mailbox.PostDelete:
	default:
		return memErr(transport.Permanent, "apply", fmt.Errorf("%w: %s", transport.ErrUnsupported, a.Kind))
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	kept := s.srv.msgs[:0]
	for _, m := range s.srv.msgs {
		if !drop[strconv.Itoa(m.seq)] {
			kept = append(kept, m)
		}
	}
	s.srv.msgs = kept
	return nil
}

func (s *memSession) Push() bool { return true }

func (s *memSession) Wait(ctx context.Context, wake <-chan time.Time) error {
	select {
	case <-ctx.Done():
	case <-wake:
	case <-s.srv.arrived:
	}
	return nil
}

func (s *memSession) Close(context.Context) error { return nil }

// TestSuiteOnAnotherTransport runs the suite on a transport that is not
// IMAP: its own cursor, no read state, delete and keep only. It checks the
// suite asks nothing IMAP-specific, and exercises the suite's branch for
// post-actions a transport does not offer.
func TestSuiteOnAnotherTransport(t *testing.T) {
	transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv {
		srv := newMemServer(t)
		m := &mailbox.Mailbox{ID: "drop", Description: "mail drop", Kind: mailbox.Inbound, Enabled: true,
			Inbound: &mailbox.InboundSettings{Transport: "mem", PostAction: mailbox.PostKeep,
				Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("pw")}}}
		set := func(f func()) { srv.mu.Lock(); defer srv.mu.Unlock(); f() }
		return &transporttest.SourceEnv{
			Mailbox: m,
			Source:  func(n transport.Net) transport.Source { return &memSource{srv: srv, n: n} },
			Deliver: func(_ *testing.T, raw []byte) {
				set(func() {
					srv.seq++
					srv.msgs = append(srv.msgs, memMsg{seq: srv.seq, raw: append([]byte(nil), raw...)})
				})
				select {
				case srv.arrived <- struct{}{}:
				default:
				}
			},
			Count: func(_ *testing.T, folder string) (n, unseen int) {
				set(func() {
					if folder == m.Inbound.FolderOrDefault() {
						n = len(srv.msgs)
					}
				})
				return n, -1
			},
			SetDown:     func(down bool) { set(func() { srv.down = down }) },
			RefuseLogin: func(refuse bool) { set(func() { srv.refuse = refuse }) },
			BreakAfter:  func(n int64) { set(func() { srv.breakAt = max(n, 1) }) },
			ResetCursor: func(*testing.T) { set(func() { srv.epoch++ }) },
		}
	}})
}

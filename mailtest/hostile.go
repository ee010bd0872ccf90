package mailtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// HostileIMAPFault is the one way a HostileIMAP server misbehaves.
type HostileIMAPFault int

const (
	// EndlessListingLiteral answers the listing UID FETCH (UID, size,
	// flags) with an unsolicited BODY[] literal announced at a huge size
	// and streamed until the connection or the stream bound ends.
	EndlessListingLiteral HostileIMAPFault = iota + 1
	// OversizeBody lists its one message at ListedSize bytes and answers
	// the BODY[] fetch with a literal of BodySize bytes (default: a huge
	// announced size), streamed until the client stops reading.
	OversizeBody
	// EndlessGreeting sends a greeting line without CRLF.
	EndlessGreeting
	// ResponseFlood answers the listing UID FETCH with FETCH responses for
	// ever more messages, never ending the command.
	ResponseFlood
)

// HostileIMAPOptions configure a HostileIMAP server.
type HostileIMAPOptions struct {
	Fault HostileIMAPFault
	// ListedSize is the RFC822.SIZE the message is listed at (default
	// 1000).
	ListedSize int64
	// BodySize is the size OversizeBody announces for the BODY[] literal
	// (default 1 TB: an endless one).
	BodySize int64
	// StreamLimit bounds the bytes the server streams per connection for
	// its fault (default 256 MiB), so a test ends even against a client
	// that never stops.
	StreamLimit int64
}

// HostileIMAP is a scripted IMAP server that logs in any user (LOGIN or
// AUTHENTICATE PLAIN), selects any folder holding one message, and then
// misbehaves as its Fault says: hosts check that their embedding of
// correio stays within its bounds against it. It listens on 127.0.0.1,
// plaintext.
type HostileIMAP struct {
	opts HostileIMAPOptions
	ln   net.Listener
	wg   sync.WaitGroup
	done chan struct{}

	conns    atomic.Int64
	streamed atomic.Int64
	fetches  atomic.Int64

	mu    sync.Mutex
	open  map[net.Conn]struct{}
	close sync.Once
}

// NewHostileIMAP starts a hostile IMAP server. Close it when done.
func NewHostileIMAP(opts HostileIMAPOptions) (*HostileIMAP, error) {
	if opts.ListedSize <= 0 {
		opts.ListedSize = 1000
	}
	if opts.BodySize <= 0 {
		opts.BodySize = 1 << 40
	}
	if opts.StreamLimit <= 0 {
		opts.StreamLimit = 256 << 20
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &HostileIMAP{opts: opts, ln: ln, done: make(chan struct{}), open: map[net.Conn]struct{}{}}
	h.wg.Add(1)
	go h.serve()
	return h, nil
}

// Addr is host:port of the listener.
func (h *HostileIMAP) Addr() string { return h.ln.Addr().String() }

// Host is the listener's host.
func (h *HostileIMAP) Host() string { return "127.0.0.1" }

// Port is the listener's port.
func (h *HostileIMAP) Port() int { return h.ln.Addr().(*net.TCPAddr).Port }

// Connections returns how many connections the server accepted.
func (h *HostileIMAP) Connections() int { return int(h.conns.Load()) }

// Streamed returns the bytes the server sent for its fault, over all
// connections.
func (h *HostileIMAP) Streamed() int64 { return h.streamed.Load() }

// BodyFetches returns how many BODY[] fetches clients sent.
func (h *HostileIMAP) BodyFetches() int { return int(h.fetches.Load()) }

// Close stops the server and drops every connection.
func (h *HostileIMAP) Close() error {
	h.close.Do(func() {
		close(h.done)
		_ = h.ln.Close()
		h.mu.Lock()
		for c := range h.open {
			_ = c.Close()
		}
		h.mu.Unlock()
	})
	h.wg.Wait()
	return nil
}

func (h *HostileIMAP) serve() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.conns.Add(1)
		h.mu.Lock()
		select {
		case <-h.done:
			h.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		h.open[c] = struct{}{}
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer func() {
				h.mu.Lock()
				delete(h.open, c)
				h.mu.Unlock()
				_ = c.Close()
			}()
			_ = h.session(c)
		}()
	}
}

// stream writes fill (a line of 'x' with CRLF when lines, else bare 'x')
// until the stream bound or an error.
func (h *HostileIMAP) stream(w io.Writer, lines bool) error {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	if lines {
		copy(chunk[len(chunk)-2:], "\r\n")
	}
	for sent := int64(0); sent < h.opts.StreamLimit; sent += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		h.streamed.Add(int64(len(chunk)))
	}
	return nil
}

func (h *HostileIMAP) session(c net.Conn) error {
	w := bufio.NewWriter(c)
	r := bufio.NewReaderSize(c, 4096)
	say := func(format string, a ...any) error {
		fmt.Fprintf(w, format, a...)
		return w.Flush()
	}
	if h.opts.Fault == EndlessGreeting {
		if err := say("* OK "); err != nil {
			return err
		}
		return h.stream(c, false)
	}
	if err := say("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] mailtest hostile server\r\n"); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) > 64<<10 {
			return errors.New("mailtest: client line too long")
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd, args, _ := strings.Cut(rest, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "UID" {
			cmd, args, _ = strings.Cut(args, " ")
			cmd = "UID " + strings.ToUpper(cmd)
		}
		up := strings.ToUpper(args)
		switch cmd {
		case "CAPABILITY":
			err = say("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n%s OK done\r\n", tag)
		case "LOGIN":
			err = say("%s OK [CAPABILITY IMAP4rev1] logged in\r\n", tag)
		case "AUTHENTICATE":
			if !strings.Contains(strings.TrimSpace(args), " ") { // no initial response
				if err = say("+ \r\n"); err == nil {
					_, err = r.ReadString('\n')
				}
			}
			if err == nil {
				err = say("%s OK logged in\r\n", tag)
			}
		case "SELECT", "EXAMINE":
			err = say("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n* FLAGS (\\Seen \\Deleted)\r\n%s OK [READ-WRITE] selected\r\n", tag)
		case "UID FETCH":
			err = h.fetch(w, tag, up)
		case "NOOP", "CHECK", "UID STORE", "UID EXPUNGE", "UID MOVE", "UID COPY", "CREATE":
			err = say("%s OK done\r\n", tag)
		case "LIST":
			err = say("%s OK done\r\n", tag)
		case "LOGOUT":
			_ = say("* BYE bye\r\n%s OK bye\r\n", tag)
			return nil
		default:
			err = say("%s BAD unknown command\r\n", tag)
		}
		if err != nil {
			return err
		}
	}
}

func (h *HostileIMAP) fetch(w *bufio.Writer, tag, args string) error {
	body := strings.Contains(args, "BODY")
	switch {
	case !body && h.opts.Fault == EndlessListingLiteral:
		fmt.Fprintf(w, "* 1 FETCH (UID 1 RFC822.SIZE %d FLAGS () BODY[] {%d}\r\n", h.opts.ListedSize, int64(1)<<40)
		if err := w.Flush(); err != nil {
			return err
		}
		return h.stream(w, true)
	case !body && h.opts.Fault == ResponseFlood:
		for n, sent := int64(1), int64(0); sent < h.opts.StreamLimit; n++ {
			k, err := fmt.Fprintf(w, "* %d FETCH (UID %d RFC822.SIZE 100 FLAGS () INTERNALDATE \"01-Dec-2026 10:00:00 +0000\")\r\n", n, n)
			if err != nil {
				return err
			}
			sent += int64(k)
			h.streamed.Add(int64(k))
		}
		return w.Flush()
	case !body:
		fmt.Fprintf(w, "* 1 FETCH (UID 1 RFC822.SIZE %d FLAGS () INTERNALDATE \"01-Dec-2026 10:00:00 +0000\")\r\n%s OK done\r\n", h.opts.ListedSize, tag)
		return w.Flush()
	default:
		h.fetches.Add(1)
		if !strings.HasPrefix(strings.TrimSpace(args), "1 ") && !strings.HasPrefix(strings.TrimSpace(args), "1:") {
			fmt.Fprintf(w, "%s OK nothing\r\n", tag)
			return w.Flush()
		}
		fmt.Fprintf(w, "* 1 FETCH (UID 1 BODY[] {%d}\r\n", h.opts.BodySize)
		if err := w.Flush(); err != nil {
			return err
		}
		return h.stream(w, true)
	}
}

// HostileSMTPFault is the one way a HostileSMTP server misbehaves.
type HostileSMTPFault int

const (
	// EndlessReplyLine sends a greeting line ("220 ...") without end.
	EndlessReplyLine HostileSMTPFault = iota + 1
	// EndlessMultiline answers EHLO with "250-" lines without end.
	EndlessMultiline
)

// HostileSMTP is a scripted SMTP server that misbehaves as its fault says
// (plaintext, 127.0.0.1), streaming at most StreamLimit bytes per
// connection (default 256 MiB).
type HostileSMTP struct {
	fault HostileSMTPFault
	limit int64
	ln    net.Listener
	wg    sync.WaitGroup
	once  sync.Once
	done  chan struct{}

	conns    atomic.Int64
	streamed atomic.Int64
	mu       sync.Mutex
	open     map[net.Conn]struct{}
}

// NewHostileSMTP starts a hostile SMTP server; streamLimit <= 0 means
// 256 MiB. Close it when done.
func NewHostileSMTP(fault HostileSMTPFault, streamLimit int64) (*HostileSMTP, error) {
	if streamLimit <= 0 {
		streamLimit = 256 << 20
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &HostileSMTP{fault: fault, limit: streamLimit, ln: ln, done: make(chan struct{}), open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is host:port of the listener.
func (s *HostileSMTP) Addr() string { return s.ln.Addr().String() }

// Host is the listener's host.
func (s *HostileSMTP) Host() string { return "127.0.0.1" }

// Port is the listener's port.
func (s *HostileSMTP) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Connections returns how many connections the server accepted.
func (s *HostileSMTP) Connections() int { return int(s.conns.Load()) }

// Streamed returns the bytes sent for the fault, over all connections.
func (s *HostileSMTP) Streamed() int64 { return s.streamed.Load() }

// Close stops the server and drops every connection.
func (s *HostileSMTP) Close() error {
	s.once.Do(func() {
		close(s.done)
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
	return nil
}

func (s *HostileSMTP) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.open[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			_ = s.session(c)
		}()
	}
}

func (s *HostileSMTP) session(c net.Conn) error {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	if s.fault == EndlessReplyLine {
		if _, err := io.WriteString(c, "220 "); err != nil {
			return err
		}
		for sent := int64(0); sent < s.limit; sent += int64(len(chunk)) {
			if _, err := c.Write(chunk); err != nil {
				return err
			}
			s.streamed.Add(int64(len(chunk)))
		}
		return nil
	}
	if _, err := io.WriteString(c, "220 mailtest hostile ESMTP\r\n"); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // EHLO
		return err
	}
	line := []byte("250-" + strconv.Itoa(len(chunk)) + string(chunk[:1000]) + "\r\n")
	for sent := int64(0); sent < s.limit; sent += int64(len(line)) {
		if _, err := c.Write(line); err != nil {
			return err
		}
		s.streamed.Add(int64(len(line)))
	}
	return nil
}

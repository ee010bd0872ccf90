package mailtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// FaultMode is the behaviour of a Proxy.
type FaultMode int

const (
	// Pass forwards bytes both ways unchanged.
	Pass FaultMode = iota
	// Latency forwards bytes, delaying every chunk by the proxy's delay.
	Latency
	// Blackhole accepts connections but never forwards a byte either way:
	// a server that stopped answering.
	Blackhole
	// Reset closes every open connection with a TCP reset and resets every
	// new one as soon as it is accepted.
	Reset
	// Down closes every open connection and closes new ones on accept: the
	// server is down (Pass brings it back).
	Down
)

var faultNames = [...]string{"pass", "latency", "blackhole", "reset", "down"}

// String returns the mode's name.
func (m FaultMode) String() string {
	if int(m) >= 0 && int(m) < len(faultNames) {
		return faultNames[m]
	}
	return "unknown"
}

// Proxy is a loopback TCP proxy that injects network faults between a client
// and a server: added latency, a blackhole, resets, a server going down and
// coming back, or a connection dropped after a number of bytes (in the middle
// of a FETCH). It works in front of any TCP server: the in-process servers of
// this package or a real one.
//
// A Proxy is safe for concurrent use; mode changes apply to open connections
// too.
type Proxy struct {
	// Addr is the proxy's listening address (127.0.0.1:port).
	Addr string

	target string
	ln     net.Listener

	mu        sync.Mutex
	mode      FaultMode
	delay     time.Duration
	dropAfter int64 // >0: bytes still allowed downstream before a drop
	upAfter   int64 // >0: bytes still allowed upstream before a reset
	conns     map[*proxyConn]struct{}
	accepted  int
	closed    bool
	changed   chan struct{} // closed and replaced on every mode change
	wg        sync.WaitGroup
}

type proxyConn struct {
	client net.Conn
	once   sync.Once
	dead   chan struct{}

	mu     sync.Mutex
	server net.Conn // set once the upstream dial succeeds
}

func (c *proxyConn) close(reset bool) {
	c.once.Do(func() {
		close(c.dead)
		if reset {
			if tc, ok := c.client.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
		_ = c.client.Close()
		c.mu.Lock()
		srv := c.server
		c.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})
}

// NewProxy starts a proxy on 127.0.0.1 forwarding to target (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[*proxyConn]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Host returns the proxy's IP address as a string ("127.0.0.1").
func (p *Proxy) Host() string { h, _, _ := net.SplitHostPort(p.Addr); return h }

// Port returns the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Mode returns the current mode.
func (p *Proxy) Mode() FaultMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Accepted returns how many connections the proxy accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// SetMode switches the proxy to m. Reset and Down close every open
// connection; the other modes apply to the bytes that follow.
func (p *Proxy) SetMode(m FaultMode) {
	p.mu.Lock()
	p.mode = m
	p.dropAfter, p.upAfter = 0, 0
	close(p.changed)
	p.changed = make(chan struct{})
	var kill []*proxyConn
	if m == Reset || m == Down {
		for c := range p.conns {
			kill = append(kill, c)
		}
	}
	p.mu.Unlock()
	for _, c := range kill {
		c.close(m == Reset)
	}
}

// SetLatency switches to Latency mode with delay d per forwarded chunk.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
	p.SetMode(Latency)
}

// DropAfter lets the next n bytes from the server through (over all
// connections), then closes the connection that carries the byte after them,
// and returns to Pass. Set it once a client is logged in to cut a FETCH
// response in the middle.
func (p *Proxy) DropAfter(n int64) {
	p.SetMode(Pass)
	p.mu.Lock()
	p.dropAfter = n
	if n <= 0 {
		p.dropAfter = 1
	}
	p.mu.Unlock()
}

// ResetUpstreamAfter lets the next n bytes from the client through (over all
// connections), then resets the connection that carries the byte after them,
// and returns to Pass. Set it before a client sends a large message to cut
// the SMTP DATA in the middle of the body.
func (p *Proxy) ResetUpstreamAfter(n int64) {
	p.SetMode(Pass)
	p.mu.Lock()
	p.upAfter = max(n, 1)
	p.mu.Unlock()
}

// CloseConns closes every open connection (the server dropped them) without
// changing the mode.
func (p *Proxy) CloseConns() {
	p.mu.Lock()
	var kill []*proxyConn
	for c := range p.conns {
		kill = append(kill, c)
	}
	p.mu.Unlock()
	for _, c := range kill {
		c.close(false)
	}
}

// Conns returns the number of open connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	err := p.ln.Close()
	p.CloseConns()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		mode, closed := p.mode, p.closed
		p.mu.Unlock()
		if closed {
			_ = c.Close()
			return
		}
		switch mode {
		case Reset:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		case Down:
			_ = c.Close()
			continue
		}
		pc := &proxyConn{client: c, dead: make(chan struct{})}
		p.mu.Lock()
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(pc)
	}
}

func (p *Proxy) serve(pc *proxyConn) {
	defer p.wg.Done()
	defer func() {
		pc.close(false)
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	// Even when blackholed, connect upstream and let the pipes hold the
	// bytes: the client-to-server pipe keeps reading, so a client that
	// gives up and closes ends this connection (and its goroutines).
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	// close may run while the dial was under way (CloseConns, Close): it
	// marks the connection dead before it looks for the server side, so
	// either it sees s or s is closed here.
	pc.mu.Lock()
	pc.server = s
	pc.mu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	select {
	case <-pc.dead:
		closed = true
	default:
	}
	if closed {
		_ = s.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(pc, s, pc.client, false); done <- struct{}{} }()
	go func() { p.pipe(pc, pc.client, s, true); done <- struct{}{} }()
	<-done
	pc.close(false)
	<-done
}

// waitUsable blocks while the proxy is blackholed; it returns false once the
// proxy closed or the connection should be dropped.
func (p *Proxy) waitUsable(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		mode, closed, ch := p.mode, p.closed, p.changed
		p.mu.Unlock()
		if closed {
			return false
		}
		select {
		case <-pc.dead:
			return false
		default:
		}
		switch mode {
		case Blackhole:
			select {
			case <-ch:
			case <-pc.dead:
				return false
			}
			continue
		case Reset, Down:
			return false
		}
		return true
	}
}

// pipe copies src to dst chunk by chunk, applying the mode to each chunk.
// downstream is the server-to-client direction.
func (p *Proxy) pipe(pc *proxyConn, dst, src net.Conn, downstream bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitUsable(pc) {
				return
			}
			p.mu.Lock()
			mode, delay := p.mode, p.delay
			chunk := buf[:n]
			counter := &p.dropAfter
			if !downstream {
				counter = &p.upAfter
			}
			drop := false
			if *counter > 0 {
				if int64(n) > *counter {
					chunk = buf[:*counter]
					drop = true
					*counter = 0
				} else {
					*counter -= int64(n)
					if *counter == 0 {
						*counter = -1 // the next byte drops
					}
				}
			} else if *counter < 0 {
				chunk = nil
				drop = true
				*counter = 0
			}
			p.mu.Unlock()
			if mode == Latency && delay > 0 {
				time.Sleep(delay)
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					return
				}
			}
			if drop {
				pc.close(!downstream)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

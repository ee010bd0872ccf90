package smtp

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Conn returns a connection of mb's pool: an idle one, a new one while
// fewer than MaxConnections are live, or it waits for one to be released
// (until ctx ends). Release it when done; send several messages over it in
// between.
func (t *Transport) Conn(ctx context.Context, mb *mailbox.Mailbox) (*Conn, error) {
	if mb == nil || mb.Outbound == nil {
		return nil, ErrNotOutbound
	}
	p, err := t.pool(mb)
	if err != nil {
		return nil, err
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if c.timer != nil {
				c.timer.Stop()
			}
			c.mb = mb
			c.held = true
			return c, nil
		}
		if p.live < p.max {
			p.live++
			p.mu.Unlock()
			s, _, err := t.dial(ctx, mb, nil)
			if err != nil {
				p.mu.Lock()
				p.live--
				p.notify()
				p.mu.Unlock()
				return nil, err
			}
			return &Conn{t: t, p: p, s: s, mb: mb, held: true}, nil
		}
		ch := p.wake
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "pool", Server: serverOf(mb), Err: ctx.Err(), Hint: "every connection of the mailbox is busy"}
		}
	}
}

// PoolStats describe a mailbox's pool.
type PoolStats struct {
	Live, Idle, Max int
}

// Stats returns the pool figures of a mailbox.
func (t *Transport) Stats(id mailbox.ID) PoolStats {
	t.mu.Lock()
	p := t.pools[id]
	t.mu.Unlock()
	if p == nil {
		return PoolStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Live: p.live, Idle: len(p.idle), Max: p.max}
}

func (t *Transport) pool(mb *mailbox.Mailbox) (*pool, error) {
	fp := fingerprint(mb)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	p := t.pools[mb.ID]
	if p != nil && p.fp == fp {
		return p, nil
	}
	if p != nil { // settings changed: retire the old pool
		old := p
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			old.shutdown()
		}()
	}
	p = &pool{t: t, fp: fp, max: mb.Outbound.MaxConnectionsOrDefault(), wake: make(chan struct{})}
	t.pools[mb.ID] = p
	return p, nil
}

func fingerprint(mb *mailbox.Mailbox) string {
	o := mb.Outbound
	c := o.Credentials
	return fmt.Sprintf("%s|%d|%s|%v|%s|%s|%s|%s|%d|%t", o.Server.Host, o.Port(), o.Server.Security, o.Server.AllowPlaintext,
		o.Server.TLSServerName, c.Username, c.Mechanism, o.HELOName, o.MaxConnectionsOrDefault(), c.OAuth2 != nil) +
		"|" + passwordTag(c.Password)
}

// passwordTag changes when the password changes without revealing it.
func passwordTag(s mailbox.Secret) string {
	h := uint64(14695981039346656037)
	for _, b := range []byte(s.Reveal()) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 36)
}

type pool struct {
	t      *Transport
	fp     string
	mu     sync.Mutex
	max    int
	live   int
	idle   []*Conn
	wake   chan struct{}
	closed bool
}

// notify wakes waiters; callers hold p.mu.
func (p *pool) notify() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *pool) shutdown() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	p.notify()
	p.mu.Unlock()
	for _, c := range idle {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.s.quit(p.t.opts.CommandTimeout)
	}
}

func (p *pool) release(c *Conn) {
	p.mu.Lock()
	if c.broken || p.closed {
		p.live--
		p.notify()
		p.mu.Unlock()
		// A broken connection (failed, or interrupted by its context) is
		// closed at once: a QUIT would wait on a server that stalled.
		timeout := p.t.opts.CommandTimeout
		if c.broken {
			timeout = 0
		}
		c.s.quit(timeout)
		return
	}
	p.idle = append(p.idle, c)
	c.timer = time.AfterFunc(p.t.opts.IdleTimeout, func() { p.expire(c) })
	p.notify()
	p.mu.Unlock()
}

func (p *pool) expire(c *Conn) {
	p.mu.Lock()
	for i, ic := range p.idle {
		if ic == c {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.live--
			p.notify()
			p.t.wg.Add(1)
			p.mu.Unlock()
			defer p.t.wg.Done()
			c.s.quit(p.t.opts.CommandTimeout)
			return
		}
	}
	p.mu.Unlock()
}

// CloseIdle closes mailbox id's idle connections now (QUIT) and forgets
// its pool, as when a replica hands the mailbox to another: a provider
// counts open connections, idle ones too. Connections in use are closed
// when released. The next send opens a new pool.
func (t *Transport) CloseIdle(id mailbox.ID) {
	t.mu.Lock()
	p := t.pools[id]
	delete(t.pools, id)
	t.mu.Unlock()
	if p != nil {
		p.shutdown()
	}
}

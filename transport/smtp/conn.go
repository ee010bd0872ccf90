package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gm "github.com/wneessen/go-mail/smtp"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Conn is a pooled SMTP connection, authenticated and ready to send. It is
// not safe for concurrent use: one goroutine sends over it, then releases
// it.
type Conn struct {
	t      *Transport
	p      *pool
	s      *session
	mb     *mailbox.Mailbox
	used   bool
	broken bool
	held   bool
	timer  *time.Timer
}

// Release returns the connection to its pool (or closes it when it broke).
// Calling it twice is harmless.
func (c *Conn) Release() {
	if !c.held {
		return
	}
	c.held = false
	c.p.release(c)
}

// Close implements transport.Outgoing: it is Release.
func (c *Conn) Close() error {
	c.Release()
	return nil
}

// Broken reports whether the connection failed and will be closed on
// Release.
func (c *Conn) Broken() bool { return c.broken }

// Send sends one message over the connection: RSET when the connection
// was used before, MAIL FROM, RCPT TO for each recipient, then DATA with
// body to the recipients the server accepted.
//
// It returns nil when the server accepted the message for
// Result.Accepted (Result.Rejected may still list refused recipients). It
// returns a *transport.Error when the message was not accepted: when every
// recipient was refused, Result.Rejected says why for each. An error of Op
// "data" after the body was fully written means the server may have
// received the message (the in-flight case). Once the connection is broken
// the error also matches transport.ErrBroken.
func (c *Conn) Send(ctx context.Context, env Envelope, body io.WriterTo) (Result, error) {
	res, err := c.send(ctx, env, body)
	if err != nil && c.broken {
		err = transport.Broken(err)
	}
	return res, err
}

func (c *Conn) send(ctx context.Context, env Envelope, body io.WriterTo) (Result, error) {
	var res Result
	if c.broken {
		return res, &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "send", Server: c.s.server, Err: errors.New("connection is broken")}
	}
	if len(env.To) == 0 {
		return res, &transport.Error{Class: transport.Permanent, Protocol: "smtp", Op: "rcpt", Server: c.s.server, Err: errors.New("no recipient")}
	}
	stop := context.AfterFunc(ctx, c.s.interrupt)
	// stop changes when the session is redialled below: stop the current one.
	defer func() { stop() }()
	if c.used {
		if err := c.s.step(ctx, c.t.opts.CommandTimeout, "rset", func() error { return c.s.cl.Reset() }); err != nil {
			// The server may have dropped the idle connection: dial again.
			c.s.quit(0)
			s, _, derr := c.t.dial(ctx, c.mb, nil)
			if derr != nil {
				c.broken = true
				return res, derr
			}
			c.s = s
			stop()
			stop = context.AfterFunc(ctx, c.s.interrupt)
		}
	}
	c.used = true
	if err := c.s.step(ctx, c.t.opts.CommandTimeout, "mail", func() error { return c.s.cl.Mail("<" + env.From + ">") }); err != nil {
		return res, c.fail(err)
	}
	for _, to := range env.To {
		err := c.s.step(ctx, c.t.opts.CommandTimeout, "rcpt", func() error { return c.s.cl.Rcpt("<" + to + ">") })
		if err == nil {
			res.Accepted = append(res.Accepted, to)
			continue
		}
		var te *transport.Error
		if errors.As(err, &te) && te.Code != 0 {
			te.Message = strings.TrimSpace(te.Message)
			res.Rejected = append(res.Rejected, RecipientError{Address: to, Err: te})
			continue
		}
		return res, c.fail(err)
	}
	if len(res.Accepted) == 0 {
		_ = c.s.step(ctx, c.t.opts.CommandTimeout, "rset", func() error { return c.s.cl.Reset() })
		first := res.Rejected[0].Err
		e := *first
		e.Class = transport.Permanent
		for _, r := range res.Rejected {
			if r.Err.Class != transport.Permanent {
				e.Class = r.Err.Class
				break
			}
		}
		e.Hint = "the server refused every recipient"
		return res, &e
	}
	var w io.WriteCloser
	if err := c.s.step(ctx, c.t.opts.CommandTimeout, "data", func() error {
		var err error
		w, err = c.s.cl.Data()
		return err
	}); err != nil {
		return res, c.fail(err)
	}
	var bodyErr error
	err := c.s.step(ctx, c.t.opts.DataTimeout, "data", func() error {
		bw := &trackWriter{w: w}
		if _, err := body.WriteTo(bw); err != nil {
			if !bw.failed {
				bodyErr = err
			}
			return err
		}
		return w.Close()
	})
	if bodyErr != nil {
		c.broken = true
		return res, fmt.Errorf("smtp: reading the message body: %w", bodyErr)
	}
	if err != nil {
		return res, c.fail(err)
	}
	if dc, ok := w.(*gm.DataCloser); ok {
		res.Response = c.s.red.Redact(dc.ServerResponse())
	}
	return res, nil
}

// fail marks the connection broken unless err is a plain SMTP reply.
func (c *Conn) fail(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) || te.Code == 0 || te.Code == 421 {
		c.broken = true
	}
	return err
}

type trackWriter struct {
	w      io.Writer
	failed bool
}

func (t *trackWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.failed = true
	}
	return n, err
}

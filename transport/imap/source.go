package imap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// CursorVersion is the version of the cursors this package writes.
const CursorVersion = 1

// Cursor encodes the position after uid under uidValidity
// ("imap/1:<uidvalidity>:<uid>").
func Cursor(uidValidity uint32, uid UID) transport.Cursor {
	return transport.MakeCursor("imap", CursorVersion, strconv.FormatUint(uint64(uidValidity), 10)+":"+uidString(uid))
}

// ParseCursor decodes an IMAP cursor. The zero cursor is (0, 0).
func ParseCursor(c transport.Cursor) (uidValidity uint32, uid UID, err error) {
	kind, version, payload, err := c.Parse()
	if err != nil || c.IsZero() {
		return 0, 0, err
	}
	if kind != "imap" || version != CursorVersion {
		return 0, 0, fmt.Errorf("%w: %q is not an IMAP cursor of version %d", transport.ErrCursor, string(c), CursorVersion)
	}
	v, u, ok := strings.Cut(payload, ":")
	vn, err1 := strconv.ParseUint(v, 10, 32)
	un, err2 := strconv.ParseUint(u, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: %q", transport.ErrCursor, string(c))
	}
	return uint32(vn), UID(un), nil
}

// Source is the IMAP transport as the inbound engine uses it (a
// transport.Source and transport.Checker): sessions that select the
// mailbox's folder, list by UID, fetch with BODY.PEEK[] into spools, apply
// post-actions in batches and wait with IDLE where offered. It is safe for
// concurrent use.
type Source struct {
	cfg *Config
}

// NewSource returns the IMAP source connecting with cfg (nil: the zero
// Config).
func NewSource(cfg *Config) *Source {
	if cfg == nil {
		cfg = &Config{}
	}
	return &Source{cfg: cfg}
}

var (
	_ transport.Source  = (*Source)(nil)
	_ transport.Checker = (*Source)(nil)
	_ transport.Session = (*session)(nil)
)

// PostActions implements transport.Source: IMAP offers all four.
func (*Source) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostSeen, mailbox.PostMove, mailbox.PostDelete, mailbox.PostKeep}
}

// Validate implements transport.Checker: mailbox.Validate covers every
// IMAP setting.
func (*Source) Validate(m *mailbox.Mailbox) error {
	if m == nil {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "inbound", Code: mailbox.CodeRequired, Message: "no mailbox"}}}
	}
	return m.Validate()
}

// Check implements transport.Checker with Probe.
func (s *Source) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	r, err := Probe(ctx, s.cfg, m)
	rep := transport.Report{Kind: mailbox.TransportIMAP, Server: r.Server, Security: r.Security, Warnings: r.Warnings, Elapsed: r.Elapsed, Detail: r}
	if r.Folder != "" {
		rep.Facts = append(rep.Facts, transport.Fact{Name: "folder", Value: r.Folder})
	}
	if err == nil {
		var caps []string
		for _, c := range []struct {
			on   bool
			name string
		}{{r.Caps.Idle, "IDLE"}, {r.Caps.Move, "MOVE"}, {r.Caps.UIDPlus, "UIDPLUS"}, {r.Caps.CondStore, "CONDSTORE"}} {
			if c.on {
				caps = append(caps, c.name)
			}
		}
		rep.Facts = append(rep.Facts,
			transport.Fact{Name: "messages", Value: fmt.Sprint(r.Messages)},
			transport.Fact{Name: "unseen", Value: fmt.Sprint(r.Unseen)},
			transport.Fact{Name: "uidvalidity", Value: fmt.Sprint(r.UIDValidity)},
			transport.Fact{Name: "capabilities", Value: strings.Join(caps, " ")})
	}
	return rep, err
}

// Open implements transport.Source: Dial, then Select the mailbox's folder.
func (s *Source) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	sess, err := Dial(ctx, s.cfg, m)
	if err != nil {
		return nil, err
	}
	f, err := sess.Select(ctx, m.Inbound.FolderOrDefault())
	if err != nil {
		sess.Abort()
		return nil, err
	}
	return &session{s: sess, f: f, push: sess.Caps().Idle && m.Inbound.Idle != mailbox.IdleOff}, nil
}

// SessionOf returns the IMAP session under a session Source.Open returned,
// for hosts and tests that need IMAP itself; nil for another session.
func SessionOf(s transport.Session) *Session {
	if is, ok := s.(*session); ok {
		return is.s
	}
	return nil
}

// session adapts *Session to transport.Session.
type session struct {
	s    *Session
	f    Folder
	push bool
}

func (s *session) Resume(ctx context.Context, cur transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	if cur.IsZero() {
		if latest && s.f.UIDNext > 0 {
			return Cursor(s.f.UIDValidity, s.f.UIDNext-1), false, nil
		}
		return Cursor(s.f.UIDValidity, 0), false, nil
	}
	v, _, err := ParseCursor(cur)
	if err != nil {
		return "", false, &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "resume", Server: s.s.server, Err: err, Hint: "the stored checkpoint is not an IMAP one; was the mailbox's transport changed?"}
	}
	if v != s.f.UIDValidity {
		return Cursor(s.f.UIDValidity, 0), true, nil
	}
	return cur, false, nil
}

func (s *session) List(ctx context.Context, cur transport.Cursor) ([]transport.Item, error) {
	v, after, err := ParseCursor(cur)
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "list", Server: s.s.server, Err: err}
	}
	if !cur.IsZero() && v != s.f.UIDValidity {
		return nil, &transport.Error{Class: transport.Temporary, Protocol: "imap", Op: "list", Server: s.s.server, Err: fmt.Errorf("%w: UIDVALIDITY %d, the folder has %d", transport.ErrCursor, v, s.f.UIDValidity), Hint: "the folder was recreated; reconnecting resumes it"}
	}
	infos, err := s.s.List(ctx, after)
	if err != nil {
		return nil, err
	}
	out := make([]transport.Item, len(infos))
	for i, in := range infos {
		out[i] = transport.Item{ID: uidString(in.UID), Cursor: Cursor(s.f.UIDValidity, in.UID), Size: in.Size, Date: in.Date, Seen: in.Seen,
			UIDValidity: s.f.UIDValidity, UID: uint32(in.UID)}
	}
	return out, nil
}

func (s *session) Fetch(ctx context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	if len(items) == 0 {
		return nil
	}
	uids := make([]UID, 0, len(items))
	listed := make(map[UID]int64, len(items))
	var total int64
	for _, it := range items {
		u, err := parseUID(it.ID)
		if err != nil {
			return &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "fetch", Server: s.s.server, Err: err}
		}
		uids = append(uids, u)
		listed[u] = it.Size
		total += it.Size
	}
	return s.s.fetchEach(ctx, uids, listed, total, fn)
}

func parseUID(id string) (UID, error) {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("imap: %q is not a UID", id)
	}
	return UID(n), nil
}

func (s *session) Apply(ctx context.Context, a transport.Action, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	uids := make([]UID, 0, len(ids))
	for _, id := range ids {
		u, err := parseUID(id)
		if err != nil {
			return &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "store", Server: s.s.server, Err: err}
		}
		uids = append(uids, u)
	}
	switch a.Kind {
	case mailbox.PostSeen:
		return s.s.MarkSeen(ctx, uids)
	case mailbox.PostMove:
		return s.s.Move(ctx, uids, a.Folder)
	case mailbox.PostDelete:
		return s.s.Delete(ctx, uids)
	case mailbox.PostKeep:
		return nil
	}
	return &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "store", Server: s.s.server, Err: fmt.Errorf("%w: post-action %q", transport.ErrUnsupported, a.Kind)}
}

func (s *session) Push() bool { return s.push }

// Wait runs IDLE (renewed when wake fires) on a push session; a polling
// session waits for wake.
func (s *session) Wait(ctx context.Context, wake <-chan time.Time) error {
	if s.s.More() { // the last List left messages out: list again now
		return nil
	}
	if !s.push {
		select {
		case <-ctx.Done():
		case <-wake:
		}
		return nil
	}
	// The connection deadline covers the wait and a minute (a server that
	// vanished while idle is noticed); wake renews it well before.
	_, err := s.s.Idle(ctx, wake, idleMax)
	return err
}

// idleMax bounds one IDLE when the engine's wake never fires.
var idleMax = DefaultIdleRenew + time.Minute

func (s *session) Close(ctx context.Context) error {
	if ctx.Err() != nil {
		s.s.Abort()
		return nil
	}
	return s.s.Close()
}

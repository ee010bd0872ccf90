package pop3

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// CursorVersion is the version of the cursors this package writes.
const CursorVersion = 1

// Cursor modes: by UIDL, or by content hash for servers without UIDL;
// with a retention (InboundSettings.KeepFor) each id carries the time it
// was first handed off.
const (
	modeUIDL      = "u"
	modeHash      = "h"
	modeUIDLTimed = "ut"
	modeHashTimed = "ht"
)

// MakeCursor encodes the cursor naming ids (UIDLs, or content-hash ids
// when hash is true).
func MakeCursor(hash bool, ids []string) transport.Cursor {
	return makeCursor(hash, ids, nil)
}

// makeCursor encodes ids; with at non-nil, the timed form whose tokens
// are "<unix seconds>,<id>" (0: no time, never expired).
func makeCursor(hash bool, ids []string, at map[string]int64) transport.Cursor {
	mode := modeUIDL
	if hash {
		mode = modeHash
	}
	payload := strings.Join(ids, " ")
	if at != nil {
		mode += "t"
		toks := make([]string, len(ids))
		for i, id := range ids {
			toks[i] = strconv.FormatInt(at[id], 10) + "," + id
		}
		payload = strings.Join(toks, " ")
	}
	return transport.MakeCursor("pop3", CursorVersion, mode+":"+payload)
}

// ParseCursor decodes a POP3 cursor. The zero cursor is (false, nil).
func ParseCursor(c transport.Cursor) (hash bool, ids []string, err error) {
	hash, ids, _, err = parseCursor(c)
	return hash, ids, err
}

// parseCursor decodes c and the hand-off times of its ids (nil for an
// untimed cursor; 0 for an id without a time).
func parseCursor(c transport.Cursor) (hash bool, ids []string, at map[string]int64, err error) {
	kind, version, payload, err := c.Parse()
	if err != nil || c.IsZero() {
		return false, nil, nil, err
	}
	bad := func() (bool, []string, map[string]int64, error) {
		return false, nil, nil, fmt.Errorf("%w: %q is not a POP3 cursor of version %d", transport.ErrCursor, truncate(string(c)), CursorVersion)
	}
	mode, list, ok := strings.Cut(payload, ":")
	if kind != "pop3" || version != CursorVersion || !ok {
		return bad()
	}
	switch mode {
	case modeUIDL, modeHash:
	case modeUIDLTimed, modeHashTimed:
		at = map[string]int64{}
	default:
		return bad()
	}
	ids = strings.Fields(list)
	for i, id := range ids {
		if at != nil {
			ts, rest, ok := strings.Cut(id, ",")
			n, err := strconv.ParseInt(ts, 10, 64)
			if !ok || err != nil || n < 0 {
				return bad()
			}
			id, ids[i] = rest, rest
			at[id] = n
		}
		if !validUIDL(id) {
			return bad()
		}
	}
	return mode == modeHash || mode == modeHashTimed, ids, at, nil
}

// Source is the POP3 transport as the inbound engine uses it. It is safe
// for concurrent use.
type Source struct {
	cfg *Config
}

// NewSource returns the POP3 source connecting with cfg (nil: the zero
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

// PostActions implements transport.Source: POP3 deletes or keeps.
func (*Source) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostDelete, mailbox.PostKeep}
}

// Retains implements transport.Retainer: with the keep post-action and
// InboundSettings.KeepFor, a handled message is deleted once KeepFor has
// passed since its hand-off (leave on server with a retention).
func (*Source) Retains() bool { return true }

var _ transport.Retainer = (*Source)(nil)

// Validate implements transport.Checker: the server and credentials as
// for IMAP, and field errors for what POP3 does not have (marking seen,
// moving, folders other than INBOX, a quarantine folder, IDLE, starting
// from unseen mail).
func (*Source) Validate(m *mailbox.Mailbox) error {
	if m == nil || m.Inbound == nil {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "inbound", Code: mailbox.CodeRequired, Message: "inbound settings are required"}}}
	}
	var errs []*mailbox.FieldError
	if err := m.Validate(); err != nil {
		var ve *mailbox.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		errs = append(errs, ve.Errors...)
	}
	add := func(path string, code mailbox.Code, msg string) {
		errs = append(errs, &mailbox.FieldError{Path: path, Code: code, Message: msg})
	}
	in := m.Inbound
	switch in.PostAction {
	case mailbox.PostDelete, mailbox.PostKeep:
	case mailbox.PostSeen:
		add("inbound.post_action", mailbox.CodeUnsupported, "POP3 has no read state: the post-action must be delete or keep")
	case mailbox.PostMove:
		add("inbound.post_action", mailbox.CodeUnsupported, "POP3 has no folders: the post-action must be delete or keep")
	}
	if in.Folder != "" && !strings.EqualFold(in.Folder, mailbox.DefaultFolder) {
		add("inbound.folder", mailbox.CodeUnsupported, "POP3 reads the one maildrop: leave the folder empty")
	}
	if in.QuarantineFolder != "" {
		add("inbound.quarantine_folder", mailbox.CodeUnsupported, "POP3 has no folders to quarantine into")
	}
	if in.StartFrom == mailbox.StartUnseen {
		add("inbound.start_from", mailbox.CodeUnsupported, "POP3 has no read state: start from all or new mail")
	}
	if in.Idle == mailbox.IdleOn {
		add("inbound.idle", mailbox.CodeUnsupported, "POP3 has no IDLE: it polls")
	}
	if in.Credentials.Mechanism == mailbox.AuthCRAMMD5 {
		add("inbound.credentials.mechanism", mailbox.CodeUnsupported, "POP3 logs in with plain (SASL PLAIN or USER/PASS), login (USER/PASS) or xoauth2")
	}
	if len(errs) == 0 {
		return nil
	}
	return &mailbox.ValidationError{Errors: dedupe(errs)}
}

func dedupe(errs []*mailbox.FieldError) []*mailbox.FieldError {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		k := e.Path + "\x00" + string(e.Code)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// Open implements transport.Source: connect, authenticate and list.
func (s *Source) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	if m == nil || m.Inbound == nil {
		return nil, errf(transport.Permanent, "open", "the mailbox has no inbound settings")
	}
	ss := &session{cfg: s.cfg, mb: m}
	if err := ss.connect(ctx); err != nil {
		return nil, err
	}
	return ss, nil
}

// session reconnects for each poll (a POP3 maildrop is a snapshot).
type session struct {
	cfg *Config
	mb  *mailbox.Mailbox

	mu   sync.Mutex
	c    *conn
	hash bool             // the server has no UIDL
	ents []entry          // this connection's listing, ids filled
	byID map[string]entry // id -> message
	// fresh is true while the listing was taken since the last List: a
	// List after it reconnects, as the maildrop is a snapshot.
	fresh bool
}

func (s *session) server() string {
	if s.c != nil {
		return s.c.server
	}
	return s.mb.Inbound.Server.Host
}

// connect opens a connection and lists the maildrop (s.mu held or the
// session not shared yet).
func (s *session) connect(ctx context.Context) error {
	c, err := dial(ctx, s.cfg, s.mb)
	if err != nil {
		return err
	}
	s.c = c
	s.hash = c.caps.CAPA && !c.caps.UIDL
	ents, err := c.list(ctx, !s.hash)
	if err != nil && !s.hash && !c.caps.CAPA {
		// RFC 1939 server without CAPA: UIDL may be missing.
		var re *replyError
		if errors.As(err, &re) && re.cmd == "UIDL" {
			s.hash = true
			ents, err = c.list(ctx, false)
		}
	}
	if err == nil && s.hash {
		err = s.hashIDs(ctx, ents)
	}
	if err != nil {
		s.drop()
		return classify("list", c.server, c.red, ctx, err)
	}
	s.ents, s.fresh = ents, true
	s.byID = make(map[string]entry, len(ents))
	for _, e := range ents {
		if _, dup := s.byID[e.uidl]; !dup {
			s.byID[e.uidl] = e
		}
	}
	return nil
}

// hashIDs names each message by the SHA-256 of its size and header
// section (TOP n 0, or the whole message without TOP).
func (s *session) hashIDs(ctx context.Context, ents []entry) error {
	maxSize := s.mb.Inbound.MaxMessageSizeOrDefault()
	for i := range ents {
		h := sha256.New()
		_ = binary.Write(h, binary.BigEndian, ents[i].size)
		r, done, err := s.c.retr(ctx, ents[i].num, s.c.caps.TOP || !s.c.caps.CAPA)
		if err != nil {
			return err
		}
		_, err = io.Copy(h, limitHeader(r, maxSize))
		done()
		if err != nil {
			return err
		}
		ents[i].uidl = "sha256-" + hex.EncodeToString(h.Sum(nil))[:40]
	}
	return nil
}

// limitHeader reads r's header section (up to the first empty line),
// bounded, and drains the rest so the reply ends.
func limitHeader(r io.Reader, max int64) io.Reader {
	return &headerReader{r: r, max: max}
}

type headerReader struct {
	r    io.Reader
	max  int64
	n    int64
	last [4]byte
	eoh  bool
}

func (h *headerReader) Read(p []byte) (int, error) {
	for {
		n, err := h.r.Read(p)
		if h.eoh {
			if err != nil {
				return 0, err
			}
			continue // drain the body without hashing it
		}
		for i := 0; i < n; i++ {
			copy(h.last[:], h.last[1:])
			h.last[3] = p[i]
			if string(h.last[:]) == "\r\n\r\n" || string(h.last[2:]) == "\n\n" {
				h.eoh = true
				h.n += int64(i + 1)
				return i + 1, nil
			}
		}
		h.n += int64(n)
		if h.n > h.max {
			return 0, fmt.Errorf("%w: message larger than %d bytes", errProtocol, h.max)
		}
		return n, err
	}
}

func (s *session) ensure(ctx context.Context) error {
	if s.c != nil && !s.c.broken {
		return nil
	}
	s.drop()
	return s.connect(ctx)
}

// drop closes the connection at once (deletions not committed are lost,
// and redone: Apply is idempotent).
func (s *session) drop() {
	if s.c != nil {
		s.c.abort()
		s.c = nil
	}
}

// quit ends the connection politely, committing deletions.
func (s *session) quit(ctx context.Context) error {
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	if err := c.quit(ctx); err != nil {
		return classify("quit", c.server, c.red, ctx, err)
	}
	return nil
}

// cursorOf encodes ids, with their times at under a retention.
func (s *session) cursorOf(ids []string, at map[string]int64) transport.Cursor {
	if s.keepFor() <= 0 {
		at = nil
	} else if at == nil {
		at = map[string]int64{}
	}
	return makeCursor(s.hash, ids, at)
}

// keepFor is the mailbox's retention: positive only with the keep
// post-action.
func (s *session) keepFor() time.Duration {
	in := s.mb.Inbound
	if in.PostAction != mailbox.PostKeep {
		return 0
	}
	return in.KeepFor
}

func (s *session) Resume(ctx context.Context, cur transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hash, _, err := ParseCursor(cur)
	if err != nil {
		return "", false, &transport.Error{Class: transport.Permanent, Protocol: "pop3", Op: "resume", Server: s.server(), Err: err, Hint: "the stored checkpoint is not a POP3 one; was the mailbox's transport changed?"}
	}
	if err := s.ensure(ctx); err != nil {
		return "", false, err
	}
	if cur.IsZero() {
		if latest {
			ids := make([]string, 0, len(s.ents))
			for _, e := range s.ents {
				ids = append(ids, e.uidl)
			}
			// Never handed off: no time, so a retention never deletes them.
			return s.cursorOf(ids, nil), false, nil
		}
		return s.cursorOf(nil, nil), false, nil
	}
	if hash != s.hash { // the server gained or lost UIDL
		return s.cursorOf(nil, nil), true, nil
	}
	return cur, false, nil
}

func (s *session) List(ctx context.Context, cur transport.Cursor) ([]transport.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hash, handled, at, err := parseCursor(cur)
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "pop3", Op: "list", Server: s.server(), Err: err}
	}
	if !s.fresh {
		_ = s.quit(ctx) // nothing is pending but retention deletions: QUIT commits them
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	s.fresh = false
	if !cur.IsZero() && hash != s.hash {
		return nil, &transport.Error{Class: transport.Temporary, Protocol: "pop3", Op: "list", Server: s.server(), Err: fmt.Errorf("%w: the server's UIDL support changed", transport.ErrCursor)}
	}
	done := make(map[string]bool, len(handled))
	for _, id := range handled {
		done[id] = true
	}
	if at == nil {
		at = map[string]int64{} // handled before the retention: no time
	}
	if err := s.expire(ctx, done, at); err != nil {
		return nil, err
	}
	now := clock.OrReal(s.cfg.Clock).Now().Unix()
	// The cursor after each item: what was handled and is still on the
	// server, plus every item up to it.
	var kept []string
	for _, e := range s.ents {
		if done[e.uidl] {
			kept = append(kept, e.uidl)
		}
	}
	var out []transport.Item
	for _, e := range s.ents {
		if len(out) == s.cfg.maxList() {
			break // the rest on the next List
		}
		if done[e.uidl] {
			continue
		}
		done[e.uidl] = true
		kept = append(kept, e.uidl)
		at[e.uidl] = now // handed off when this cursor commits
		out = append(out, transport.Item{ID: e.uidl, Cursor: s.cursorOf(kept, at), Size: e.size})
	}
	return out, nil
}

// expire deletes the handled messages older than the mailbox's retention
// (leave on server, then delete): those whose hand-off time in the cursor
// is KeepFor or more ago. Deletions take effect at the QUIT that ends this
// connection (before a wait, or at the next List); until the server no
// longer lists them the cursor keeps naming them, so a deletion lost with
// a broken connection is redone and never reads a message as new. A
// message without a time (handled before the retention was set, or on the
// server before a start-from-new mailbox's first poll) is never deleted.
func (s *session) expire(ctx context.Context, handled map[string]bool, at map[string]int64) error {
	keep := s.keepFor()
	if keep <= 0 {
		return nil
	}
	now := clock.OrReal(s.cfg.Clock).Now()
	n := 0
	for _, e := range s.ents {
		t := at[e.uidl]
		if !handled[e.uidl] || t == 0 || now.Sub(time.Unix(t, 0)) < keep {
			continue
		}
		if _, ok := s.byID[e.uidl]; !ok {
			continue // deleted already in this connection
		}
		if _, err := s.c.cmd(ctx, "DELE", fmt.Sprintf("DELE %d", e.num)); err != nil {
			var re *replyError
			if errors.As(err, &re) {
				s.cfg.logger().Debug("pop3: retention delete refused", "mailbox", string(s.mb.ID), "reply", re.text)
				continue // deleted meanwhile, or refused: tried again on the next poll
			}
			c := s.c
			s.drop()
			return classify("dele", c.server, c.red, ctx, err)
		}
		delete(s.byID, e.uidl)
		n++
	}
	if n > 0 {
		s.cfg.logger().Debug("pop3: deleting messages past the retention", "mailbox", string(s.mb.ID), "count", n, "keep_for", keep.String())
	}
	return nil
}

func (s *session) Fetch(ctx context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(items) == 0 {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	maxSize := s.mb.Inbound.MaxMessageSizeOrDefault()
	for _, it := range items {
		e, ok := s.byID[it.ID]
		if !ok {
			continue // gone
		}
		limit := max(maxSize, e.size) + e.size/8 + 64<<10 // LF-counting servers
		r, done, err := s.c.retr(ctx, e.num, false)
		var re *replyError
		if errors.As(err, &re) && re.code == "" {
			continue // deleted meanwhile by another client
		}
		if err != nil {
			c := s.c
			s.drop()
			return classify("fetch", c.server, c.red, ctx, err)
		}
		lr := &boundedReader{r: r, n: limit}
		sp, err := transport.NewSpool(lr, -1, s.cfg.SpoolMemory, s.cfg.SpoolDir)
		done()
		if err != nil {
			c := s.c
			s.drop()
			return classify("fetch", c.server, c.red, ctx, err)
		}
		sp.ID = it.ID
		fn(sp)
	}
	return nil
}

// boundedReader fails once more than n bytes were read.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if b.n < 0 {
		return n, fmt.Errorf("%w: the message is larger than announced", errProtocol)
	}
	return n, err
}

func (s *session) Apply(ctx context.Context, a transport.Action, ids []string) error {
	switch a.Kind {
	case mailbox.PostKeep:
		return nil
	case mailbox.PostDelete:
	default:
		return &transport.Error{Class: transport.Permanent, Protocol: "pop3", Op: "dele", Server: s.server(), Err: fmt.Errorf("%w: post-action %q", transport.ErrUnsupported, a.Kind), Hint: "POP3 offers delete and keep"}
	}
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensure(ctx); err != nil {
		return err
	}
	for _, id := range ids {
		e, ok := s.byID[id]
		if !ok {
			continue // already deleted
		}
		if _, err := s.c.cmd(ctx, "DELE", fmt.Sprintf("DELE %d", e.num)); err != nil {
			var re *replyError
			if errors.As(err, &re) && re.code == "" {
				continue // deleted already in this connection
			}
			c := s.c
			s.drop()
			return classify("dele", c.server, c.red, ctx, err)
		}
		delete(s.byID, id)
	}
	// Deletions take effect at QUIT: commit them now.
	return s.quit(ctx)
}

// Push implements transport.Session: POP3 polls.
func (s *session) Push() bool { return false }

// Wait ends the connection (the maildrop is unlocked while waiting) and
// waits for wake; the next List reconnects and sees new mail.
func (s *session) Wait(ctx context.Context, wake <-chan time.Time) error {
	s.mu.Lock()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout())
	err := s.quit(qctx)
	cancel()
	s.mu.Unlock()
	if err != nil {
		s.cfg.logger().Debug("pop3: quit before waiting", "mailbox", string(s.mb.ID), "err", err)
	}
	select {
	case <-ctx.Done():
	case <-wake:
	}
	return nil
}

func (s *session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		s.drop()
		return nil
	}
	return s.quit(ctx)
}

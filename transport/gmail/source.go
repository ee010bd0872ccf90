package gmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/internal/rest"
)

// CursorKind and CursorVersion name the cursors of this transport:
//
//	gmail/1:<historyId>              after every history record up to historyId
//	gmail/1:<historyId>+<id>.<id>    the same, and these messages of the next record
//	gmail/1:<historyId>~             a full listing of the label, then history from historyId
//	gmail/1:<historyId>~<id>         a full listing passed up to message id
//
// A mailbox read for the first time, or whose historyId Gmail no longer
// knows (404), is listed in full (users.messages.list, oldest first),
// after which it follows users.history.list from the historyId its
// profile had before the listing began, as Google's synchronisation guide
// says (https://developers.google.com/workspace/gmail/api/guides/sync).
// A message may so be listed twice across the switch; the engine's keys
// keep it from being handed twice.
const (
	CursorKind    = "gmail"
	CursorVersion = 1
)

// MaxList is about the most messages one List returns; the next List goes
// on from the last one's cursor.
const MaxList = 1000

// maxFull bounds the ids a full listing reads.
const maxFull = 200000

// Source is the inbound Gmail transport. It is safe for concurrent use.
// Its PushHandler wakes the sessions of the mailboxes it reads.
type Source struct {
	c   *client
	hub *hub
}

// NewSource returns a Source; cfg may be nil (the public endpoint, the
// mailboxes' own tokens).
func NewSource(cfg *Config) *Source { return &Source{c: newClient(cfg), hub: newHub()} }

var (
	_ transport.Source  = (*Source)(nil)
	_ transport.Checker = (*Source)(nil)
)

// PostActions implements transport.Source: all four, as label changes
// (seen removes UNREAD; move adds the target label and removes the label
// read; delete moves to the trash, users.messages.trash, which Gmail
// empties after 30 days: it is not a permanent deletion).
func (s *Source) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostSeen, mailbox.PostMove, mailbox.PostDelete, mailbox.PostKeep}
}

// Validate implements transport.Checker.
func (s *Source) Validate(m *mailbox.Mailbox) error {
	var cr mailbox.Credentials
	if m != nil && m.Inbound != nil {
		cr = m.Inbound.Credentials
	}
	return s.c.validate(m, "inbound", cr)
}

type labelInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// resolveLabel returns the id of a label given by id or name (created
// when create is set and it is missing).
func (k *conn) resolveLabel(ctx context.Context, name string, create bool) (string, error) {
	var list struct {
		Labels []labelInfo `json:"labels"`
	}
	if err := k.json(ctx, request{op: "labels", method: http.MethodGet, url: k.userURL() + "/labels"}, &list); err != nil {
		return "", err
	}
	for _, l := range list.Labels {
		if l.ID == name || l.Name == name {
			return l.ID, nil
		}
	}
	for _, l := range list.Labels {
		if strings.EqualFold(l.Name, name) && l.Type == "system" {
			return l.ID, nil // "inbox" for INBOX
		}
	}
	if !create {
		return "", &transport.Error{Class: transport.Permanent, Protocol: "gmail", Op: "label", Server: k.c.server(),
			Err: fmt.Errorf("no label %q", name), Hint: "create the label in Gmail, or set the transport's CreateLabels"}
	}
	var l labelInfo
	err := k.json(ctx, request{op: "label", method: http.MethodPost, url: k.userURL() + "/labels", contentType: "application/json",
		body: jsonBody(map[string]string{"name": name, "labelListVisibility": "labelShow", "messageListVisibility": "show"})}, &l)
	if err != nil {
		if errCode(err) == http.StatusConflict { // created meanwhile
			return k.resolveLabel(ctx, name, false)
		}
		return "", err
	}
	return l.ID, nil
}

type profile struct {
	Email     string `json:"emailAddress"`
	Messages  int    `json:"messagesTotal"`
	HistoryID string `json:"historyId"`
}

func (k *conn) profile(ctx context.Context) (profile, error) {
	var p profile
	if err := k.json(ctx, request{op: "profile", method: http.MethodGet, url: k.userURL() + "/profile"}, &p); err != nil {
		return p, err
	}
	if _, err := strconv.ParseUint(p.HistoryID, 10, 64); err != nil {
		return p, k.c.errorf(transport.Protocol, "profile", fmt.Errorf("historyId %q", p.HistoryID), "")
	}
	return p, nil
}

// Open implements transport.Source: it checks the token and the label,
// and sets up the push watch when the Source has one.
func (s *Source) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	if m == nil || m.Inbound == nil {
		return nil, s.c.errorf(transport.Permanent, "open", errors.New("not an inbound mailbox"), "")
	}
	k, err := s.c.open(m.Inbound.Credentials, m.Address, []string{ScopeModify})
	if err != nil {
		return nil, err
	}
	label, err := k.resolveLabel(ctx, m.Inbound.FolderOrDefault(), false)
	if err != nil {
		return nil, err
	}
	se := &session{src: s, k: k, m: m, label: label, box: s.hub.box(k.user), applied: map[string]bool{}, dests: map[string]string{}}
	if s.c.cfg.Watch != nil {
		if err := se.renew(ctx, true); err != nil {
			s.c.log.Warn("gmail: users.watch failed; the mailbox is polled", "mailbox", m.ID, "err", err)
		} else {
			se.push = true
		}
	}
	return se, nil
}

// Check implements transport.Checker: it reads the profile and the label
// and closes.
func (s *Source) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	ck := rest.StartCheck(m.Transport(), s.c.server())
	rep, done := &ck.Report, ck.Done
	if err := s.Validate(m); err != nil {
		return done(err)
	}
	k, err := s.c.open(m.Inbound.Credentials, m.Address, []string{ScopeModify})
	if err != nil {
		return done(err)
	}
	p, err := k.profile(ctx)
	if err != nil {
		return done(err)
	}
	label, err := k.resolveLabel(ctx, m.Inbound.FolderOrDefault(), false)
	if err != nil {
		return done(err)
	}
	rep.Facts = append(rep.Facts, transport.Fact{Name: "user", Value: p.Email}, transport.Fact{Name: "auth", Value: k.auth},
		transport.Fact{Name: "label", Value: label}, transport.Fact{Name: "messages", Value: strconv.Itoa(p.Messages)},
		transport.Fact{Name: "historyId", Value: p.HistoryID})
	if s.c.cfg.Watch == nil {
		rep.Warnings = append(rep.Warnings, "no push (Config.Watch): the mailbox is polled")
	}
	return done(nil)
}

type session struct {
	src   *Source
	k     *conn
	m     *mailbox.Mailbox
	label string
	box   *box
	push  bool

	mu      sync.Mutex
	applied map[string]bool   // ids this session applied a post-action to
	dests   map[string]string // move targets resolved

	// snap is the label's ids (oldest first) of this session's full
	// listing from snapH: the later Lists of the listing read it rather
	// than the label again (what arrives meanwhile comes through history
	// after snapH).
	snap  []string
	snapH uint64
}

// position is a decoded cursor.
type position struct {
	history uint64
	full    bool
	passed  []string // history: ids of the next record passed; full: the id passed
}

func (p position) cursor() transport.Cursor {
	h := strconv.FormatUint(p.history, 10)
	switch {
	case p.full:
		return transport.MakeCursor(CursorKind, CursorVersion, h+"~"+strings.Join(p.passed, ""))
	case len(p.passed) > 0:
		return transport.MakeCursor(CursorKind, CursorVersion, h+"+"+strings.Join(p.passed, "."))
	}
	return transport.MakeCursor(CursorKind, CursorVersion, h)
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// parseCursor decodes a Gmail cursor; the zero cursor gives ok false.
func parseCursor(c transport.Cursor) (p position, ok bool, err error) {
	kind, v, payload, err := c.Parse()
	if err != nil || c.IsZero() {
		return p, false, err
	}
	if kind != CursorKind || v != CursorVersion {
		return p, false, fmt.Errorf("%w: %q is not a gmail/1 cursor", transport.ErrCursor, string(c))
	}
	head, rest, sep := payload, "", byte(0)
	if i := strings.IndexAny(payload, "~+"); i >= 0 {
		head, rest, sep = payload[:i], payload[i+1:], payload[i]
	}
	h, perr := strconv.ParseUint(head, 10, 64)
	if perr != nil || h == 0 {
		return p, false, fmt.Errorf("%w: %q has no historyId", transport.ErrCursor, string(c))
	}
	p.history = h
	switch sep {
	case '~':
		p.full = true
		if rest != "" {
			p.passed = []string{rest}
		}
	case '+':
		p.passed = strings.Split(rest, ".")
	}
	for _, id := range p.passed {
		if !validID(id) {
			return p, false, fmt.Errorf("%w: %q has a bad message id", transport.ErrCursor, string(c))
		}
	}
	return p, true, nil
}

// ParseCursor returns the historyId of a Gmail cursor and whether it is
// in a full listing. The zero cursor gives 0.
func ParseCursor(c transport.Cursor) (historyID uint64, full bool, err error) {
	p, _, err := parseCursor(c)
	return p.history, p.full, err
}

func cursorError(op string, err error) error {
	return &transport.Error{Class: transport.Permanent, Protocol: "gmail", Op: op, Err: err, Hint: "the stored cursor is not this transport's"}
}

// start returns the position of a full listing from the mailbox's
// historyId now.
func (s *session) start(ctx context.Context, full bool) (transport.Cursor, error) {
	p, err := s.k.profile(ctx)
	if err != nil {
		return "", err
	}
	h, _ := strconv.ParseUint(p.HistoryID, 10, 64)
	return position{history: h, full: full}.cursor(), nil
}

// historyPage is one page of users.history.list.
type historyPage struct {
	History []struct {
		ID            string `json:"id"`
		MessagesAdded []struct {
			Message struct {
				ID       string   `json:"id"`
				LabelIDs []string `json:"labelIds"`
			} `json:"message"`
		} `json:"messagesAdded"`
	} `json:"history"`
	NextPageToken string `json:"nextPageToken"`
	HistoryID     string `json:"historyId"`
}

func (s *session) historyURL(start uint64, size int, pageToken string) string {
	q := url.Values{"startHistoryId": {strconv.FormatUint(start, 10)}, "historyTypes": {"messageAdded"},
		"labelId": {s.label}, "maxResults": {strconv.Itoa(size)}}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	return s.k.userURL() + "/history?" + q.Encode()
}

// Resume implements transport.Session. A history cursor is checked by
// asking for its first record: a historyId Gmail no longer knows (404)
// resets to a full listing.
func (s *session) Resume(ctx context.Context, cur transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	p, ok, err := parseCursor(cur)
	if err != nil {
		return "", false, cursorError("resume", err)
	}
	if !ok {
		c, err := s.start(ctx, !latest)
		return c, false, err
	}
	if p.full {
		return cur, false, nil
	}
	var page historyPage
	if err := s.k.json(ctx, request{op: "history", method: http.MethodGet, url: s.historyURL(p.history, 1, ""), history: true}, &page); err != nil {
		if errors.Is(err, ErrExpired) {
			c, err := s.start(ctx, true)
			return c, err == nil, err
		}
		return "", false, err
	}
	return cur, false, nil
}

// List implements transport.Session.
func (s *session) List(ctx context.Context, cur transport.Cursor) ([]transport.Item, error) {
	p, ok, err := parseCursor(cur)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: List needs the cursor Resume returned", transport.ErrCursor)
		}
		return nil, cursorError("list", err)
	}
	var items []transport.Item
	if p.full {
		items, err = s.listFull(ctx, p)
	} else {
		items, err = s.listHistory(ctx, p)
	}
	if err != nil || len(items) == 0 {
		return items, err
	}
	return items, s.describe(ctx, &items[0])
}

// listFull lists the label oldest first, after the id the cursor passed
// (all of it when that message left the label: the handled ones were
// moved away, and the keys catch the others). The last message of the
// listing carries the history cursor.
func (s *session) listFull(ctx context.Context, p position) ([]transport.Item, error) {
	s.mu.Lock()
	cached := s.snapH == p.history && s.snap != nil
	all := slices.Clone(s.snap)
	s.mu.Unlock()
	if !cached {
		var err error
		if all, err = s.listLabel(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.snap, s.snapH = slices.Clone(all), p.history
		s.mu.Unlock()
	}
	if len(p.passed) == 1 {
		if i := slices.Index(all, p.passed[0]); i >= 0 {
			all = all[i+1:]
		}
	}
	s.mu.Lock()
	all = slices.DeleteFunc(all, func(id string) bool { return s.applied[id] })
	s.mu.Unlock()
	done := len(all) <= MaxList
	all = all[:min(len(all), MaxList)]
	items := make([]transport.Item, len(all))
	for i, id := range all {
		// Seen is not known from a listing: an unseen-only mailbox listed
		// unread mail only, the others do not ask.
		items[i] = transport.Item{ID: id, Cursor: position{history: p.history, full: true, passed: []string{id}}.cursor()}
	}
	if done && len(all) > 0 {
		items[len(all)-1].Cursor = position{history: p.history}.cursor()
	}
	return items, nil
}

// listLabel returns the ids of the label's messages, oldest first.
func (s *session) listLabel(ctx context.Context) ([]string, error) {
	var all []string
	token := ""
	// A mailbox that reads only unread mail lists only that (Gmail's
	// search operator is:unread).
	unseenOnly := s.m.Inbound.StartFrom == mailbox.StartUnseen
	for len(all) < maxFull {
		q := url.Values{"labelIds": {s.label}, "maxResults": {"500"}}
		if unseenOnly {
			q.Set("q", "is:unread")
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		var page struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := s.k.json(ctx, request{op: "list", method: http.MethodGet, url: s.k.userURL() + "/messages?" + q.Encode()}, &page); err != nil {
			return nil, err
		}
		for _, m := range page.Messages {
			if validID(m.ID) {
				all = append(all, m.ID)
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	slices.Reverse(all) // messages.list is newest first
	return all, nil
}

// listHistory follows users.history.list (messageAdded in the label) from
// the cursor's historyId, page by page.
func (s *session) listHistory(ctx context.Context, p position) ([]transport.Item, error) {
	passed := map[string]bool{}
	for _, id := range p.passed {
		passed[id] = true
	}
	var items []transport.Item
	seen := map[string]bool{}
	prev, inRecord := p.history, p.passed
	token := ""
	for range 10000 {
		var page historyPage
		if err := s.k.json(ctx, request{op: "history", method: http.MethodGet, url: s.historyURL(p.history, s.k.c.cfg.PageSize, token), history: true}, &page); err != nil {
			return nil, err
		}
		for _, rec := range page.History {
			rid, err := strconv.ParseUint(rec.ID, 10, 64)
			if err != nil || rid <= p.history {
				continue // records after startHistoryId only
			}
			var added []string
			read := map[string]bool{}
			for _, a := range rec.MessagesAdded {
				id := a.Message.ID
				if !validID(id) || (a.Message.LabelIDs != nil && !slices.Contains(a.Message.LabelIDs, s.label)) {
					continue
				}
				added = append(added, id)
				read[id] = a.Message.LabelIDs != nil && !slices.Contains(a.Message.LabelIDs, "UNREAD")
			}
			for j, id := range added {
				s.mu.Lock()
				skip := passed[id] || seen[id] || s.applied[id]
				s.mu.Unlock()
				inRecord = append(inRecord, id)
				if skip {
					continue
				}
				seen[id] = true
				c := position{history: prev, passed: slices.Clone(inRecord)}.cursor()
				if j == len(added)-1 {
					c = position{history: rid}.cursor()
				}
				items = append(items, transport.Item{ID: id, Cursor: c, Seen: read[id]})
			}
			prev, inRecord = rid, nil
		}
		if page.NextPageToken == "" || len(items) >= MaxList {
			return items, nil
		}
		token = page.NextPageToken
	}
	return nil, s.k.c.errorf(transport.Protocol, "history", errors.New("too many history pages"), "")
}

// msgMeta is users.messages.get in format minimal (and raw).
type msgMeta struct {
	ID           string   `json:"id"`
	LabelIDs     []string `json:"labelIds"`
	SizeEstimate int64    `json:"sizeEstimate"`
	InternalDate string   `json:"internalDate"`
	Raw          string   `json:"raw"`
}

// describe fills the date and read state of it (users.messages.get,
// format minimal): List describes its first item only, for the engine's
// lag, since each description is a request. Sizes are left unknown (0):
// sizeEstimate is an estimate, and Fetch enforces the mailbox's limit on
// the raw message itself. A message gone meanwhile keeps its item (the
// fetch skips it).
func (s *session) describe(ctx context.Context, it *transport.Item) error {
	var m msgMeta
	err := s.k.json(ctx, request{op: "get", method: http.MethodGet, url: s.k.userURL() + "/messages/" + url.PathEscape(it.ID) + "?format=minimal"}, &m)
	if err != nil {
		if errCode(err) == http.StatusNotFound {
			return nil
		}
		return err
	}
	it.Seen = !slices.Contains(m.LabelIDs, "UNREAD")
	if ms, err := strconv.ParseInt(m.InternalDate, 10, 64); err == nil && ms > 0 {
		it.Date = time.UnixMilli(ms).UTC()
	}
	return nil
}

// Fetch implements transport.Session: each message in raw format, the
// base64url MIME decoded into a spool, one at a time. A message gone
// meanwhile (404) is skipped.
func (s *session) Fetch(ctx context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	limit := s.m.Inbound.MaxMessageSizeOrDefault()
	for _, it := range items {
		sp, err := s.fetch(ctx, it, limit)
		if err != nil {
			if errCode(err) == http.StatusNotFound && transport.ClassOf(err) == transport.Permanent {
				continue
			}
			return err
		}
		sp.ID = it.ID
		fn(sp)
	}
	return nil
}

func (s *session) tooLarge(id string, err error) error {
	return &transport.Error{Class: transport.Permanent, Protocol: "gmail", Op: "fetch", Server: s.k.c.server(), Item: id,
		Err: err, Hint: "raise the mailbox's maximum message size"}
}

func (s *session) fetch(ctx context.Context, it transport.Item, limit int64) (*transport.Spool, error) {
	resp, cancel, err := s.k.do(ctx, request{op: "fetch", method: http.MethodGet, url: s.k.userURL() + "/messages/" + url.PathEscape(it.ID) + "?format=raw"})
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	bound := limit/3*4 + 8 + 64<<10 // the base64 of limit bytes, and the other fields
	if resp.ContentLength > bound {
		return nil, s.tooLarge(it.ID, fmt.Errorf("%w: a %d-byte answer", ErrTooLarge, resp.ContentLength))
	}
	lr := &io.LimitedReader{R: resp.Body, N: bound + 1}
	var m msgMeta
	if err := json.NewDecoder(lr).Decode(&m); err != nil {
		if lr.N <= 0 {
			return nil, s.tooLarge(it.ID, ErrTooLarge)
		}
		if ctx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, s.k.c.netError("fetch", err)
		}
		return nil, s.k.c.errorf(transport.Protocol, "fetch", err, "the Gmail API answered something that is not the expected JSON")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(m.Raw, "="))
	if err != nil || len(raw) == 0 {
		return nil, &transport.Error{Class: transport.Protocol, Protocol: "gmail", Op: "fetch", Server: s.k.c.server(), Item: it.ID,
			Err: errors.New("the raw message is not base64url"), Hint: "the Gmail API answered a message without its raw form"}
	}
	if int64(len(raw)) > limit {
		return nil, s.tooLarge(it.ID, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw)))
	}
	sp, err := transport.NewSpool(bytes.NewReader(raw), int64(len(raw)), s.k.c.cfg.SpoolMemory, s.k.c.cfg.SpoolDir)
	if err != nil {
		return nil, s.k.c.errorf(transport.Temporary, "spool", err, "the spool could not be written")
	}
	return sp, nil
}

// Apply implements transport.Session: label changes through
// users.messages.modify, and users.messages.trash for delete. A message
// already gone (404) counts as done.
func (s *session) Apply(ctx context.Context, a transport.Action, ids []string) error {
	var add, remove []string
	switch a.Kind {
	case mailbox.PostKeep:
		return nil
	case mailbox.PostSeen:
		remove = []string{"UNREAD"}
	case mailbox.PostDelete:
	case mailbox.PostMove:
		s.mu.Lock()
		dest := s.dests[a.Folder]
		s.mu.Unlock()
		if dest == "" {
			d, err := s.k.resolveLabel(ctx, a.Folder, s.k.c.cfg.CreateLabels)
			if err != nil {
				return err
			}
			dest = d
			s.mu.Lock()
			s.dests[a.Folder] = d
			s.mu.Unlock()
		}
		add, remove = []string{dest}, []string{s.label}
	default:
		return &transport.Error{Class: transport.Permanent, Protocol: "gmail", Op: "apply", Err: fmt.Errorf("%w: post-action %q", transport.ErrUnsupported, a.Kind)}
	}
	for _, id := range ids {
		if !validID(id) {
			continue
		}
		u := s.k.userURL() + "/messages/" + url.PathEscape(id)
		req := request{op: "modify", method: http.MethodPost, url: u + "/modify", contentType: "application/json",
			body: jsonBody(map[string][]string{"addLabelIds": add, "removeLabelIds": remove})}
		if a.Kind == mailbox.PostDelete {
			req = request{op: "trash", method: http.MethodPost, url: u + "/trash"}
		}
		if err := s.k.json(ctx, req, nil); err != nil {
			if errCode(err) == http.StatusNotFound {
				continue
			}
			return err
		}
		s.mu.Lock()
		s.applied[id] = true
		s.mu.Unlock()
	}
	return nil
}

// Push implements transport.Session: true when the Source has a Watch and
// users.watch succeeded.
func (s *session) Push() bool { return s.push }

// Close implements transport.Session: the API has no connection to end.
func (s *session) Close(context.Context) error { return nil }

package graph

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
//	graph/1:<link>[ <h>.<h>...]
//
// link is a delta query's URL (the first page, an @odata.nextLink or an
// @odata.deltaLink) and the optional h are short hashes of the ids of the
// page at link already passed (a page is handed over message by message;
// the last message of a page carries the next link itself).
const (
	CursorKind    = "graph"
	CursorVersion = 1
)

// selectFields is the $select of the delta query; sizeExpand asks for the
// message size (the MAPI property PidTagMessageSize, 0x0E08), which Graph
// offers only as an extended property.
const (
	selectFields = "id,receivedDateTime,isRead,internetMessageId"
	sizeProperty = "Integer 0x0E08"
	sizeExpand   = "singleValueExtendedProperties($filter=id eq '" + sizeProperty + "')"
)

// Source is the inbound Graph transport. It is safe for concurrent use.
type Source struct {
	c *client
	n *notifier // nil: no change notifications
}

// NewSource returns a Source; cfg may be nil (the public endpoint,
// delegated tokens).
func NewSource(cfg *Config) *Source { return newSource(newClient(cfg), cfg) }

func newSource(c *client, cfg *Config) *Source {
	s := &Source{c: c}
	if cfg != nil && cfg.Notify != nil {
		s.n = newNotifier(cfg.Notify)
	}
	return s
}

// NewTransports returns a Source and a Sender that share one HTTP client,
// one app-only token source and one per-mailbox request limit
// (MailboxConcurrency), so a mailbox read and sent through at once stays
// within Exchange Online's four concurrent requests per app and mailbox;
// a separate NewSource and NewSender each keep their own four.
func NewTransports(cfg *Config) (*Source, *Sender) {
	c := newClient(cfg)
	return newSource(c, cfg), &Sender{c: c}
}

var (
	_ transport.Source  = (*Source)(nil)
	_ transport.Checker = (*Source)(nil)
)

// PostActions implements transport.Source: all four.
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

// folderSegment is the URL segment of a folder setting: a well-known name
// as it is, else "" (a display name to look up).
func folderSegment(name string) string {
	switch l := strings.ToLower(name); l {
	case "", "inbox":
		return "inbox"
	case "archive", "deleteditems", "drafts", "sentitems", "junkemail", "outbox":
		return l
	}
	return ""
}

type folderInfo struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Total       int    `json:"totalItemCount"`
	Unread      int    `json:"unreadItemCount"`
}

// resolveFolder returns the URL segment of a folder: a well-known name,
// or the id of the folder of that display name at the top of the mailbox,
// or of a path of display names separated by "/" ("inbox/Support/Tier 2":
// the first level may be a well-known name). Missing levels are created
// when create is set.
func (k *conn) resolveFolder(ctx context.Context, name string, create bool) (string, error) {
	if seg := folderSegment(name); seg != "" {
		return seg, nil
	}
	segs := strings.Split(strings.Trim(name, "/"), "/")
	parent := "" // the top level
	for i, seg := range segs {
		if seg == "" {
			return "", &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "folder", Server: k.c.server(),
				Err: fmt.Errorf("folder %q has an empty level", name), Hint: "write folder paths as Parent/Child"}
		}
		if i == 0 {
			if wk := folderSegment(seg); wk != "" {
				parent = wk
				continue
			}
		}
		id, err := k.childFolder(ctx, parent, seg, create)
		if err != nil {
			return "", err
		}
		parent = id
	}
	return parent, nil
}

// childFolder returns the id of the folder called name below parent (a
// URL segment; "" for the top level), created when missing and create is
// set.
func (k *conn) childFolder(ctx context.Context, parent, name string, create bool) (string, error) {
	base := k.userURL() + "/mailFolders"
	if parent != "" {
		base += "/" + url.PathEscape(parent) + "/childFolders"
	}
	var list struct {
		Value []folderInfo `json:"value"`
	}
	q := url.Values{"$filter": {"displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"}, "$select": {"id,displayName"}}
	if err := k.json(ctx, request{op: "folder", method: http.MethodGet, url: base + "?" + q.Encode()}, &list); err != nil {
		return "", err
	}
	for _, f := range list.Value {
		if f.DisplayName == name {
			return f.ID, nil
		}
	}
	if len(list.Value) > 0 {
		return list.Value[0].ID, nil
	}
	if !create {
		return "", &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "folder", Server: k.c.server(),
			Err: fmt.Errorf("no folder %q", name), Hint: "the folder does not exist in the mailbox"}
	}
	var f folderInfo
	if err := k.json(ctx, request{op: "folder", method: http.MethodPost, url: base,
		body: jsonBody(map[string]string{"displayName": name}), contentType: "application/json"}, &f); err != nil {
		return "", err
	}
	return f.ID, nil
}

// Open implements transport.Source: it checks the token and the folder,
// and with Config.Notify makes sure the mailbox has a change-notification
// subscription (a failure is logged; the mailbox is then polled).
func (s *Source) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	return s.open(ctx, m, true)
}

func (s *Source) open(ctx context.Context, m *mailbox.Mailbox, subscribe bool) (transport.Session, error) {
	if m == nil || m.Inbound == nil {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "open", Err: errors.New("not an inbound mailbox")}
	}
	k, err := s.c.open(m.Inbound.Credentials, m.Address)
	if err != nil {
		return nil, err
	}
	seg, err := k.resolveFolder(ctx, m.Inbound.FolderOrDefault(), false)
	if err != nil {
		return nil, err
	}
	var info folderInfo
	if err := k.json(ctx, request{op: "select", method: http.MethodGet, url: k.userURL() + "/mailFolders/" + url.PathEscape(seg)}, &info); err != nil {
		return nil, err
	}
	se := &session{k: k, m: m, folder: seg, info: info, applied: map[string]bool{}, dests: map[string]string{}, n: s.n}
	if s.n != nil && subscribe {
		se.wake = s.n.register(m.ID)
		se.sub = se.subscribe(ctx)
		se.tried = time.Now()
		se.lifecycle(ctx) // events that came while no session was open
	}
	return se, nil
}

// Check implements transport.Checker: it opens the mailbox, reads the
// folder's counts and closes.
func (s *Source) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	start := time.Now()
	rep := transport.Report{Kind: m.Transport(), Server: s.c.server(), Security: mailbox.SecurityTLS}
	defer func() { rep.Elapsed = max(time.Since(start), time.Nanosecond) }()
	if err := s.Validate(m); err != nil {
		return rep, err
	}
	ss, err := s.open(ctx, m, false) // no subscription for a mailbox perhaps never saved
	if err != nil {
		rep.Elapsed = max(time.Since(start), time.Nanosecond)
		return rep, err
	}
	se := ss.(*session)
	defer se.Close(ctx)
	rep.Facts = append(rep.Facts, transport.Fact{Name: "user", Value: se.k.user}, transport.Fact{Name: "auth", Value: se.k.auth},
		transport.Fact{Name: "folder", Value: se.info.DisplayName}, transport.Fact{Name: "messages", Value: strconv.Itoa(se.info.Total)},
		transport.Fact{Name: "unread", Value: strconv.Itoa(se.info.Unread)})
	switch {
	case s.n == nil:
	case s.n.err != nil:
		rep.Facts = append(rep.Facts, transport.Fact{Name: "notifications", Value: "misconfigured"})
		rep.Warnings = append(rep.Warnings, s.n.err.Error()+"; the mailbox is polled")
	default:
		rep.Facts = append(rep.Facts, transport.Fact{Name: "notifications", Value: "configured"})
	}
	rep.Elapsed = max(time.Since(start), time.Nanosecond)
	return rep, nil
}

type session struct {
	k      *conn
	m      *mailbox.Mailbox
	folder string
	info   folderInfo

	mu      sync.Mutex
	applied map[string]bool   // ids this session applied a post-action to
	dests   map[string]string // move targets resolved

	// Change notifications (nil n: off).
	n     *notifier
	sub   *subState     // the live subscription; nil: polling
	wake  chan struct{} // signalled by the notification handler
	tried time.Time     // when a subscription was last attempted
	// retryRenew, when set, is the earliest next renewal attempt (after a
	// temporary failure).
	retryRenew time.Time
}

// deltaURL is the first page of a full synchronisation.
func (s *session) deltaURL() string {
	return s.k.userURL() + "/mailFolders/" + url.PathEscape(s.folder) + "/messages/delta?" + url.Values{"$select": {selectFields}, "$expand": {sizeExpand}}.Encode()
}

// deltaPrefix is what every link of this folder's delta query starts with.
func (s *session) deltaPrefix() string {
	return s.k.userURL() + "/mailFolders/" + url.PathEscape(s.folder) + "/messages/delta?"
}

func makeCursor(link string, hashes []string) transport.Cursor {
	p := link
	if len(hashes) > 0 {
		p += " " + strings.Join(hashes, ".")
	}
	return transport.MakeCursor(CursorKind, CursorVersion, p)
}

// ParseCursor returns the link and the passed ids' hashes of a Graph
// cursor. The zero cursor parses to empty values.
func ParseCursor(c transport.Cursor) (link string, hashes []string, err error) {
	kind, v, p, err := c.Parse()
	if err != nil || c.IsZero() {
		return "", nil, err
	}
	if kind != CursorKind || v != CursorVersion {
		return "", nil, fmt.Errorf("%w: %q is not a graph/1 cursor", transport.ErrCursor, string(c))
	}
	link, hs, _ := strings.Cut(p, " ")
	u, perr := url.Parse(link)
	if perr != nil || u.Scheme == "" || u.Host == "" {
		return "", nil, fmt.Errorf("%w: %q has no link", transport.ErrCursor, string(c))
	}
	if hs != "" {
		hashes = strings.Split(hs, ".")
	}
	return link, hashes, nil
}

// idHash is the short hash of a message id kept in cursors.
func idHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

func cursorError(op string, err error) error {
	return &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: op, Err: err, Hint: "the stored cursor is not this transport's"}
}

// deltaPage is one page of a delta query.
type deltaPage struct {
	Value []struct {
		ID       string    `json:"id"`
		Received time.Time `json:"receivedDateTime"`
		IsRead   bool      `json:"isRead"`
		Props    []struct {
			ID    string `json:"id"`
			Value string `json:"value"`
		} `json:"singleValueExtendedProperties"`
		Removed *struct {
			Reason string `json:"reason"`
		} `json:"@removed"`
	} `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

func (s *session) page(ctx context.Context, link string) (*deltaPage, error) {
	var p deltaPage
	err := s.k.json(ctx, request{op: "delta", method: http.MethodGet, url: link,
		prefer: "odata.maxpagesize=" + strconv.Itoa(s.k.c.cfg.PageSize)}, &p)
	if err != nil {
		return nil, err
	}
	if p.NextLink == "" && p.DeltaLink == "" {
		return nil, &transport.Error{Class: transport.Protocol, Protocol: "graph", Op: "delta", Server: s.k.c.server(),
			Err: errors.New("a delta page without a next or delta link")}
	}
	for _, l := range []string{p.NextLink, p.DeltaLink} {
		if l != "" && !strings.HasPrefix(l, s.deltaPrefix()) {
			return nil, &transport.Error{Class: transport.Protocol, Protocol: "graph", Op: "delta", Server: s.k.c.server(),
				Err: errors.New("a delta link outside the folder's delta query")}
		}
	}
	return &p, nil
}

// maxPages bounds the pages one List or Resume follows.
const maxPages = 10000

// MaxList is about the most messages one List returns: it follows the
// delta query's pages until the delta link, or until it has this many
// (the next List goes on from the last one's cursor).
const MaxList = 1000

// Resume implements transport.Session. A stored cursor is checked by
// asking for its page: a delta link the server no longer knows (410 Gone,
// syncStateNotFound), or one of another folder, resets to a full
// synchronisation.
func (s *session) Resume(ctx context.Context, cur transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	link, hashes, err := ParseCursor(cur)
	if err != nil {
		return "", false, cursorError("resume", err)
	}
	if cur.IsZero() {
		if !latest {
			return makeCursor(s.deltaURL(), nil), false, nil
		}
		// Walk the whole folder to its delta link, handing nothing.
		l := s.deltaURL()
		for range maxPages {
			p, err := s.page(ctx, l)
			if err != nil {
				return "", false, err
			}
			if p.DeltaLink != "" {
				return makeCursor(p.DeltaLink, nil), false, nil
			}
			l = p.NextLink
		}
		return "", false, &transport.Error{Class: transport.Protocol, Protocol: "graph", Op: "delta", Err: errors.New("too many delta pages")}
	}
	if !strings.HasPrefix(link, s.deltaPrefix()) {
		return makeCursor(s.deltaURL(), nil), true, nil // another mailbox, folder or endpoint
	}
	if _, err := s.page(ctx, link); err != nil {
		if errors.Is(err, ErrExpired) {
			return makeCursor(s.deltaURL(), nil), true, nil
		}
		return "", false, err
	}
	return makeCursor(link, hashes), false, nil
}

// List implements transport.Session: it follows the delta query's pages
// from cur to the delta link (or MaxList messages), skipping the ones
// cur passed, removals, and updates of messages this session applied a
// post-action to (marking read is an update in a delta query).
func (s *session) List(ctx context.Context, cur transport.Cursor) ([]transport.Item, error) {
	link, hashes, err := ParseCursor(cur)
	if err != nil || cur.IsZero() {
		if err == nil {
			err = fmt.Errorf("%w: List needs the cursor Resume returned", transport.ErrCursor)
		}
		return nil, cursorError("list", err)
	}
	if !strings.HasPrefix(link, s.deltaPrefix()) {
		return nil, cursorError("list", fmt.Errorf("%w: a cursor of another folder", transport.ErrCursor))
	}
	passed := map[string]bool{}
	for _, h := range hashes {
		passed[h] = true
	}
	var out []transport.Item
	for range maxPages {
		p, err := s.page(ctx, link)
		if err != nil {
			return nil, err
		}
		next := p.NextLink
		if next == "" {
			next = p.DeltaLink
		}
		var upTo []string
		s.mu.Lock()
		for i, v := range p.Value {
			h := idHash(v.ID)
			upTo = append(upTo, h)
			if passed[h] || v.Removed != nil || s.applied[v.ID] || v.ID == "" {
				continue
			}
			c := makeCursor(link, upTo)
			if i == len(p.Value)-1 {
				c = makeCursor(next, nil)
			}
			var size int64
			for _, pr := range v.Props {
				if strings.EqualFold(pr.ID, sizeProperty) || strings.EqualFold(pr.ID, "Integer 0xe08") {
					if n, err := strconv.ParseInt(pr.Value, 10, 64); err == nil && n > 0 {
						size = n
					}
				}
			}
			out = append(out, transport.Item{ID: v.ID, Cursor: c, Date: v.Received, Seen: v.IsRead, Size: size})
		}
		s.mu.Unlock()
		if p.DeltaLink != "" || len(out) >= MaxList {
			return out, nil
		}
		link, passed = next, nil
	}
	return nil, &transport.Error{Class: transport.Protocol, Protocol: "graph", Op: "delta", Err: errors.New("too many delta pages")}
}

// Fetch implements transport.Session: each message's MIME ($value),
// streamed into a spool, one at a time (Exchange Online allows four
// concurrent requests per mailbox; the engine's post-actions use another).
func (s *session) Fetch(ctx context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	limit := s.m.Inbound.MaxMessageSizeOrDefault()
	for _, it := range items {
		resp, cancel, err := s.k.do(ctx, request{op: "fetch", method: http.MethodGet, url: s.k.userURL() + "/messages/" + url.PathEscape(it.ID) + "/$value"})
		if err != nil {
			if transport.ClassOf(err) == transport.Permanent && errCode(err) == http.StatusNotFound {
				continue // gone meanwhile
			}
			return err
		}
		sp, err := func() (*transport.Spool, error) {
			defer cancel()
			defer resp.Body.Close()
			if resp.ContentLength > limit {
				return nil, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "fetch", Server: s.k.c.server(), Item: it.ID,
					Err: fmt.Errorf("%w: %d bytes", ErrTooLarge, resp.ContentLength), Hint: "raise the mailbox's maximum message size"}
			}
			lr := &io.LimitedReader{R: resp.Body, N: limit + 1}
			sp, err := transport.NewSpool(lr, resp.ContentLength, s.k.c.cfg.SpoolMemory, s.k.c.cfg.SpoolDir)
			if err != nil {
				return nil, s.k.c.netError("fetch", err)
			}
			if lr.N <= 0 {
				_ = sp.Close()
				return nil, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "fetch", Server: s.k.c.server(), Item: it.ID,
					Err: ErrTooLarge, Hint: "raise the mailbox's maximum message size"}
			}
			return sp, nil
		}()
		if err != nil {
			return err
		}
		sp.ID = it.ID
		fn(sp)
	}
	return nil
}

func errCode(err error) int { return rest.ErrCode(err) }

// Apply implements transport.Session. A message already gone (moved or
// deleted by an earlier attempt) counts as done.
func (s *session) Apply(ctx context.Context, a transport.Action, ids []string) error {
	var dest string
	switch a.Kind {
	case mailbox.PostKeep:
		return nil
	case mailbox.PostSeen, mailbox.PostDelete:
	case mailbox.PostMove:
		s.mu.Lock()
		dest = s.dests[a.Folder]
		s.mu.Unlock()
		if dest == "" {
			d, err := s.k.resolveFolder(ctx, a.Folder, true)
			if err != nil {
				return err
			}
			dest = d
			s.mu.Lock()
			s.dests[a.Folder] = d
			s.mu.Unlock()
		}
	default:
		return &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "apply", Err: fmt.Errorf("%w: post-action %q", transport.ErrUnsupported, a.Kind)}
	}
	for _, id := range ids {
		u := s.k.userURL() + "/messages/" + url.PathEscape(id)
		var req request
		switch a.Kind {
		case mailbox.PostSeen:
			req = request{op: "seen", method: http.MethodPatch, url: u, body: jsonBody(map[string]bool{"isRead": true}), contentType: "application/json"}
		case mailbox.PostDelete:
			req = request{op: "delete", method: http.MethodDelete, url: u}
		case mailbox.PostMove:
			req = request{op: "move", method: http.MethodPost, url: u + "/move", body: jsonBody(map[string]string{"destinationId": dest}), contentType: "application/json"}
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

// Push implements transport.Session: true when the mailbox has a live
// change-notification subscription (Config.Notify); else the engine polls.
func (s *session) Push() bool { return s.sub != nil }

// resubscribeEvery is how often a session without a subscription tries to
// create one again.
const resubscribeEvery = 15 * time.Minute

// Wait implements transport.Session: with a subscription it also returns
// when a change notification for the mailbox arrives.
func (s *session) Wait(ctx context.Context, wake <-chan time.Time) error {
	if s.n == nil || s.wake == nil {
		select {
		case <-ctx.Done():
		case <-wake:
		}
		return nil
	}
	if s.sub == nil && time.Since(s.tried) >= resubscribeEvery {
		s.tried = time.Now()
		s.sub = s.subscribe(ctx)
	}
	return s.waitPush(ctx, wake)
}

// Close implements transport.Session: Graph has no connection to end. The
// subscription stays (stored) for the next session to use.
func (s *session) Close(context.Context) error {
	if s.n != nil && s.wake != nil {
		s.n.unregister(s.m.ID, s.wake)
	}
	return nil
}

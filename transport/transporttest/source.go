package transporttest

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// SourceHarness describes an inbound transport and a server it reads.
type SourceHarness struct {
	// New returns a fresh mailbox with an empty folder on the server, and
	// its controls. Every subtest calls it once; the harness cleans up
	// with t.Cleanup.
	New func(t *testing.T) *SourceEnv
}

// SourceEnv is one mailbox of a SourceHarness.
type SourceEnv struct {
	// Mailbox is the inbound mailbox; the suite changes copies of it (the
	// post-action, MoveTo).
	Mailbox *mailbox.Mailbox
	// Source returns a new instance of the transport dialling through n
	// (the harness adds what it needs besides: its CA, its proxy). A new
	// instance stands for a restarted process.
	Source func(n transport.Net) transport.Source
	// Deliver puts a raw message into the mailbox's folder on the server.
	Deliver func(t *testing.T, raw []byte)
	// Count returns how many messages a folder holds on the server and how
	// many of them are unread (unseen is -1 for a transport without read
	// state).
	Count func(t *testing.T, folder string) (messages, unseen int)
	// SetDown makes the server unreachable (true) or reachable again.
	SetDown func(down bool)
	// RefuseLogin makes the server refuse the mailbox's credentials (true)
	// or accept them again.
	RefuseLogin func(refuse bool)
	// BreakAfter breaks the connection after the next n bytes the server
	// sends. Nil skips the mid-fetch test.
	BreakAfter func(n int64)
	// ResetCursor invalidates the cursors of the mailbox on the server
	// (IMAP: a new UIDVALIDITY), keeping its messages. Nil skips the test.
	ResetCursor func(t *testing.T)
	// MoveTarget is a folder PostMove can move to (default "Processed").
	MoveTarget string
}

type srcRun struct {
	t   *testing.T
	env *SourceEnv
	src transport.Source
}

func (r *srcRun) open(m *mailbox.Mailbox) transport.Session {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := r.src.Open(ctx, m)
	if err != nil {
		r.t.Fatalf("Open: %v", err)
	}
	r.t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func ctx20() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

func resume(t *testing.T, s transport.Session, cur transport.Cursor, latest bool) (transport.Cursor, bool) {
	t.Helper()
	ctx, cancel := ctx20()
	defer cancel()
	from, reset, err := s.Resume(ctx, cur, latest)
	if err != nil {
		t.Fatalf("Resume(%q): %v", cur, err)
	}
	return from, reset
}

func list(t *testing.T, s transport.Session, cur transport.Cursor) []transport.Item {
	t.Helper()
	ctx, cancel := ctx20()
	defer cancel()
	items, err := s.List(ctx, cur)
	if err != nil {
		t.Fatalf("List(%q): %v", cur, err)
	}
	return items
}

// fetchAll fetches items and returns the spools by item ID, checking that
// every spool belongs to a listed item and arrives once.
func fetchAll(t *testing.T, s transport.Session, items []transport.Item) (map[string]*transport.Spool, error) {
	t.Helper()
	ctx, cancel := ctx20()
	defer cancel()
	want := map[string]bool{}
	for _, it := range items {
		want[it.ID] = true
	}
	got := map[string]*transport.Spool{}
	var mu sync.Mutex
	err := s.Fetch(ctx, items, func(sp *transport.Spool) {
		mu.Lock()
		defer mu.Unlock()
		if !want[sp.ID] {
			t.Errorf("Fetch handed %q, which was not asked for", sp.ID)
		}
		if got[sp.ID] != nil {
			t.Errorf("Fetch handed %q twice", sp.ID)
			_ = got[sp.ID].Close()
		}
		got[sp.ID] = sp
	})
	t.Cleanup(func() {
		for _, sp := range got {
			_ = sp.Close()
		}
	})
	return got, err
}

func readSpool(t *testing.T, sp *transport.Spool) []byte {
	t.Helper()
	b, err := io.ReadAll(sp.Reader())
	if err != nil {
		t.Fatalf("reading spool %s: %v", sp.ID, err)
	}
	return b
}

// RunSource runs the inbound transport suite.
func RunSource(t *testing.T, h SourceHarness) {
	setup := func(t *testing.T) *srcRun {
		env := h.New(t)
		if env.MoveTarget == "" {
			env.MoveTarget = "Processed"
		}
		return &srcRun{t: t, env: env, src: env.Source(transport.Net{})}
	}

	t.Run("NewMailOnce", func(t *testing.T) {
		r := setup(t)
		raws := [][]byte{Message("once", 1, 300), Message("once", 2, 5000), Message("once", 3, 80)}
		for _, raw := range raws {
			r.env.Deliver(t, raw)
		}
		s := r.open(r.env.Mailbox)
		from, reset := resume(t, s, "", false)
		if reset {
			t.Fatal("Resume of the zero cursor reported a reset")
		}
		items := list(t, s, from)
		if len(items) != 3 {
			t.Fatalf("listed %d messages, want 3", len(items))
		}
		seen := map[string]bool{}
		cursors := map[transport.Cursor]bool{}
		for _, it := range items {
			if it.ID == "" || seen[it.ID] || it.Cursor.IsZero() || cursors[it.Cursor] {
				t.Fatalf("items need distinct IDs and cursors: %+v", items)
			}
			if _, _, _, err := it.Cursor.Parse(); err != nil {
				t.Fatalf("item cursor %q: %v", it.Cursor, err)
			}
			seen[it.ID], cursors[it.Cursor] = true, true
		}
		spools, err := fetchAll(t, s, items)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		for i, it := range items {
			sp := spools[it.ID]
			if sp == nil {
				t.Fatalf("message %s not fetched", it.ID)
			}
			// Listed oldest first: the i-th delivered message.
			if got := readSpool(t, sp); string(got) != string(raws[i]) || sp.Size() != int64(len(raws[i])) || sp.SHA256 != sum(raws[i]) {
				t.Fatalf("message %d fetched as %d bytes (hash match %v), want the %d delivered", i, len(got), sp.SHA256 == sum(raws[i]), len(raws[i]))
			}
			if it.Size != 0 && it.Size != int64(len(raws[i])) {
				t.Errorf("item size %d, message has %d bytes", it.Size, len(raws[i]))
			}
		}
		last := items[2].Cursor
		if again := list(t, s, last); len(again) != 0 {
			t.Fatalf("listed %d messages after the last cursor, want none", len(again))
		}
		// The cursor of the second message lists the third only.
		if rest := list(t, s, items[1].Cursor); len(rest) != 1 || rest[0].ID != items[2].ID {
			t.Fatalf("after the second message: %+v", rest)
		}
		r.env.Deliver(t, Message("once", 4, 100))
		eventually(t, "the new message listed", func() bool { return len(list(t, s, last)) == 1 })
		if n := list(t, s, last); n[0].ID == items[2].ID || seen[n[0].ID] {
			t.Fatalf("the new message has an old ID: %+v", n)
		}
	})

	t.Run("StartFromLatest", func(t *testing.T) {
		r := setup(t)
		r.env.Deliver(t, Message("latest", 1, 100))
		s := r.open(r.env.Mailbox)
		from, _ := resume(t, s, "", true)
		if items := list(t, s, from); len(items) != 0 {
			t.Fatalf("a mailbox starting from new mail listed %d old messages", len(items))
		}
		r.env.Deliver(t, Message("latest", 2, 100))
		var items []transport.Item
		eventually(t, "the new message", func() bool { items = list(t, s, from); return len(items) == 1 })
		sp, err := fetchAll(t, s, items)
		if err != nil || !hasHeader(readSpool(t, sp[items[0].ID]), "Message-ID", messageID("latest", 2)) {
			t.Fatalf("fetched the wrong message: %v", err)
		}
	})

	t.Run("PostActions", func(t *testing.T) {
		offered := setup(t).src.PostActions()
		if !transport.Supports(offered, mailbox.PostKeep) {
			t.Fatal("PostKeep must always be supported")
		}
		for _, a := range []mailbox.PostAction{mailbox.PostSeen, mailbox.PostMove, mailbox.PostDelete, mailbox.PostKeep} {
			name := string(a)
			if a == mailbox.PostSeen {
				name = "seen"
			}
			t.Run(name, func(t *testing.T) {
				r := setup(t)
				folder := r.env.Mailbox.Inbound.FolderOrDefault()
				r.env.Deliver(t, Message("post", 1, 100))
				r.env.Deliver(t, Message("post", 2, 100))
				s := r.open(r.env.Mailbox)
				from, _ := resume(t, s, "", false)
				items := list(t, s, from)
				if len(items) != 2 {
					t.Fatalf("listed %d, want 2", len(items))
				}
				if _, err := fetchAll(t, s, items); err != nil {
					t.Fatal(err)
				}
				if _, unseen := r.env.Count(t, folder); unseen > 0 && unseen != 2 {
					t.Fatalf("fetching marked messages read (%d unread of 2)", unseen)
				}
				act := transport.Action{Kind: a}
				if a == mailbox.PostMove {
					act.Folder = r.env.MoveTarget
				}
				ctx, cancel := ctx20()
				defer cancel()
				err := s.Apply(ctx, act, []string{items[0].ID})
				if !transport.Supports(offered, a) {
					if !errors.Is(err, transport.ErrUnsupported) {
						t.Fatalf("Apply of an action not offered: %v, want ErrUnsupported", err)
					}
					m := r.env.Mailbox.Clone()
					m.Inbound.PostAction, m.Inbound.MoveTo = a, act.Folder
					if fe := mailbox.FieldErrors(transport.ValidateSource(r.src, m)); len(fe) == 0 {
						t.Fatal("ValidateSource accepts a post-action the transport does not offer")
					}
					return
				}
				if err != nil {
					t.Fatalf("Apply %s: %v", name, err)
				}
				// Applying it again is harmless (a retried post-action).
				if err := s.Apply(ctx, act, []string{items[0].ID}); err != nil {
					t.Fatalf("Apply %s again: %v", name, err)
				}
				n, unseen := r.env.Count(t, folder)
				switch a {
				case mailbox.PostSeen:
					if n != 2 || unseen != 1 {
						t.Fatalf("after seen: %d messages, %d unread; want 2, 1", n, unseen)
					}
				case mailbox.PostMove:
					if moved, _ := r.env.Count(t, act.Folder); n != 1 || moved != 1 {
						t.Fatalf("after move: %d left, %d in %s; want 1, 1", n, moved, act.Folder)
					}
				case mailbox.PostDelete:
					if n != 1 {
						t.Fatalf("after delete: %d messages, want 1", n)
					}
				case mailbox.PostKeep:
					if n != 2 || (unseen >= 0 && unseen != 2) {
						t.Fatalf("after keep: %d messages, %d unread; want 2, 2", n, unseen)
					}
				}
				// The other message is untouched and still listed after the
				// first one's cursor.
				if rest := list(t, s, items[0].Cursor); len(rest) != 1 || rest[0].ID != items[1].ID {
					t.Fatalf("after the post-action: %+v", rest)
				}
				if err := transport.ValidateSource(r.src, func() *mailbox.Mailbox {
					m := r.env.Mailbox.Clone()
					m.Inbound.PostAction, m.Inbound.MoveTo = a, act.Folder
					return m
				}()); err != nil {
					t.Fatalf("ValidateSource refuses an offered post-action: %v", err)
				}
			})
		}
	})

	t.Run("ResumeAfterReconnect", func(t *testing.T) {
		r := setup(t)
		for i := 1; i <= 3; i++ {
			r.env.Deliver(t, Message("reconnect", i, 200))
		}
		s := r.open(r.env.Mailbox)
		from, _ := resume(t, s, "", false)
		items := list(t, s, from)
		if len(items) != 3 {
			t.Fatalf("listed %d", len(items))
		}
		stored := items[1].Cursor // two handled, then the connection ends
		_ = s.Close(context.Background())
		s2 := r.open(r.env.Mailbox)
		got, reset := resume(t, s2, stored, false)
		if reset || got != stored {
			t.Fatalf("Resume(%q) = %q, reset %v; want the same cursor", stored, got, reset)
		}
		rest := list(t, s2, got)
		if len(rest) != 1 || rest[0].ID != items[2].ID {
			t.Fatalf("after a reconnect: %+v, want only %s", rest, items[2].ID)
		}
		sp, err := fetchAll(t, s2, rest)
		if err != nil || !hasHeader(readSpool(t, sp[rest[0].ID]), "Message-ID", messageID("reconnect", 3)) {
			t.Fatalf("fetched the wrong message after a reconnect: %v", err)
		}
	})

	t.Run("ResumeAfterRestart", func(t *testing.T) {
		r := setup(t)
		for i := 1; i <= 2; i++ {
			r.env.Deliver(t, Message("restart", i, 200))
		}
		s := r.open(r.env.Mailbox)
		from, _ := resume(t, s, "", false)
		items := list(t, s, from)
		if len(items) != 2 {
			t.Fatalf("listed %d", len(items))
		}
		// The engine stores the cursor as text; a new process reads it back
		// into a new Source.
		stored := string(items[0].Cursor)
		_ = s.Close(context.Background())
		r2 := &srcRun{t: t, env: r.env, src: r.env.Source(transport.Net{})}
		s2 := r2.open(r.env.Mailbox)
		got, reset := resume(t, s2, transport.Cursor(stored), false)
		if reset {
			t.Fatal("a restart reset the cursor")
		}
		if rest := list(t, s2, got); len(rest) != 1 || rest[0].ID != items[1].ID {
			t.Fatalf("after a restart: %+v, want only %s", rest, items[1].ID)
		}
	})

	t.Run("CursorReset", func(t *testing.T) {
		r := setup(t)
		if r.env.ResetCursor == nil {
			t.Skip("the harness cannot reset cursors")
		}
		for i := 1; i <= 2; i++ {
			r.env.Deliver(t, Message("reset", i, 200))
		}
		s := r.open(r.env.Mailbox)
		from, _ := resume(t, s, "", false)
		items := list(t, s, from)
		old := items[len(items)-1].Cursor
		_ = s.Close(context.Background())
		r.env.ResetCursor(t)
		s2 := r.open(r.env.Mailbox)
		got, reset := resume(t, s2, old, false)
		if !reset {
			t.Fatalf("Resume after the server invalidated the cursor: %q, no reset", got)
		}
		if again := list(t, s2, got); len(again) != 2 {
			t.Fatalf("after a reset listed %d, want the 2 messages again (keys keep them from being handed twice)", len(again))
		}
	})

	t.Run("BrokenMidFetch", func(t *testing.T) {
		r := setup(t)
		if r.env.BreakAfter == nil {
			t.Skip("the harness cannot break a connection")
		}
		const size = 64 << 10
		var raws [][]byte
		for i := 1; i <= 4; i++ {
			raw := Message("broken", i, size)
			raws = append(raws, raw)
			r.env.Deliver(t, raw)
		}
		byHash := map[[32]byte]int{}
		for i, raw := range raws {
			byHash[sum(raw)] = i
		}
		handled := map[int]bool{}
		// The engine's loop: commit, in listing order, the cursor of every
		// message whose spool arrived; a broken fetch ends the session and
		// the next one lists the rest.
		var cursor transport.Cursor
		for round := 0; round < 4 && len(handled) < len(raws); round++ {
			s := r.open(r.env.Mailbox)
			from, _ := resume(t, s, cursor, false)
			items := list(t, s, from)
			if round == 0 {
				r.env.BreakAfter(size + size/2) // in the middle of the second message
			}
			spools, err := fetchAll(t, s, items)
			if round == 0 {
				if err == nil {
					t.Fatal("Fetch over a connection broken mid-message succeeded")
				}
				if c := transport.ClassOf(err); c != transport.Temporary {
					t.Fatalf("a broken fetch is %v (%v), want temporary", c, err)
				}
			}
			for _, it := range items {
				sp := spools[it.ID]
				if sp == nil {
					break // commits stop at the first message not fetched
				}
				i, ok := byHash[sp.SHA256]
				if !ok || string(readSpool(t, sp)) != string(raws[i]) {
					t.Fatalf("spool %s is not a whole delivered message (%d bytes)", it.ID, sp.Size())
				}
				handled[i] = true
				cursor = it.Cursor
			}
			_ = s.Close(context.Background())
		}
		if len(handled) != len(raws) {
			t.Fatalf("after the broken fetch %d of %d messages were fetched", len(handled), len(raws))
		}
	})

	t.Run("Wait", func(t *testing.T) {
		r := setup(t)
		s := r.open(r.env.Mailbox)
		from, _ := resume(t, s, "", false)
		// Woken by the engine's timer, push or not.
		wake := make(chan time.Time, 1)
		wake <- time.Now()
		ctx, cancel := ctx20()
		defer cancel()
		if err := s.Wait(ctx, wake); err != nil {
			t.Fatalf("Wait with a fired timer: %v", err)
		}
		// A cancelled context ends Wait with nil.
		cctx, ccancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Wait(cctx, nil) }()
		time.Sleep(50 * time.Millisecond)
		ccancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Wait ended by its context: %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Wait ignores its context")
		}
		if !s.Push() {
			return
		}
		// A push session wakes when mail arrives, without the timer. The
		// session ended by the cancelled context is replaced first.
		_ = s.Close(context.Background())
		s = r.open(r.env.Mailbox)
		go func() { done <- s.Wait(ctx, nil) }()
		time.Sleep(100 * time.Millisecond)
		r.env.Deliver(t, Message("wait", 1, 100))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a push session did not wake on new mail")
		}
		if items := list(t, s, from); len(items) != 1 {
			t.Fatalf("after the wake-up listed %d, want 1", len(items))
		}
	})

	t.Run("Errors", func(t *testing.T) {
		r := setup(t)
		isClass := func(what string, err error, target error) {
			t.Helper()
			var te *transport.Error
			if !errors.As(err, &te) || !errors.Is(err, target) {
				t.Fatalf("%s: %v (class %v), want a *transport.Error matching %v", what, err, transport.ClassOf(err), target)
			}
		}
		ctx, cancel := ctx20()
		defer cancel()
		r.env.RefuseLogin(true)
		_, err := r.src.Open(ctx, r.env.Mailbox)
		r.env.RefuseLogin(false)
		isClass("refused login", err, transport.ErrAuth)
		if transport.Retryable(err) {
			t.Fatal("an auth failure must not be retried blindly")
		}
		r.env.SetDown(true)
		_, err = r.src.Open(ctx, r.env.Mailbox)
		r.env.SetDown(false)
		isClass("server down", err, transport.ErrTemporary)
		_, err = r.env.Source(transport.Net{Policy: transport.PublicOnly}).Open(ctx, r.env.Mailbox)
		isClass("address policy", err, transport.ErrPolicy)
		// A cursor of another transport is refused with a class, not a panic.
		s := r.open(r.env.Mailbox)
		_, _, err = s.Resume(ctx, transport.MakeCursor("other", 9, "x"), false)
		if err == nil || transport.ClassOf(err) == transport.ClassUnknown {
			t.Fatalf("Resume of a foreign cursor: %v, want a classified error", err)
		}
		// Still usable after all that.
		from, _ := resume(t, s, "", false)
		_ = list(t, s, from)
	})

	t.Run("Check", func(t *testing.T) {
		r := setup(t)
		c, ok := r.src.(transport.Checker)
		if !ok {
			t.Fatal("the source does not implement transport.Checker")
		}
		if err := c.Validate(r.env.Mailbox); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		bad := r.env.Mailbox.Clone()
		bad.Description = ""
		if len(mailbox.FieldErrors(c.Validate(bad))) == 0 {
			t.Fatal("Validate accepts a mailbox without a description")
		}
		r.env.Deliver(t, Message("check", 1, 100))
		ctx, cancel := ctx20()
		defer cancel()
		rep, err := c.Check(ctx, r.env.Mailbox)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if rep.Kind != r.env.Mailbox.Transport() || rep.Server == "" || rep.Elapsed <= 0 {
			t.Fatalf("report %+v: kind %q, server and elapsed expected", rep, r.env.Mailbox.Transport())
		}
		r.env.RefuseLogin(true)
		rep, err = c.Check(ctx, r.env.Mailbox)
		r.env.RefuseLogin(false)
		if !errors.Is(err, transport.ErrAuth) {
			t.Fatalf("Check with refused credentials: %v, want ErrAuth", err)
		}
		if rep.Kind != r.env.Mailbox.Transport() {
			t.Fatalf("a failed check reports kind %q", rep.Kind)
		}
	})
}

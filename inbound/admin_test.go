package inbound_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

// A message the handler refused for good is quarantined; once the host is
// fixed, ReleaseQuarantined hands it off again through the pipeline (once:
// a second release finds nothing), and it leaves the quarantine.
func TestReleaseQuarantined(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", rawMsg("desk", 1))
	st := memory.NewInboundStore()
	rec := newRecorder()
	var refuse atomic.Bool
	refuse.Store(true)
	rec.hook = func(*inbound.Delivery) error {
		if refuse.Load() {
			return inbound.Permanent(errors.New("no such customer"))
		}
		return nil
	}
	m := mb("desk", "desk", srv.Host(), srv.Port())
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "quarantined", func() bool { return len(st.Quarantined("desk")) == 1 })
	q := st.Quarantined("desk")[0]
	if !strings.Contains(q.Reason, "no such customer") {
		t.Fatalf("reason %q", q.Reason)
	}
	refuse.Store(false)
	ctx := context.Background()
	res, err := r.p.ReleaseQuarantined(ctx, q.ID)
	if err != nil || res.Outcome != inbound.IngestHandled || !strings.HasPrefix(res.Key, inbound.ReleasedKeyPrefix) {
		t.Fatalf("release: %+v %v", res, err)
	}
	if rec.count("desk") != 1 || len(rec.dupes()) != 0 {
		t.Fatalf("handed %d times", rec.count("desk"))
	}
	if len(st.Quarantined("desk")) != 0 {
		t.Fatal("released message still quarantined")
	}
	if _, err := r.p.ReleaseQuarantined(ctx, q.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second release: %v", err)
	}
	if rec.count("desk") != 1 {
		t.Fatal("handed twice")
	}
}

// Delete removes a quarantined message for good; its key stays, so the
// next session does not hand it off.
func TestDeleteQuarantined(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", rawMsg("desk", 1))
	st := memory.NewInboundStore()
	rec := newRecorder()
	rec.hook = func(*inbound.Delivery) error { return inbound.Permanent(errors.New("spam")) }
	r := start(t, fastOptions(st, rec), mb("desk", "desk", srv.Host(), srv.Port()))
	eventually(t, "quarantined", func() bool { return len(st.Quarantined("desk")) == 1 })
	id := st.Quarantined("desk")[0].ID
	if err := r.p.DeleteQuarantined(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if len(st.Quarantined("desk")) != 0 {
		t.Fatal("not deleted")
	}
	if err := r.p.DeleteQuarantined(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
}

// Pause stops reading a mailbox (paused, no hand-off), survives a change
// of the mailbox (Reload); Resume reads it again.
func TestPauseResumeInbound(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("a", "pw-a")
	srv.AddUser("b", "pw-b")
	a := mb("a", "a", srv.Host(), srv.Port())
	b := mb("b", "b", srv.Host(), srv.Port())
	rec := newRecorder()
	var evs events
	o := fastOptions(memory.NewInboundStore(), rec)
	o.OnEvent = evs.add
	r := start(t, o, a, b)
	ctx := context.Background()
	eventually(t, "a waiting", func() bool { return r.health("a").State == engine.StateWaiting })
	if err := r.p.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if h := r.health("a"); h.State != engine.StatePaused || h.LastError != engine.ErrPausedByAdmin.Error() || h.NeedsPerson() {
		t.Fatalf("health %+v", h)
	}
	changed := a.Clone()
	changed.Description = "renamed while paused"
	r.put(t, changed)
	srv.Append("a", "INBOX", rawMsg("a", 1))
	srv.Append("b", "INBOX", rawMsg("b", 1))
	eventually(t, "b handed", func() bool { return rec.count("b") == 1 })
	if h := r.health("a"); h.State != engine.StatePaused || rec.count("a") != 0 {
		t.Fatalf("paused mailbox after Reload: %s, handed %d", h.State, rec.count("a"))
	}
	if err := r.p.CheckNow(ctx, "a"); !errors.Is(err, engine.ErrInactive) {
		t.Fatalf("check of a paused mailbox: %v", err)
	}
	if err := r.p.Resume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a handed after Resume", func() bool { return rec.count("a") == 1 })
	if h := r.health("a"); h.LastError == engine.ErrPausedByAdmin.Error() {
		t.Fatalf("still says paused: %+v", h)
	}
	if n := evs.count("a", engine.StatePaused); n != 1 {
		t.Errorf("paused events: %d", n)
	}
	if err := r.p.Pause(ctx, "nope"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("pause of an unknown mailbox: %v", err)
	}
}

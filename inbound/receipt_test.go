package inbound_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// noApply is a source whose sessions never apply a post-action: the
// connection "breaks" between every commit and its post-action.
type noApply struct {
	transport.Source
	tries atomic.Int32
}

func (n *noApply) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Session, error) {
	s, err := n.Source.Open(ctx, m)
	if err != nil {
		return nil, err
	}
	return &noApplySession{Session: s, n: n}, nil
}

type noApplySession struct {
	transport.Session
	n *noApply
}

func (s *noApplySession) Apply(context.Context, transport.Action, []string) error {
	s.n.tries.Add(1)
	return &transport.Error{Class: transport.Temporary, Op: "apply", Err: errors.New("connection lost")}
}

// TestPostActionReceiptSurvivesRestart: a post-action that was never
// applied (here: every Apply fails, as when the process dies between the
// key's commit and the post-action) is kept as a receipt with the key, and
// the next Poller over the same store applies it and clears the receipt;
// the messages are not handed again.
func TestPostActionReceiptSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action mailbox.PostAction
		moved  bool
	}{
		{"move", mailbox.PostMove, true},
		{"seen", mailbox.PostSeen, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			srv.AddUser("r", "pw-r")
			srv.Append("r", "INBOX", rawMsg("r", 1))
			srv.Append("r", "INBOX", rawMsg("r", 2))
			// A quarantined message (too large) owes its move too.
			big := append(rawMsg("r", 3), make([]byte, 4096)...)
			srv.Append("r", "INBOX", big)
			m := mb("r", "r", srv.Host(), srv.Port())
			m.Inbound.PostAction = tc.action
			if tc.moved {
				m.Inbound.MoveTo = "Processed"
			}
			m.Inbound.QuarantineFolder = "Quarantine"
			m.Inbound.MaxMessageSize = int64(len(big) - 1)
			if err := srv.CreateFolder("r", "Quarantine"); err != nil {
				t.Fatal(err)
			}
			st := memory.NewInboundStore()
			ctx := context.Background()

			rec := newRecorder()
			failing := &noApply{Source: imap.NewSource(&imap.Config{Timeout: 500 * time.Millisecond})}
			o := fastOptions(st, rec)
			o.Source = failing
			r := start(t, o, m)
			eventually(t, "handed, post-actions tried", func() bool {
				rs, _ := st.Receipts(ctx, "r", "INBOX")
				return rec.count("r") == 2 && failing.tries.Load() >= 2 && len(rs) == 3
			})
			r.stop()
			rs, err := st.Receipts(ctx, "r", "INBOX")
			if err != nil || len(rs) != 3 {
				t.Fatalf("receipts after the failed post-actions: %+v, %v", rs, err)
			}
			for _, rc := range rs {
				quarantined := rc.Folder == "Quarantine"
				if rc.ItemID == "" || rc.Key == "" || rc.UIDValidity == 0 ||
					(quarantined && rc.Action != mailbox.PostMove) || (!quarantined && rc.Action != tc.action) {
					t.Fatalf("receipt %+v", rc)
				}
			}
			if s, _ := srv.Status("r", "INBOX"); *s.NumMessages != 3 {
				t.Fatalf("INBOX has %d messages before the restart", *s.NumMessages)
			}

			// The next Poller, over the same store, with a working source.
			rec2 := newRecorder()
			start(t, fastOptions(st, rec2), m)
			eventually(t, "receipts applied and cleared", func() bool {
				rs, _ := st.Receipts(ctx, "r", "INBOX")
				q, _ := srv.Status("r", "Quarantine")
				return len(rs) == 0 && q != nil && *q.NumMessages == 1
			})
			in, _ := srv.Status("r", "INBOX")
			if tc.moved {
				if p, _ := srv.Status("r", "Processed"); *in.NumMessages != 0 || p == nil || *p.NumMessages != 2 {
					t.Fatalf("after the restart INBOX %d, Processed %v", *in.NumMessages, p)
				}
			} else if *in.NumMessages != 2 || *in.NumUnseen != 0 {
				t.Fatalf("after the restart INBOX %d messages, %d unseen", *in.NumMessages, *in.NumUnseen)
			}
			if rec2.count("r") != 0 {
				t.Fatalf("%d messages handed again", rec2.count("r"))
			}
		})
	}
}

// TestReceiptsOfAnotherUIDValidityDropped: after the folder's UIDVALIDITY
// changed, a receipt names another message: it is cleared, not applied.
func TestReceiptsOfAnotherUIDValidityDropped(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("u", "pw-u")
	srv.Append("u", "INBOX", rawMsg("u", 1))
	m := mb("u", "u", srv.Host(), srv.Port())
	m.Inbound.PostAction = mailbox.PostDelete
	st := memory.NewInboundStore()
	ctx := context.Background()
	status, _ := srv.Status("u", "INBOX")
	// A receipt left by a crash under another UIDVALIDITY, for UID 1 (not
	// zero: a checkpoint of UIDVALIDITY 0 is no IMAP position at all).
	other := status.UIDValidity + 1
	if err := st.Commit(ctx, store.InboundRecord{Mailbox: "u", Folder: "INBOX", Key: "old-key", Outcome: store.Handled,
		Checkpoint: store.Checkpoint{UIDValidity: other, LastUID: 1},
		Receipt:    &store.Receipt{ItemID: "1", UIDValidity: other, Action: mailbox.PostDelete}}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	start(t, fastOptions(st, rec), m)
	eventually(t, "the message handed and deleted, the old receipt cleared", func() bool {
		rs, _ := st.Receipts(ctx, "u", "INBOX")
		s, _ := srv.Status("u", "INBOX")
		return rec.count("u") == 1 && len(rs) == 0 && *s.NumMessages == 0
	})
}

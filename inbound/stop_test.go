package inbound_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/store/memory"
)

// TestStopByDeadline: with a hand-off in flight, Stop returns by its
// context's deadline. A handler that honours its context is interrupted
// (the message is not committed, and the next Poller hands it again with
// the same Key); one that ignores it does not hold Stop past the deadline.
func TestStopByDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		honours bool
	}{{"handler honours ctx", true}, {"handler ignores ctx", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			srv.AddUser("s", "pw-s")
			srv.Append("s", "INBOX", rawMsg("s", 1))
			st := memory.NewInboundStore()
			entered := make(chan string, 1)
			release := make(chan struct{})
			sawCancel := make(chan bool, 1)
			h := inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
				entered <- d.Key
				if tc.honours {
					<-ctx.Done()
					sawCancel <- true
					return ctx.Err()
				}
				<-release
				return errors.New("released")
			})
			o := fastOptions(st, h)
			m := mb("s", "s", srv.Host(), srv.Port())
			if err := o.Catalog.(catalogWriter).PutMailbox(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			p, err := inbound.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var key string
			select {
			case key = <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("no hand-off")
			}
			const budget = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			began := time.Now()
			err = p.Stop(ctx)
			took := time.Since(began)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop = %v, want context.DeadlineExceeded", err)
			}
			// Scheduling slack for a loaded machine, still below the
			// IMAP command timeout (fastOptions, 5 s) a Stop that waited
			// on the session would show.
			if took > budget+2*time.Second {
				t.Fatalf("Stop took %v with a %v context", took, budget)
			}
			if !tc.honours {
				close(release)
			} else if !<-sawCancel {
				t.Fatal("the handler's context was not cancelled")
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel2()
			if err := p.Stop(ctx2); err != nil {
				t.Fatalf("second Stop, once the hand-off returned: %v", err)
			}
			if done, _ := st.Done(context.Background(), "s", key); done {
				t.Fatal("an interrupted hand-off was committed")
			}
			// The next Poller hands the message again, with the same Key.
			rec := newRecorder()
			o2 := fastOptions(st, rec)
			o2.Catalog = o.Catalog
			start(t, o2)
			eventually(t, "handed again", func() bool { return rec.count("s") == 1 })
			if done, _ := st.Done(context.Background(), "s", key); !done {
				t.Fatalf("the message was handed again under another key")
			}
		})
	}
}

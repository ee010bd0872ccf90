package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/correio-dev/correio/store"
)

// RunTransportState runs the store.TransportState suite; newState returns
// an empty one.
func RunTransportState(t *testing.T, newState func(t *testing.T) store.TransportState) {
	ctx := context.Background()
	t.Run("RoundTrip", func(t *testing.T) {
		s := newState(t)
		if _, ok, err := s.State(ctx, "m1", "graph.subscription"); err != nil || ok {
			t.Fatalf("empty: ok %v, %v", ok, err)
		}
		v := []byte(`{"id":"s1","bytes":"\x00\xff"}`)
		if err := s.PutState(ctx, "m1", "graph.subscription", v); err != nil {
			t.Fatal(err)
		}
		_ = s.PutState(ctx, "m1", "other", []byte("o"))
		_ = s.PutState(ctx, "m2", "graph.subscription", []byte("second"))
		if got, ok, err := s.State(ctx, "m1", "graph.subscription"); err != nil || !ok || !bytes.Equal(got, v) {
			t.Fatalf("m1: %q %v %v", got, ok, err)
		}
		if err := s.PutState(ctx, "m1", "graph.subscription", []byte("replaced")); err != nil {
			t.Fatal(err)
		}
		all, err := s.States(ctx, "graph.subscription")
		if err != nil || len(all) != 2 || string(all["m1"]) != "replaced" || string(all["m2"]) != "second" {
			t.Fatalf("States: %q %v", all, err)
		}
		if err := s.DeleteState(ctx, "m1", "graph.subscription"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteState(ctx, "m9", "graph.subscription"); err != nil {
			t.Fatalf("deleting nothing: %v", err)
		}
		if _, ok, _ := s.State(ctx, "m1", "graph.subscription"); ok {
			t.Fatal("deleted value still there")
		}
		if got, ok, _ := s.State(ctx, "m1", "other"); !ok || string(got) != "o" {
			t.Fatalf("another name of the mailbox: %q %v", got, ok)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		s := newState(t)
		err := s.PutState(ctx, "m1", "x", make([]byte, store.MaxStateSize+1))
		if !errors.Is(err, store.ErrStateTooLarge) {
			t.Fatalf("a value over MaxStateSize: %v", err)
		}
		if err := s.PutState(ctx, "m1", "x", make([]byte, store.MaxStateSize)); err != nil {
			t.Fatalf("a value of MaxStateSize: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newState(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.PutState(ctx, "m", fmt.Sprintf("n%d", i%4), fmt.Appendf(nil, "v%d", i))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range 4 {
			if _, ok, err := s.State(ctx, "m", fmt.Sprintf("n%d", i)); err != nil || !ok {
				t.Fatalf("n%d: %v %v", i, ok, err)
			}
		}
	})
}

package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
)

func TestFailingStates(t *testing.T) {
	failing := map[engine.State]bool{
		engine.StateRetrying: true, engine.StateDown: true, engine.StatePaused: true,
		engine.StateAuthFailed: true, engine.StateReauthRequired: true, engine.StateOverBudget: true,
	}
	for _, s := range []engine.State{engine.StateStarting, engine.StateIdle, engine.StateConnecting, engine.StateQueued,
		engine.StateWaiting, engine.StateFetching, engine.StateSending, engine.StateRetrying, engine.StateDown,
		engine.StatePaused, engine.StateAuthFailed, engine.StateReauthRequired, engine.StateOverBudget,
		engine.StateDisabled, engine.StateStopped} {
		if s.Failing() != failing[s] {
			t.Errorf("%s.Failing() = %v", s, s.Failing())
		}
	}
	if !engine.All.Runs("anything") {
		t.Error("All must run every mailbox")
	}
}

// An Assignment answers from whatever says which mailboxes this engine
// runs; here a replica's set of leased mailboxes. After the set changes,
// the host calls the engines' Reload.
func ExampleAssignmentFunc() {
	leased := map[mailbox.ID]bool{"acme-in": true}
	assign := engine.AssignmentFunc(func(id mailbox.ID) bool { return leased[id] })
	fmt.Println(assign.Runs("acme-in"), assign.Runs("globex-in"))
	// Output: true false
}

// A host's status page says how each inbound mailbox is checked and flags
// one the connection budget cannot keep up with.
func ExampleMode() {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	hs := []engine.Health{
		{Mailbox: "acme-in", State: engine.StateWaiting, Mode: engine.ModePush, LastCheck: t0},
		{Mailbox: "globex-in", State: engine.StateWaiting, Mode: engine.ModeRotating, LastCheck: t0, NextCheck: t0.Add(time.Minute)},
		{Mailbox: "initech-in", State: engine.StateOverBudget, Mode: engine.ModeRotating, LastCheck: t0.Add(-5 * time.Minute)},
	}
	for _, h := range hs {
		line := fmt.Sprintf("%s: %s, last checked %s", h.Mailbox, h.Mode, h.LastCheck.Format("15:04"))
		if !h.NextCheck.IsZero() {
			line += ", next " + h.NextCheck.Format("15:04")
		}
		if h.State.Failing() {
			line += " (" + string(h.State) + ")"
		}
		fmt.Println(line)
	}
	// Output:
	// acme-in: push, last checked 10:00
	// globex-in: rotating, last checked 10:00, next 10:01
	// initech-in: rotating, last checked 09:55 (over_budget)
}

func TestAuthRetryAndHints(t *testing.T) {
	var a engine.AuthRetry
	var at time.Duration
	var inFirstHour int
	for n := range 6 {
		at += a.Delay(n)
		if at < time.Hour {
			inFirstHour++
		}
	}
	if inFirstHour != 3 || at != 45*time.Minute+3*time.Hour {
		t.Fatalf("default schedule: %d retries in the first hour, last at %v", inFirstHour, at)
	}
	custom := engine.AuthRetry{Retries: 1, Window: 10 * time.Minute, Every: 2 * time.Hour}
	if custom.Delay(0) != 5*time.Minute || custom.Delay(1) != 2*time.Hour {
		t.Fatalf("custom: %v %v", custom.Delay(0), custom.Delay(1))
	}
	for _, s := range []engine.State{engine.StateAuthFailed, engine.StateReauthRequired, engine.StateDown, engine.StateOverBudget} {
		if s.Hint() == "" || !(engine.Health{State: s, Hint: s.Hint()}).NeedsPerson() {
			t.Errorf("%s has no hint", s)
		}
	}
	for _, s := range []engine.State{engine.StateWaiting, engine.StateRetrying, engine.StatePaused, engine.StateDisabled} {
		if s.Hint() != "" {
			t.Errorf("%s has a hint: nobody is needed", s)
		}
	}
}

package engine_test

import (
	"fmt"
	"testing"

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

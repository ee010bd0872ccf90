// Package engine holds what correio's two engines, inbound.Poller and
// outbound.Sender, have in common, so that a host (and a replica component)
// drives both the same way:
//
//   - one lifecycle: Start, Stop (bounded by its context), Run (Start, wait
//     for the context, Stop) and Reload (pick up catalog or assignment
//     changes now);
//   - one way to get mailboxes: from a Catalog, whose Version tells when
//     something changed, filtered by an Assignment that says which mailboxes
//     this engine runs (all of them by default; a replica component hands
//     mailboxes in and out through it);
//   - one Health type and one State vocabulary.
//
// The package is a leaf: it imports only the domain packages.
package engine

import (
	"context"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
)

// Engine is the shape both engines have.
type Engine interface {
	// Start starts the engine's work in the background; it returns
	// ErrStarted when called twice.
	Start(ctx context.Context) error
	// Stop stops the work, lets in-flight hand-offs or sends finish and
	// returns when they did, by ctx's deadline: work still running shortly
	// before it is interrupted (then context.DeadlineExceeded), and when ctx
	// ends first Stop returns ctx's error at once.
	Stop(ctx context.Context) error
	// Run starts the engine, waits until ctx ends, then stops it (waiting
	// for in-flight work) and returns nil.
	Run(ctx context.Context) error
	// Reload makes the engine read the catalog and the assignment now,
	// instead of at its next refresh.
	Reload()
	// Health returns one mailbox's health (store.ErrNotFound-like
	// ErrUnknownMailbox when the engine does not know it).
	Health(ctx context.Context, id mailbox.ID) (Health, error)
	// HealthAll returns the health of every mailbox the engine knows,
	// sorted by mailbox ID.
	HealthAll(ctx context.Context) ([]Health, error)

	// CheckNow makes the engine try a mailbox now, also one in a state
	// that waits for a person (auth failed, re-authorisation required,
	// down) after the person acted; ErrInactive for a paused or disabled
	// one. It does not wait for the attempt.
	CheckNow(ctx context.Context, id mailbox.ID) error
	// Pause stops the engine's work on a mailbox (in-flight work
	// finishes) until Resume; Health says StatePaused. Pauses survive
	// Reload; a host that keeps them calls Pause before Start.
	Pause(ctx context.Context, id mailbox.ID) error
	// Resume ends Pause.
	Resume(ctx context.Context, id mailbox.ID) error
}

// Catalog is where an engine reads its mailboxes: the routing catalog's
// read side, the list of every mailbox and a version that increases on
// every change (store/memory.Catalog and the SQL stores' catalogs
// implement it, as does every store.Catalog).
type Catalog interface {
	routing.Catalog
	// Mailboxes returns every mailbox, sorted by ID. The engine keeps
	// those of its kind that its Assignment runs.
	Mailboxes() []*mailbox.Mailbox
	// Version increases on every change.
	Version() uint64
}

// Assignment says which mailboxes an engine runs. The engine asks it each
// time it reads the catalog (at every refresh when the catalog's version
// changed, and on Reload); a component that changes its answers (a
// replica's leases) calls the engine's Reload.
type Assignment interface {
	Runs(id mailbox.ID) bool
}

// AssignmentFunc adapts a function to Assignment.
type AssignmentFunc func(id mailbox.ID) bool

// Runs calls f.
func (f AssignmentFunc) Runs(id mailbox.ID) bool { return f(id) }

// All runs every mailbox: what a nil Assignment means.
var All Assignment = AssignmentFunc(func(mailbox.ID) bool { return true })

// DefaultRefresh is how often an engine checks its catalog's version for
// changes when Options.Refresh is zero.
const DefaultRefresh = 2 * time.Second

// Starter is the part of Engine that Run drives.
type Starter interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Run starts e, waits until ctx ends, then stops e (waiting for its
// in-flight work) and returns Stop's error, or Start's. Both engines' Run
// methods are this.
func Run(ctx context.Context, e Starter) error {
	if err := e.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return e.Stop(context.WithoutCancel(ctx))
}

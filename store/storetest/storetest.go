// Package storetest is the one conformance suite every correio store passes:
// store/memory, the SQL store over store/sqlite and store/postgres, and a
// host's own store.
//
// A store package runs it from its tests with a Harness describing how to
// make a fresh store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Catalog: &storetest.CatalogHarness{
//				New: func(t *testing.T) store.Catalog { return openFresh(t).Catalog() },
//			},
//			Inbound: &storetest.InboundHarness{
//				New: func(t *testing.T) store.Inbound { return openFresh(t).Inbound() },
//			},
//			Outbox:       &storetest.OutboxHarness{New: func(t *testing.T) store.Outbox { return openFresh(t).Outbox() }},
//			Suppressions: func(t *testing.T) store.Suppressions { return openFresh(t).Suppressions() },
//		})
//	}
//
// The suite is organised by capability: each part of the Harness that is
// set runs its suite: the catalog; the inbound store (checkpoints and their
// monotonicity, handled keys per mailbox, fencing, quarantine); the outbox
// (the contract every outbound.Sender relies on: put and get, claims,
// updates and releases checked against the claim token, stats and listing;
// then claims under 8 concurrent workers, ordering per mailbox, claims
// returning after a crash, the sent-message index); the suppression list;
// retention and per-contract queries and erasure. Every test asserts
// behaviour a store could get wrong, and errors are compared with
// errors.Is/As against the shared sentinels of package store
// (store.ErrNotFound, store.ErrFenced, store.ErrClaimLost) and the contract
// package's typed errors, so all stores fail the same way.
package storetest

import (
	"testing"

	"github.com/correio-dev/correio/store"
)

// Harness describes a store to the suite. Nil parts are skipped.
type Harness struct {
	Catalog *CatalogHarness
	// Inbound runs the store.Inbound suite.
	Inbound *InboundHarness
	// Outbox runs the store.Outbox suite (and threading.SentIndex when
	// the outbox implements it).
	Outbox *OutboxHarness
	// Suppressions returns an empty store.Suppressions list.
	Suppressions func(t *testing.T) store.Suppressions
	// Retention runs the retention and per-contract suite (SQL stores).
	Retention *RetentionHarness
	// Bounces runs the bounce-linking suite (SQL stores).
	Bounces func(t *testing.T) BounceStore
	// Tokens runs the store.Tokens suite (OAuth2 grants).
	Tokens *TokensHarness
	// TransportState returns an empty store.TransportState.
	TransportState func(t *testing.T) store.TransportState
}

// Run runs every suite the harness enables, each as a subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ran := false
	if h.Catalog != nil {
		ran = true
		t.Run("Catalog", func(t *testing.T) { RunCatalog(t, *h.Catalog) })
	}
	if h.Inbound != nil {
		ran = true
		t.Run("Inbound", func(t *testing.T) { RunInbound(t, *h.Inbound) })
	}
	if h.Outbox != nil {
		ran = true
		t.Run("Outbox", func(t *testing.T) { RunOutbox(t, *h.Outbox) })
	}
	if h.Suppressions != nil {
		ran = true
		t.Run("Suppressions", func(t *testing.T) { RunSuppressions(t, h.Suppressions) })
	}
	if h.TransportState != nil {
		ran = true
		t.Run("TransportState", func(t *testing.T) { RunTransportState(t, h.TransportState) })
	}
	if h.Retention != nil {
		ran = true
		t.Run("Retention", func(t *testing.T) { RunRetention(t, *h.Retention) })
	}
	if h.Bounces != nil {
		ran = true
		t.Run("Bounces", func(t *testing.T) { RunBounces(t, h.Bounces) })
	}
	if h.Tokens != nil {
		ran = true
		t.Run("Tokens", func(t *testing.T) { RunTokens(t, *h.Tokens) })
	}
	if !ran {
		t.Fatal("storetest: the harness enables no suite")
	}
}

// Package storetest is the one conformance suite every correio store passes:
// store/memory, store/sqlite, store/postgres, and a host's own adapter.
//
// A store package runs it from its tests with a Harness describing how to
// make a fresh store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Catalog: &storetest.CatalogHarness{
//				New:      func(t *testing.T) storetest.Catalog { return openFresh(t) },
//				NotFound: mystore.ErrNotFound,
//			},
//		})
//	}
//
// The suite is organised by capability: each part of the Harness that is
// set runs its suite (the catalog now; the engines' stores — outbox claims
// under concurrent workers, checkpoints and handled keys, quarantine,
// suppression, leases — join as their interfaces land in the engine
// packages). Every test asserts behaviour a store could get wrong, and
// errors are compared with errors.Is/As against the contract package's
// sentinel and typed errors, so all stores fail the same way.
package storetest

import (
	"testing"
)

// Harness describes a store to the suite. Nil parts are skipped.
type Harness struct {
	Catalog *CatalogHarness
}

// Run runs every suite the harness enables, each as a subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ran := false
	if h.Catalog != nil {
		ran = true
		t.Run("Catalog", func(t *testing.T) { RunCatalog(t, *h.Catalog) })
	}
	if !ran {
		t.Fatal("storetest: the harness enables no suite")
	}
}

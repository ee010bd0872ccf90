// Package harness holds what the store drivers' conformance harnesses
// (store/sqlite, store/postgres) share in their tests.
package harness

import "sync"

// Opened remembers, for each handle a harness's New or Reopen gave out (a
// store.Catalog, a store.Tokens), the store it belongs to and where that
// store lives (a file path, a DSN), so that Raw and Reopen find them.
// Safe for concurrent use; the zero Opened is ready.
type Opened[H comparable, S any] struct {
	mu sync.Mutex
	m  map[H]opened[S]
}

type opened[S any] struct {
	where string
	store S
}

// Add records h as a handle of st, which lives at where, and returns h.
func (o *Opened[H, S]) Add(h H, where string, st S) H {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[H]opened[S]{}
	}
	o.m[h] = opened[S]{where, st}
	return h
}

// Get returns where the store of h lives and the store.
func (o *Opened[H, S]) Get(h H) (where string, st S) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.m[h]
	return e.where, e.store
}

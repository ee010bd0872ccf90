package main

import (
	"context"
	"log/slog"

	"github.com/correio-dev/correio/workflow"
)

// engines wires correio's engines for the helpdesk.
type engines struct {
	*recordEngine
}

func startEngines(_ context.Context, cat Catalog, dir workflow.Directory, _ *slog.Logger, _ engineOptions) (*engines, error) {
	return &engines{recordEngine: newRecordEngine(cat, dir)}, nil
}

// Close stops the engines.
func (e *engines) Close() {}

package function

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/store"
)

// What `orderflow replay` asks of a function whose read models it can
// rebuild (it finds them by these methods, not by name): the read model
// flattened, and, for order, the fold of recorded facts it replays
// instead of deciding again (replay.go).

// Snapshot flattens the order read model (package Snapshot).
func (f *Function) Snapshot(ctx context.Context, db *store.DB) (map[string]map[string]string, error) {
	return Snapshot(ctx, db)
}

// ReplayEvent applies one record of the log to a rebuilt store (package
// ReplayEvent).
func (f *Function) ReplayEvent(ctx context.Context, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error) {
	return ReplayEvent(ctx, tx, e)
}

// ReplayOwnFactsFirst: a rebuild reads the topic order publishes to first.
func (f *Function) ReplayOwnFactsFirst() bool { return ReplayOwnFactsFirst }

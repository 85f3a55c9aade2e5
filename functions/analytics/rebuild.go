package function

import (
	"context"

	"orderflow.dev/shared/store"
)

// Snapshot flattens analytics' projections (package Snapshot): what
// `orderflow replay` asks of a function whose read models it can rebuild
// (it finds them by this method, not by name). A rebuild routes each
// record through the function's own edge (handler.App.Replay).
func (f *Function) Snapshot(ctx context.Context, db *store.DB) (map[string]map[string]string, error) {
	return Snapshot(ctx, db)
}

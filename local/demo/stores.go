package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"orderflow.dev/local/activator"
	"orderflow.dev/local/client"
	"orderflow.dev/local/door"
	"orderflow.dev/shared/handler"
)

// StoreDownError ends a run early: a function's store cannot write (its
// disk is full, say), so none of the orders waiting on it will end while
// that lasts.
type StoreDownError struct {
	Function string
	Reason   string // the function's own account, naming where
}

func (e *StoreDownError) Error() string {
	return fmt.Sprintf("stopped early: function %s cannot take deliveries, its %s. "+
		"The plane holds its deliveries (up to `up --ready-hold-limit`): make room there and they go on; "+
		"`orderflow dlq` lists what was dead-lettered meanwhile and `orderflow dlq replay --all` sends it again",
		e.Function, e.Reason)
}

// watchStores asks the plane for its functions' readiness every second
// until ctx ends, and stops the run (stop) when one reports that its store
// cannot write.
func watchStores(ctx context.Context, link *conn, stop context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		target, _ := link.get()
		if target.API == "" {
			return
		}
		token, err := door.ClientToken(target.TokenFile)
		if err != nil {
			continue
		}
		var ready map[string]activator.State
		if err := client.GetJSONWithToken(ctx, target.API+"/api/readiness", token, &ready); err != nil {
			continue // the plane restarting, say: the run's own retries deal with it
		}
		for _, fn := range slices.Sorted(maps.Keys(ready)) {
			if s := ready[fn]; !s.Ready && strings.Contains(s.Reason, handler.StoreCannotWrite) {
				stop(&StoreDownError{Function: fn, Reason: s.Reason})
				return
			}
		}
	}
}

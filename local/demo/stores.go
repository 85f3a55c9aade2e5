package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"orderflow.dev/knlocal/activator"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/local/check"
	"orderflow.dev/local/client"
	"orderflow.dev/shared/events"
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

// Recheck counts the orders of a past run (prev, as Run returned it and
// the demo wrote it to its results file) by what became of them since,
// read from the topics: an order still open when the run stopped early,
// or whose command was dead-lettered and later replayed, counts as what
// it became. The invariants are checked again over them; the timings are
// prev's.
func Recheck(ctx context.Context, target Target, prev Result) (Result, error) {
	t := &tracker{want: map[string]*OrderResult{}, log: check.NewLog(), refused: map[string]bool{},
		finished: map[string]time.Time{}, done: make(chan struct{}), pending: len(prev.Results)}
	for _, o := range prev.Results {
		o.Outcome = ""
		t.want[o.ID] = &o
	}
	recs, err := kafkalog.ReadAll(ctx, target.Kafka, target.OrdersTopic, target.OrderDeadLetter)
	if err != nil {
		return prev, fmt.Errorf("reading %s and %s: %w", target.OrdersTopic, target.OrderDeadLetter, err)
	}
	for _, r := range recs {
		t.observe(r, target.OrdersTopic, target.OrderDeadLetter)
	}
	res := prev
	placed, refused := t.tally(&res)
	link, err := newConn(target)
	if err != nil {
		return res, err
	}
	stock := events.InventoryViewData{}
	if res.Check, stock, err = evaluate(ctx, link, placed, refused, t, prev.StockBefore); err != nil {
		return res, err
	}
	res.Stock = &stock
	return res, nil
}

package handler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"orderflow.dev/shared/store"
)

// StoreCannotWrite begins the readiness error of a function whose store
// takes no writes (a full disk, say): the plane holds its deliveries on
// it, and tools (the demo) recognise it.
const StoreCannotWrite = "store cannot write"

// storeHealth is whether the function's store takes writes. A write that
// fails for the store's own sake (store.WriteFailure: the disk is full,
// the file system or server read-only) makes the function not ready
// (Ready says why; a Knative revision's pod then gets no requests, the
// local plane holds its deliveries) and is logged once; a probe every
// probeEvery finds when it writes again. Every delivery that arrives
// meanwhile is still tried, and answered 503 while it fails: retried, not
// refused.
type storeHealth struct {
	down   atomic.Bool
	mu     sync.Mutex
	reason string // why, while down
	since  time.Time
}

// probeEvery is how often a store that failed to write is probed.
var probeEvery = time.Second

// storeFailed notes err, a failed write. It reports whether the failure
// is the store's own (then the function is not ready until a probe
// writes); the first such failure is logged and starts the probe.
func (a *App) storeFailed(err error) bool {
	cause := store.WriteFailure(err)
	if cause == "" {
		return false
	}
	h := &a.health
	h.mu.Lock()
	first := !h.down.Load()
	if first {
		h.reason = fmt.Sprintf("%s (%s): %s; on %s", StoreCannotWrite, cause, shorten(err.Error(), 300), a.db.Where())
		h.since = time.Now()
		h.down.Store(true)
	}
	h.mu.Unlock()
	if first {
		a.log.Error("STORE CANNOT WRITE: the function reports not ready until a write succeeds again (tried every "+probeEvery.String()+")",
			"cause", cause, "error", err.Error(), "where", a.db.Where())
		if a.runCtx != nil { // started: Stop ends the probe
			a.wg.Go(func() { a.probeUntilWritable(a.runCtx) })
		}
	}
	return true
}

// storeDown is why the store takes no writes, or nil.
func (a *App) storeDown() error {
	if !a.health.down.Load() {
		return nil
	}
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	if a.health.reason == "" {
		return nil
	}
	return errors.New(a.health.reason)
}

// probeUntilWritable writes a probe every probeEvery until one commits,
// then reports the function ready again.
func (a *App) probeUntilWritable(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.db.ProbeWrite(ctx); err == nil {
			a.storeWrites()
			return
		}
	}
}

// storeWrites marks the store writable again (a probe or a delivery's
// transaction committed).
func (a *App) storeWrites() {
	h := &a.health
	h.mu.Lock()
	was, since := h.down.Load(), h.since
	h.down.Store(false)
	h.reason = ""
	h.mu.Unlock()
	if was {
		a.log.Warn("store writes again: the function reports ready", "down_for", time.Since(since).Round(time.Millisecond).String())
	}
}

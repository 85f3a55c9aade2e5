// Package activator holds deliveries to a function that is not ready, as
// Knative Serving's activator holds the requests of a revision without a
// ready replica (a pod whose readiness probe fails gets no requests; a
// revision at zero gets them once one starts): one Gate per function
// probes its readiness, and a delivery waits at the gate until the
// function is ready, for at most a bound, instead of spending its retries
// on answers that only say "not ready" (a full disk turned those into
// dead letters within seconds).
//
// Each function has one replica here. An autoscaler grows from this:
// Held is how many deliveries wait now (what Knative's activator reports
// to scale a revision from zero), and the probe becomes one per replica,
// the gate open while any is ready.
package activator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Probe asks a function whether it is ready, and why not.
type Probe func(ctx context.Context) (ready bool, reason string)

// Gate is one function's readiness, as the deliveries to it wait on it.
type Gate struct {
	name     string
	probe    Probe
	log      *slog.Logger
	progress io.Writer

	mu     sync.Mutex
	ready  bool
	reason string        // why not ready
	since  time.Time     // of the last change
	change chan struct{} // closed at each change, then replaced

	probing   sync.Mutex // one probe at a time
	lastProbe time.Time  // guarded by probing
	held      atomic.Int64
}

// New makes the gate of the function name, open (the plane starts a
// function's sources once it is ready). log hears every change; progress,
// when not nil, gets a line for each.
func New(name string, probe Probe, log *slog.Logger, progress io.Writer) *Gate {
	if progress == nil {
		progress = io.Discard
	}
	return &Gate{name: name, probe: probe, log: log, progress: progress, ready: true, since: time.Now(), change: make(chan struct{})}
}

// State is a gate's readiness now.
type State struct {
	Ready  bool      `json:"ready"`
	Reason string    `json:"reason,omitempty"` // why not ready
	Since  time.Time `json:"since"`
	Held   int64     `json:"held"` // deliveries waiting now
}

// State returns the gate's readiness now.
func (g *Gate) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return State{Ready: g.ready, Reason: g.reason, Since: g.since, Held: g.held.Load()}
}

// NotReadyError is a delivery that waited its whole bound at the gate.
type NotReadyError struct {
	Function string
	Reason   string
	Waited   time.Duration
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("function %s still not ready after %s: %s", e.Function, e.Waited, e.Reason)
}

// Wait returns nil once the function is ready (at once if it is), ctx's
// error if ctx ends first, or a *NotReadyError when it stayed not ready
// for limit.
func (g *Gate) Wait(ctx context.Context, limit time.Duration) error {
	g.mu.Lock()
	ready, change := g.ready, g.change
	g.mu.Unlock()
	if ready {
		return nil
	}
	g.held.Add(1)
	defer g.held.Add(-1)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return &NotReadyError{Function: g.name, Reason: g.State().Reason, Waited: limit}
		case <-change:
			g.mu.Lock()
			ready, change = g.ready, g.change
			g.mu.Unlock()
			if ready {
				return nil
			}
		}
	}
}

// recheckWithin: a Check this soon after a probe uses its answer, so the
// failed deliveries of many partitions at once cost one probe.
const recheckWithin = 100 * time.Millisecond

// Check probes the function now (after a delivery failed, say) and
// reports whether it is ready.
func (g *Gate) Check(ctx context.Context) bool {
	g.probing.Lock()
	defer g.probing.Unlock()
	if time.Since(g.lastProbe) > recheckWithin {
		ready, reason := g.probe(ctx)
		if ctx.Err() != nil { // the caller gave up: no news of the function
			return g.State().Ready
		}
		g.lastProbe = time.Now()
		g.set(ready, reason)
	}
	return g.State().Ready
}

// Run probes the function until ctx ends: every `every` while it is ready,
// four times as often while it is not, so a function that comes back is
// found soon.
func (g *Gate) Run(ctx context.Context, every time.Duration) {
	for {
		wait := every
		if !g.State().Ready {
			wait = max(every/4, 10*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		g.Check(ctx)
	}
}

// set records the probe's answer; a change is logged and wakes the
// deliveries waiting. The line is written before they are woken: a reader
// of the progress sees "ready again" before what the held deliveries do,
// and its count is of those held, not of those still left.
func (g *Gate) set(ready bool, reason string) {
	g.mu.Lock()
	if ready == g.ready && (ready || reason == g.reason) {
		g.mu.Unlock()
		return
	}
	was, since := g.ready, g.since
	g.ready, g.reason, g.since = ready, reason, time.Now()
	held := g.held.Load()
	wake := g.change
	g.change = make(chan struct{})
	g.mu.Unlock()
	switch {
	case !ready && was:
		g.log.Warn("function not ready: holding its deliveries until it is", "function", g.name, "reason", reason)
		fmt.Fprintf(g.progress, "  function %s NOT READY: %s; holding its deliveries until it is\n", g.name, reason)
	case !ready: // still not ready, for another reason
		g.log.Debug("function still not ready", "function", g.name, "reason", reason)
	default:
		g.log.Info("function ready: its held deliveries go on", "function", g.name, "not_ready_for", time.Since(since).Round(time.Millisecond).String(), "held", held)
		fmt.Fprintf(g.progress, "  function %s ready again after %s (%d deliveries were held)\n", g.name, time.Since(since).Round(time.Second), held)
	}
	close(wake)
}

// HTTPProbe asks url()/health/readiness, as the kubelet asks a pod: 2xx is
// ready; anything else, or no answer, is not, the body (or the error)
// saying why.
func HTTPProbe(url func() string, timeout time.Duration) Probe {
	client := &http.Client{Timeout: timeout}
	return func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url(), "/")+"/health/readiness", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := client.Do(req)
		if err != nil {
			var ue interface{ Unwrap() error }
			if errors.As(err, &ue) && ue.Unwrap() != nil {
				err = ue.Unwrap()
			}
			return false, "no answer to its readiness probe: " + err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return true, ""
		}
		// func-go answers a Ready error as "error checking readiness: <it>".
		why := strings.TrimSpace(strings.TrimPrefix(string(body), "error checking readiness: "))
		if why == "" {
			why = resp.Status
		}
		return false, why
	}
}

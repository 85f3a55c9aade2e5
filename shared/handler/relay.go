package handler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/store"
)

// Relay publishes the outbox to K_SINK in commit order and marks each event
// sent once the sink acknowledged it. A crash between the two sends the
// event again on the next sweep: consumers are idempotent, so at-least-once
// here costs nothing, while losing an event would break the saga.
type Relay struct {
	db     *store.DB
	sender *ce.Sender
	log    *slog.Logger
	kick   chan struct{}
	mu     sync.Mutex // one sweep at a time keeps the commit order
}

func NewRelay(db *store.DB, sender *ce.Sender, log *slog.Logger) *Relay {
	return &Relay{db: db, sender: sender, log: log, kick: make(chan struct{}, 1)}
}

// Kick asks for a sweep soon, without waiting for it.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sweeps at start, on every kick and every interval until ctx ends.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Flush(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox publish failed; will retry", "error", err, "sink", r.sender.Target())
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

// Flush publishes pending events until none is left or one fails. It stops
// at the first failure so a later event never overtakes an earlier one.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent := 0
	for {
		batch, err := r.db.PendingOutbox(ctx, 200)
		if err != nil {
			return sent, err
		}
		for _, it := range batch {
			sendCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := r.sender.Send(sendCtx, it.Event)
			cancel()
			if err != nil {
				_ = r.db.MarkFailed(ctx, it.Seq, err)
				return sent, err
			}
			if err := r.db.MarkSent(ctx, it.Seq); err != nil {
				return sent, err
			}
			sent++
		}
		if len(batch) < 200 {
			return sent, nil
		}
	}
}

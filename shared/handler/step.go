package handler

import (
	"context"

	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Step is the shape every saga step shares, described once per function
// and run by each of its reactions with the event's own pure decision:
//
//	Load (under the aggregate's lock) -> decide (pure) -> Act (optional
//	side effect) -> Save (optimistic check) -> Emits
//
// K is what names the aggregate (an order id; for notify, the notification
// itself), S its state as loaded, D a decision about it. All of it runs in
// the delivery's transaction, which also records the event as processed and
// stores what Emits returns in the outbox.
type Step[K, S, D any] struct {
	// Load reads the aggregate, first taking its lock (store.Tx.Lock) for
	// the rest of the transaction, so deliveries about one aggregate decide
	// one after the other. It must read the database before anything else
	// happens, and return a read's error as it is: on PostgreSQL the
	// delivery's processed-id check travels with that first read, and a
	// redelivery fails it with an error the edge recognises
	// (store.IsAlreadyProcessed) and answers as a duplicate.
	Load func(ctx context.Context, tx *store.Tx, key K) (S, error)
	// Act, if set, makes the effect outside the database the decision asks
	// for (a payment gateway call, a message sent) and returns the decision
	// with its outcome folded in. A rollback cannot undo it, so it runs
	// only after Load found the delivery new, and must be idempotent under
	// a key derived from the aggregate: a retry of the transaction makes it
	// again.
	Act func(ctx context.Context, key K, state S, d D) (D, error)
	// Save writes the decision over the state it was taken on, and fails
	// with a saga.Conflict (409: decided again) when that state changed
	// meanwhile.
	Save func(ctx context.Context, tx *store.Tx, key K, prev S, d D) error
	// Emits is what the decision publishes once the transaction commits.
	Emits func(d D) []saga.Emit
}

// Run applies one event to the aggregate named by key. decide is the
// event's pure decision, its payload bound:
//
//	func(p Payment) (Decision, error) { return DecideReserved(p, in.Data) }
//
// Every error is returned as it is, a refusal keeping its kind.
func (s Step[K, S, D]) Run(ctx context.Context, tx *store.Tx, key K, decide func(S) (D, error)) ([]saga.Emit, error) {
	state, err := s.Load(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	d, err := decide(state)
	if err != nil {
		return nil, err
	}
	if s.Act != nil {
		if d, err = s.Act(ctx, key, state, d); err != nil {
			return nil, err
		}
	}
	if err := s.Save(ctx, tx, key, state, d); err != nil {
		return nil, err
	}
	return s.Emits(d), nil
}

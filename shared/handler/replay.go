package handler

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// Decode is what every delivery goes through before its reaction: the
// envelope checks (datacontenttype, dataschema) and the payload decoded
// against its schema, with whatever upcasting the catalog does. Replay
// decodes the log with it, so a record means to a rebuild exactly what it
// meant to the live function.
func Decode(e event.Event) (any, error) { return decode(e) }

// ReplayOutcome is what replaying one record did.
type ReplayOutcome string

const (
	// ReplayApplied: the reaction ran and its effects are in the store.
	ReplayApplied ReplayOutcome = "applied"
	// ReplayDuplicate: an event with this source and id was applied
	// already (a redelivered or re-published record).
	ReplayDuplicate ReplayOutcome = "duplicate"
	// ReplayIgnored: a type the function drops on purpose, or one that is
	// not a saga event (a query, a tick).
	ReplayIgnored ReplayOutcome = "ignored"
	// ReplayRefused: the live function refused it too (unknown type, bad
	// envelope or payload), so it went to the dead-letter topic and never
	// reached the read model.
	ReplayRefused ReplayOutcome = "refused"
)

// Replay applies e to the store in tx as a delivery would (decoded by
// Decode, deduplicated on its source and id, handed to the function's
// reaction) but publishes nothing: a reaction that emits would be deciding
// anew, and a rebuild folds recorded facts, it decides nothing. Such a
// reaction is an error here, so only functions whose reactions to the
// replayed types emit nothing (analytics) replay through it.
func (a *App) Replay(ctx context.Context, tx *store.Tx, e event.Event) (ReplayOutcome, error) {
	if e.Type() == events.Tick {
		return ReplayIgnored, nil // a PingSource's; never in Kafka, never a fact
	}
	react, answer := a.lookup(e)
	switch {
	case answer != nil && a.ignored[e.Type()]:
		return ReplayIgnored, nil
	case answer != nil:
		if _, isQuery := a.queries[e.Type()]; isQuery {
			return ReplayIgnored, nil
		}
		return ReplayRefused, nil
	case react == nil:
		return ReplayRefused, nil
	}
	data, err := decode(e)
	if err != nil {
		return ReplayRefused, nil
	}
	first, err := tx.MarkProcessed(ctx, a.name, e.Source(), e.ID(), e.Type())
	if err != nil {
		return "", err
	}
	if !first {
		return ReplayDuplicate, nil
	}
	emits, err := react(ctx, tx, e, data)
	if err != nil {
		return "", fmt.Errorf("%s: replaying %s %s: %w", a.name, e.Type(), e.ID(), err)
	}
	if len(emits) > 0 {
		return "", fmt.Errorf("%s: replaying %s %s emitted %d event(s): replay only folds recorded facts, it must not decide", a.name, e.Type(), e.ID(), len(emits))
	}
	return ReplayApplied, nil
}

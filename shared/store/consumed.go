package store

import (
	"context"
	"errors"
	"time"
)

// NowMillis is the time representation of every table: Unix milliseconds,
// the same in both dialects.
func NowMillis() int64 { return time.Now().UnixMilli() }

// MarkProcessed records that consumer handled the event (source, id) and
// reports whether this is the first time. CloudEvents ids are unique per
// source, so the pair is the identity. Call it first in the transaction that
// applies the event: a redelivery then finds the row and changes nothing,
// and a failed transaction leaves no row behind, so the retry runs again.
// It answers at once, a round trip on PostgreSQL; a delivery's
// transaction uses Guard instead.
func (tx *Tx) MarkProcessed(ctx context.Context, consumer, source, id, typ string) (first bool, err error) {
	res, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_source, event_id, event_type, processed_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, consumer, source, id, typ, NowMillis())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Guard is MarkProcessed for a delivery: it records the event as processed,
// and a redelivery fails the transaction with an error IsAlreadyProcessed
// reports, which leaves nothing of the transaction behind.
//
// On PostgreSQL the record is queued (a plain INSERT, see pgtx.go): it
// travels with the reaction's first read instead of costing a round trip
// of its own, so the redelivery is found there, or at COMMIT: the read
// fails with the key's unique violation, which aborts the transaction. A
// reaction must therefore read before any side effect outside the
// database (every reaction loads its state first), and pass a read's
// error on. On SQLite, in-process, it answers at once.
func (tx *Tx) Guard(ctx context.Context, consumer, source, id, typ string) error {
	if tx.pg != nil {
		_, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_source, event_id, event_type, processed_at)
			VALUES (?, ?, ?, ?, ?)`, consumer, source, id, typ, NowMillis())
		return err
	}
	first, err := tx.MarkProcessed(ctx, consumer, source, id, typ)
	if err == nil && !first {
		err = ErrAlreadyProcessed
	}
	return err
}

// ErrAlreadyProcessed is what a PostgreSQL transaction fails with when its
// MarkProcessed found the event recorded already: a redelivery.
var ErrAlreadyProcessed = errors.New("store: the event was processed already (a redelivery)")

// processedKey is PostgreSQL's name for processed_events' primary key.
const processedKey = "processed_events_pkey"

// IsAlreadyProcessed reports whether err says the transaction's event had
// been processed already.
func IsAlreadyProcessed(err error) bool {
	if errors.Is(err, ErrAlreadyProcessed) {
		return true
	}
	pe, ok := pgError(err)
	return ok && pe.Code == pgUniqueViolation && pe.ConstraintName == processedKey
}

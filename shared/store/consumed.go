package store

import (
	"context"
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

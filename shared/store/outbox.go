package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Enqueue writes events to the outbox inside the caller's transaction, so
// they exist if and only if the state change that caused them committed.
func (tx *Tx) Enqueue(ctx context.Context, events ...event.Event) error {
	for _, e := range events {
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("store: encoding %s for the outbox: %w", e.Type(), err)
		}
		key, _ := e.Extensions()["partitionkey"].(string)
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, event_type, partition_key, body, created_at)
			VALUES (?, ?, ?, ?, ?)`, e.ID(), e.Type(), key, body, NowMillis()); err != nil {
			return fmt.Errorf("store: outbox insert of %s: %w", e.Type(), err)
		}
	}
	return nil
}

// OutboxItem is one event waiting to be published.
type OutboxItem struct {
	Seq      int64
	Event    event.Event
	Attempts int
}

// PendingOutbox returns up to limit unsent events, oldest first. On SQLite
// that is the order in which their transactions committed. On PostgreSQL
// seq is taken at insert, so two concurrent transactions may commit in the
// other order; events of one order still keep their causal order, because
// every function serialises the transactions of one order (Tx.Lock, or the
// order's version key).
func (db *DB) PendingOutbox(ctx context.Context, limit int) ([]OutboxItem, error) {
	rows, err := db.Query(ctx, `SELECT seq, body, attempts FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var body []byte
		if err := rows.Scan(&it.Seq, &body, &it.Attempts); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &it.Event); err != nil {
			return nil, fmt.Errorf("store: outbox row %d holds an undecodable event: %w", it.Seq, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// MarkSent records a successful publish.
func (db *DB) MarkSent(ctx context.Context, seq int64) error {
	_, err := db.Exec(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?`, NowMillis(), seq)
	return err
}

// MarkFailed records a failed publish attempt; the row stays pending.
func (db *DB) MarkFailed(ctx context.Context, seq int64, cause error) error {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	_, err := db.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?`, msg, seq)
	return err
}

// OutboxBacklog counts unsent events, for readiness and metrics.
func (db *DB) OutboxBacklog(ctx context.Context) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n)
	return n, err
}

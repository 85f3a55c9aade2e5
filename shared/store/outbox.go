package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Enqueue writes events to the outbox inside the caller's transaction, so
// they exist if and only if the state change that caused them committed.
//
// On PostgreSQL, when the relay lease is held by another process (a
// replica), the transaction also announces itself on the outbox's channel:
// the server delivers the notification at commit, so the relay that holds
// the lease sweeps at once rather than at its next tick. The holder's own
// commits need no announcement; its handlers kick its relay directly.
func (tx *Tx) Enqueue(ctx context.Context, events ...event.Event) error {
	if len(events) > 0 && tx.dialect == Postgres && tx.db != nil && !tx.db.relayHere.Load() {
		if _, err := tx.Exec(ctx, `SELECT pg_notify(?, '')`, tx.db.notifyChannel); err != nil {
			return fmt.Errorf("store: announcing outbox events: %w", err)
		}
	}
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
	Seq int64
	// Key is the event's partition key ("" when it has none): the relay
	// keeps the events of one key in commit order.
	Key      string
	Event    event.Event
	Attempts int
}

// OutboxSkip leaves events out of PendingOutbox: those of the partition
// keys in Keys and those whose seq is in Seqs. The relay passes the keys it
// must not publish for now (their oldest event failed), so that their
// later events neither go out ahead of it nor fill every page.
type OutboxSkip struct {
	Keys []string
	Seqs []int64
}

// PendingOutbox returns up to limit unsent events, oldest first, but for
// those skip names. On SQLite that is the order in which their
// transactions committed. On PostgreSQL seq is taken at insert, so two
// concurrent transactions may commit in the other order; events of one
// order still keep their causal order, because every function serialises
// the transactions of one order (Tx.Lock, or the order's version key).
func (db *DB) PendingOutbox(ctx context.Context, limit int, skip OutboxSkip) ([]OutboxItem, error) {
	q := `SELECT seq, partition_key, body, attempts FROM outbox WHERE sent_at IS NULL`
	args := make([]any, 0, len(skip.Keys)+len(skip.Seqs)+1)
	if len(skip.Keys) > 0 {
		q += ` AND partition_key NOT IN (` + placeholders(len(skip.Keys)) + `)`
		for _, k := range skip.Keys {
			args = append(args, k)
		}
	}
	if len(skip.Seqs) > 0 {
		q += ` AND seq NOT IN (` + placeholders(len(skip.Seqs)) + `)`
		for _, s := range skip.Seqs {
			args = append(args, s)
		}
	}
	rows, err := db.Query(ctx, q+` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var body []byte
		if err := rows.Scan(&it.Seq, &it.Key, &body, &it.Attempts); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &it.Event); err != nil {
			return nil, fmt.Errorf("store: outbox row %d holds an undecodable event: %w", it.Seq, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// markSentChunk bounds the seqs of one UPDATE, well under the bound on
// bound parameters of both databases (32,766 on SQLite, 65,535 on
// PostgreSQL).
const markSentChunk = 500

// MarkSent records successful publishes: one statement per chunk of seqs
// rather than one per event, since on SQLite each statement is a write
// transaction that every handler waits behind.
func (db *DB) MarkSent(ctx context.Context, seqs ...int64) error {
	now := NowMillis()
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), markSentChunk)]
		seqs = seqs[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, now)
		for _, s := range chunk {
			args = append(args, s)
		}
		if _, err := db.Exec(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL
			WHERE sent_at IS NULL AND seq IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("store: marking %d outbox event(s) sent: %w", len(chunk), err)
		}
	}
	return nil
}

// placeholders is n comma-separated `?`.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
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

// OutboxBacklog counts unsent events and says when the oldest of them was
// committed (zero time when there is none), for metrics and alerts.
func (db *DB) OutboxBacklog(ctx context.Context) (n int, oldest time.Time, err error) {
	var min sql.NullInt64
	if err := db.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL`).Scan(&n, &min); err != nil {
		return 0, time.Time{}, err
	}
	if min.Valid {
		oldest = time.UnixMilli(min.Int64)
	}
	return n, oldest, nil
}

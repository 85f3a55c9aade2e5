package function

import (
	"context"
	"database/sql"
	"errors"

	"orderflow.dev/shared/store"
)

// migrations of the notify function's own table. The primary key is the
// (order, outcome) pair, not the triggering event id: the edge already
// drops a redelivered id, and this catches the same outcome re-sent under
// a new one, so a customer is told at most once.
var migrations = []string{
	`CREATE TABLE notifications (
		order_id        TEXT   NOT NULL,
		outcome         TEXT   NOT NULL,
		notification_id TEXT   NOT NULL,
		status          TEXT   NOT NULL,
		channel         TEXT   NOT NULL,
		reason          TEXT   NOT NULL,
		updated_at      BIGINT NOT NULL,
		PRIMARY KEY (order_id, outcome)
	)`,
}

// loadStatus returns what was recorded for one outcome of one order, first
// taking that outcome's lock for the rest of the transaction: two
// deliveries of one outcome (under two event ids) then never both reach
// the channel; the second waits, finds the row and tells nobody again.
func loadStatus(ctx context.Context, tx *store.Tx, n Notification) (Status, error) {
	if err := tx.Lock(ctx, "notify/"+n.OrderID+"/"+n.Outcome); err != nil {
		return StatusNone, err
	}
	var s string
	err := tx.QueryRow(ctx, `SELECT status FROM notifications WHERE order_id = ? AND outcome = ?`, n.OrderID, n.Outcome).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return StatusNone, nil
	}
	return Status(s), err
}

// saveStatus records a final answer. A plain INSERT, not an upsert: if a
// concurrent delivery of the same outcome committed first, the key clash
// rolls this one back and the edge answers 409, so the retry finds the row
// and emits nothing.
func saveStatus(ctx context.Context, tx *store.Tx, n Notification, channel string, d Decision) error {
	_, err := tx.Exec(ctx, `INSERT INTO notifications (order_id, outcome, notification_id, status, channel, reason, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, n.OrderID, n.Outcome, n.ID, string(d.Status), channel, d.Reason, store.NowMillis())
	return err
}

package function

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// recentWindows is how many one-minute windows the view shows.
const recentWindows = 60

// migrations of the analytics function's own tables: one row per saga
// (the projection as JSON, to fold the next event into, plus the columns
// the view aggregates) and one count per (minute, event type). Every total
// of the view is computed from these at query time, so nothing is counted
// twice and a rebuild is a replay into an empty store.
var migrations = []string{
	`CREATE TABLE analytics_sagas (
		order_id             TEXT PRIMARY KEY,
		state                TEXT    NOT NULL,
		reason               TEXT    NOT NULL,
		revenue_cents        BIGINT  NOT NULL,
		refunded_cents       BIGINT  NOT NULL,
		duration_ms          BIGINT,
		notifications_sent   INTEGER NOT NULL,
		notifications_failed INTEGER NOT NULL,
		last_type            TEXT    NOT NULL,
		last_at              BIGINT  NOT NULL,
		projection           TEXT    NOT NULL,
		updated_at           BIGINT  NOT NULL
	)`,
	// Open sagas by how long they have been waiting: what a stuck-saga
	// detector scans.
	`CREATE INDEX analytics_sagas_open ON analytics_sagas (state, last_at)`,
	`CREATE TABLE analytics_windows (
		window_start BIGINT NOT NULL,
		event_type   TEXT   NOT NULL,
		events       BIGINT NOT NULL,
		PRIMARY KEY (window_start, event_type)
	)`,
}

// loadSaga reads a saga's projection, first taking the saga's lock for the
// rest of the transaction. Facts of one order arrive on three topics at
// once; without the lock two of them would fold into the same old
// projection on PostgreSQL and the second upsert would drop the first.
func loadSaga(ctx context.Context, tx *store.Tx, orderID string) (Saga, error) {
	if err := tx.Lock(ctx, "analytics/saga/"+orderID); err != nil {
		return Saga{}, err
	}
	var raw string
	err := tx.QueryRow(ctx, `SELECT projection FROM analytics_sagas WHERE order_id = ?`, orderID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Saga{OrderID: orderID}, nil
	}
	if err != nil {
		return Saga{}, err
	}
	var s Saga
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Saga{}, fmt.Errorf("analytics: stored projection of %s does not decode: %w", orderID, err)
	}
	return s, nil
}

func saveSaga(ctx context.Context, tx *store.Tx, s Saga) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var duration sql.NullInt64
	duration.Int64, duration.Valid = s.DurationMillis()
	sent, failed := s.NotificationCounts()
	_, err = tx.Exec(ctx, `INSERT INTO analytics_sagas (order_id, state, reason, revenue_cents, refunded_cents, duration_ms,
			notifications_sent, notifications_failed, last_type, last_at, projection, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
			revenue_cents = excluded.revenue_cents, refunded_cents = excluded.refunded_cents, duration_ms = excluded.duration_ms,
			notifications_sent = excluded.notifications_sent, notifications_failed = excluded.notifications_failed,
			last_type = excluded.last_type, last_at = excluded.last_at, projection = excluded.projection, updated_at = excluded.updated_at`,
		s.OrderID, string(s.State), s.Reason, s.RevenueCents(), s.RefundedCents(), duration,
		sent, failed, s.LastType, s.LastAt.UnixMilli(), string(raw), store.NowMillis())
	return err
}

// readView computes the view from the tables, in one transaction so that
// with SQLite every number comes from the same moment.
func readView(ctx context.Context, db *store.DB) (events.AnalyticsViewData, error) {
	v := events.AnalyticsViewData{
		OrdersByState:        map[string]int{string(StatePending): 0, string(StateConfirmed): 0, string(StateCancelled): 0},
		CancelledByReason:    map[string]int{},
		LastStepByOpenOrders: map[string]int{},
		Windows:              []events.WindowCount{},
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := countBy(ctx, tx, v.OrdersByState, `SELECT state, COUNT(*) FROM analytics_sagas GROUP BY state`); err != nil {
			return err
		}
		if err := countBy(ctx, tx, v.CancelledByReason, `SELECT reason, COUNT(*) FROM analytics_sagas WHERE state = ? GROUP BY reason`, string(StateCancelled)); err != nil {
			return err
		}
		if err := countBy(ctx, tx, v.LastStepByOpenOrders, `SELECT last_type, COUNT(*) FROM analytics_sagas WHERE state = ? GROUP BY last_type`, string(StatePending)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(revenue_cents), 0), COALESCE(SUM(refunded_cents), 0),
				COALESCE(SUM(notifications_sent), 0), COALESCE(SUM(notifications_failed), 0) FROM analytics_sagas`).
			Scan(&v.RevenueCents, &v.RefundedCents, &v.NotificationsSent, &v.NotificationsFailed); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(events), 0) FROM analytics_windows`).Scan(&v.EventsSeen); err != nil {
			return err
		}
		durations, err := readDurations(ctx, tx)
		if err != nil {
			return err
		}
		v.SagaDurationMillis = Percentiles(durations)
		rows, err := readRecentWindows(ctx, tx, recentWindows)
		if err != nil {
			return err
		}
		v.Windows = RecentWindows(rows, recentWindows)
		return nil
	})
	return v, err
}

func countBy(ctx context.Context, tx *store.Tx, into map[string]int, q string, args ...any) error {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		into[k] = n
	}
	return rows.Err()
}

// readDurations loads every known saga duration; the percentiles are
// exact, which is cheap enough for tens of thousands of sagas.
func readDurations(ctx context.Context, tx *store.Tx) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT duration_ms FROM analytics_sagas WHERE duration_ms IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// readRecentWindows loads the counts of the latest n windows that saw events.
func readRecentWindows(ctx context.Context, tx *store.Tx, n int) ([]WindowRow, error) {
	rows, err := tx.Query(ctx, `SELECT window_start, event_type, events FROM analytics_windows
		WHERE window_start >= (SELECT COALESCE(MIN(s), 0) FROM
			(SELECT DISTINCT window_start AS s FROM analytics_windows ORDER BY s DESC LIMIT ?) recent)`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WindowRow
	for rows.Next() {
		var r WindowRow
		var start int64
		if err := rows.Scan(&start, &r.Type, &r.Count); err != nil {
			return nil, err
		}
		r.Start = time.UnixMilli(start).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

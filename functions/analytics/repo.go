package function

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// recentWindows is how many one-minute windows the view shows, and
// latestLate how many late facts it lists.
const (
	recentWindows = 60
	latestLate    = 20
)

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
	// Version 1 of the windows projection: a count per delivery, which a
	// fact re-sent under a new id raised twice. No longer written; kept so
	// that a store it holds rows in is recognised as built by version 1
	// (see projections).
	`CREATE TABLE analytics_windows (
		window_start BIGINT NOT NULL,
		event_type   TEXT   NOT NULL,
		events       BIGINT NOT NULL,
		PRIMARY KEY (window_start, event_type)
	)`,
}

// windowMigrations append to migrations (after stalledMigrations): version
// 2 of the windows, one row per fact, keyed by the fact's identity, with
// when it happened and when it reached the log.
var windowMigrations = []string{
	`CREATE TABLE analytics_window_facts (
		fact_key       TEXT   PRIMARY KEY,
		order_id       TEXT   NOT NULL,
		event_type     TEXT   NOT NULL,
		event_id       TEXT   NOT NULL,
		event_at       BIGINT NOT NULL,
		published_at   BIGINT NOT NULL,
		window_start   BIGINT NOT NULL,
		revenue_cents  BIGINT NOT NULL,
		refunded_cents BIGINT NOT NULL
	)`,
	`CREATE INDEX analytics_window_facts_window ON analytics_window_facts (window_start)`,
}

// projections are analytics' read models and the version of the code
// that builds each. Change what a projection stores or means, and raise
// its version: a store built by the old code is then refused at start
// (rebuild it with orderflow replay analytics) instead of mixed.
var projections = []store.Projection{
	{Name: "sagas", Version: 1, Tables: []string{"analytics_sagas"}},
	{Name: "windows", Version: 2, Tables: []string{"analytics_window_facts", "analytics_windows"}},
}

// loadSagaAndFact reads, in one statement, a saga's projection and the
// stored contribution of one fact to its window (found false if none),
// first taking the saga's lock for the rest of the transaction. Facts of
// one order arrive on three topics at once; without the lock two of them
// would fold into the same old projection on PostgreSQL and the second
// upsert would drop the first. One statement rather than two: on
// PostgreSQL each read is a round trip (the lock goes with it), and every
// order's analytics deliveries are a fifth of the saga's.
func loadSagaAndFact(ctx context.Context, tx *store.Tx, orderID, factKey string) (Saga, WindowFact, bool, error) {
	if err := tx.Lock(ctx, "analytics/saga/"+orderID); err != nil {
		return Saga{}, WindowFact{}, false, err
	}
	var raw, wOrder, wType, wEvent sql.NullString
	var at, published, revenue, refunded sql.NullInt64
	err := tx.QueryRow(ctx, `SELECT s.projection, w.order_id, w.event_type, w.event_id, w.event_at, w.published_at,
			w.revenue_cents, w.refunded_cents
		FROM (SELECT 1 AS one) AS x
		LEFT JOIN analytics_sagas s ON s.order_id = ?
		LEFT JOIN analytics_window_facts w ON w.fact_key = ?`, orderID, factKey).
		Scan(&raw, &wOrder, &wType, &wEvent, &at, &published, &revenue, &refunded)
	if err != nil {
		return Saga{}, WindowFact{}, false, err
	}
	s := Saga{OrderID: orderID}
	if raw.Valid {
		s = Saga{}
		if err := json.Unmarshal([]byte(raw.String), &s); err != nil {
			return Saga{}, WindowFact{}, false, fmt.Errorf("analytics: stored projection of %s does not decode: %w", orderID, err)
		}
	}
	if !wOrder.Valid {
		return s, WindowFact{}, false, nil
	}
	w := WindowFact{Key: factKey, OrderID: wOrder.String, Type: wType.String, EventID: wEvent.String,
		At: time.UnixMilli(at.Int64).UTC(), PublishedAt: time.UnixMilli(published.Int64).UTC(),
		RevenueCents: revenue.Int64, RefundedCents: refunded.Int64}
	return s, w, true, nil
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
func readView(ctx context.Context, db *store.DB, bound time.Duration) (events.AnalyticsViewData, error) {
	v := events.AnalyticsViewData{
		LatenessBoundMillis:  bound.Milliseconds(),
		LatestLate:           []events.LateFact{},
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
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN published_at - event_at > ? THEN 1 ELSE 0 END), 0)
				FROM analytics_window_facts`, bound.Milliseconds()).Scan(&v.EventsSeen, &v.LateFacts); err != nil {
			return err
		}
		late, err := latestLateFacts(ctx, tx, latestLate, bound)
		if err != nil {
			return err
		}
		v.LatestLate = late
		durations, err := readDurations(ctx, tx)
		if err != nil {
			return err
		}
		v.SagaDurationMillis = Percentiles(durations)
		rows, err := readRecentWindows(ctx, tx, recentWindows, bound)
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

// readRecentWindows tallies the facts of the latest n windows that saw
// any, split by the lateness bound.
func readRecentWindows(ctx context.Context, tx *store.Tx, n int, bound time.Duration) ([]WindowTally, error) {
	rows, err := tx.Query(ctx, `SELECT window_start, event_type, CASE WHEN published_at - event_at > ? THEN 1 ELSE 0 END AS late,
			COUNT(*), COALESCE(SUM(revenue_cents), 0), COALESCE(SUM(refunded_cents), 0)
		FROM analytics_window_facts
		WHERE window_start >= (SELECT COALESCE(MIN(s), 0) FROM
			(SELECT DISTINCT window_start AS s FROM analytics_window_facts ORDER BY s DESC LIMIT ?) recent)
		GROUP BY window_start, event_type, late`, bound.Milliseconds(), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WindowTally
	for rows.Next() {
		var r WindowTally
		var start int64
		var late int
		if err := rows.Scan(&start, &r.Type, &late, &r.Facts, &r.RevenueCents, &r.RefundedCents); err != nil {
			return nil, err
		}
		r.Start, r.Late = time.UnixMilli(start).UTC(), late == 1
		out = append(out, r)
	}
	return out, rows.Err()
}

// latestLateFacts lists the latest facts past the bound, newest first.
func latestLateFacts(ctx context.Context, tx *store.Tx, n int, bound time.Duration) ([]events.LateFact, error) {
	rows, err := tx.Query(ctx, `SELECT order_id, event_type, event_at, published_at FROM analytics_window_facts
		WHERE published_at - event_at > ? ORDER BY event_at DESC, fact_key LIMIT ?`, bound.Milliseconds(), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []events.LateFact{}
	for rows.Next() {
		var l events.LateFact
		var at, published int64
		if err := rows.Scan(&l.OrderID, &l.Type, &at, &published); err != nil {
			return nil, err
		}
		l.Time, l.PublishedAt, l.LatenessMillis = time.UnixMilli(at).UTC(), time.UnixMilli(published).UTC(), published-at
		out = append(out, l)
	}
	return out, rows.Err()
}

func saveWindowFact(ctx context.Context, tx *store.Tx, w WindowFact) error {
	_, err := tx.Exec(ctx, `INSERT INTO analytics_window_facts (fact_key, order_id, event_type, event_id, event_at, published_at,
			window_start, revenue_cents, refunded_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (fact_key) DO UPDATE SET order_id = excluded.order_id, event_type = excluded.event_type,
			event_id = excluded.event_id, event_at = excluded.event_at, published_at = excluded.published_at,
			window_start = excluded.window_start, revenue_cents = excluded.revenue_cents, refunded_cents = excluded.refunded_cents`,
		w.Key, w.OrderID, w.Type, w.EventID, w.At.UnixMilli(), w.PublishedAt.UnixMilli(),
		WindowStart(w.At).UnixMilli(), w.RevenueCents, w.RefundedCents)
	return err
}

package function

import (
	"context"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Stuck sagas. Analytics is the one function that sees every step of every
// saga, so it is the one that can tell a saga stopped moving: a lost
// delivery, a function down longer than its retries, a dead letter nobody
// replayed. On each stalled-sagas tick (a PingSource) it reports the
// pending sagas whose last step is older than the threshold; the order
// function cancels them, and inventory and payment compensate as for any
// cancellation. A saga is reported once; if the report is lost the next
// threshold reports it again.

// OpenSaga is a pending saga as the detector sees it.
type OpenSaga struct {
	OrderID    string
	LastType   string
	LastAt     time.Time
	ReportedAt time.Time // zero if never reported
}

// DecideStalled picks the sagas to report at now: pending, with no step for
// at least after, and not reported within the last after either.
func DecideStalled(open []OpenSaga, now time.Time, after time.Duration) []saga.Emit {
	var out []saga.Emit
	for _, s := range open {
		idle := now.Sub(s.LastAt)
		if idle < after || (!s.ReportedAt.IsZero() && now.Sub(s.ReportedAt) < after) {
			continue
		}
		out = append(out, saga.Emit{Type: events.SagaStalled, Data: events.SagaStalledData{
			OrderID: s.OrderID, LastStep: s.LastType, LastStepAt: s.LastAt.UTC(), StalledForMillis: idle.Milliseconds(),
		}})
	}
	return out
}

// stalledMigrations append to migrations: when each saga was last reported.
var stalledMigrations = []string{
	`ALTER TABLE analytics_sagas ADD COLUMN stalled_reported_at BIGINT`,
}

// reportStalled runs the detector in the tick's transaction.
func (f *Function) reportStalled(ctx context.Context, tx *store.Tx) ([]saga.Emit, error) {
	now := time.Now()
	cutoff := now.Add(-f.cfg.StallAfter).UnixMilli()
	rows, err := tx.Query(ctx, `SELECT order_id, last_type, last_at, stalled_reported_at FROM analytics_sagas
		WHERE state = ? AND last_at <= ? ORDER BY last_at LIMIT ?`, string(StatePending), cutoff, f.cfg.StallBatch)
	if err != nil {
		return nil, err
	}
	var open []OpenSaga
	for rows.Next() {
		var s OpenSaga
		var lastAt int64
		var reported *int64
		if err := rows.Scan(&s.OrderID, &s.LastType, &lastAt, &reported); err != nil {
			rows.Close()
			return nil, err
		}
		s.LastAt = time.UnixMilli(lastAt)
		if reported != nil {
			s.ReportedAt = time.UnixMilli(*reported)
		}
		open = append(open, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	emits := DecideStalled(open, now, f.cfg.StallAfter)
	for _, em := range emits {
		if _, err := tx.Exec(ctx, `UPDATE analytics_sagas SET stalled_reported_at = ? WHERE order_id = ?`,
			now.UnixMilli(), em.Data.(events.SagaStalledData).OrderID); err != nil {
			return nil, err
		}
	}
	if len(emits) > 0 {
		f.App().Log().Warn("stalled sagas reported", "count", len(emits), "after", f.cfg.StallAfter.String())
	}
	return emits, nil
}

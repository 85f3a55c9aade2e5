package function

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"orderflow.dev/shared/store"
)

// Snapshot flattens analytics' projections for comparison (orderflow
// replay --verify): per order id, each column of its saga's row and each
// column of every fact it contributes to a window (named by the window and
// the fact). The windows' totals are sums of those rows, so equal rows mean
// equal windows, whatever the lateness bound. What depends on when a row
// was written (updated_at, stalled_reported_at) is left out.
func Snapshot(ctx context.Context, db *store.DB) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	set := func(order, field, value string) {
		if out[order] == nil {
			out[order] = map[string]string{}
		}
		out[order][field] = value
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT order_id, state, reason, revenue_cents, refunded_cents, duration_ms,
			notifications_sent, notifications_failed, last_type, last_at FROM analytics_sagas`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, state, reason, lastType string
			var revenue, refunded, lastAt int64
			var duration sql.NullInt64
			var sent, failed int
			if err := rows.Scan(&id, &state, &reason, &revenue, &refunded, &duration, &sent, &failed, &lastType, &lastAt); err != nil {
				rows.Close()
				return err
			}
			d := "-"
			if duration.Valid {
				d = fmt.Sprint(duration.Int64)
			}
			for f, v := range map[string]string{"state": state, "reason": reason, "revenueCents": fmt.Sprint(revenue),
				"refundedCents": fmt.Sprint(refunded), "durationMillis": d, "notificationsSent": fmt.Sprint(sent),
				"notificationsFailed": fmt.Sprint(failed), "lastType": lastType, "lastAt": millis(lastAt)} {
				set(id, "saga."+f, v)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT fact_key, order_id, event_type, event_id, event_at, published_at, window_start,
			revenue_cents, refunded_cents FROM analytics_window_facts`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, id, typ, eventID string
			var at, published, start, revenue, refunded int64
			if err := rows.Scan(&key, &id, &typ, &eventID, &at, &published, &start, &revenue, &refunded); err != nil {
				return err
			}
			prefix := "window " + time.UnixMilli(start).UTC().Format("2006-01-02T15:04") + " fact " + key + "."
			for f, v := range map[string]string{"type": typ, "eventId": eventID, "at": millis(at), "publishedAt": millis(published),
				"revenueCents": fmt.Sprint(revenue), "refundedCents": fmt.Sprint(refunded)} {
				set(id, prefix+f, v)
			}
		}
		return rows.Err()
	})
	return out, err
}

func millis(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

package function

import (
	"context"
	"fmt"
	"time"

	"orderflow.dev/shared/store"
)

// Snapshot flattens the order read model for comparison (orderflow replay
// --verify): per order id, each field of its view, each event of its event
// store and each line of its timeline (keyed by the event it notes).
// What depends on when a row was written rather than on the log
// (updated_at, recorded_at, the timeline's row ids) is left out.
func Snapshot(ctx context.Context, db *store.DB) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	set := func(order, field, value string) {
		if out[order] == nil {
			out[order] = map[string]string{}
		}
		if _, taken := out[order][field]; taken {
			for i := 2; ; i++ { // one event noted twice: keep both
				if _, taken := out[order][fmt.Sprintf("%s#%d", field, i)]; !taken {
					field = fmt.Sprintf("%s#%d", field, i)
					break
				}
			}
		}
		out[order][field] = value
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT order_id, status, reason, customer_id, currency, total_cents, lines, version FROM order_view`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, status, reason, customer, currency, lines string
			var total int64
			var version int
			if err := rows.Scan(&id, &status, &reason, &customer, &currency, &total, &lines, &version); err != nil {
				rows.Close()
				return err
			}
			for f, v := range map[string]string{"status": status, "reason": reason, "customerId": customer, "currency": currency,
				"totalCents": fmt.Sprint(total), "lines": lines, "version": fmt.Sprint(version)} {
				set(id, "view."+f, v)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT order_id, version, event_type, data, caused_by FROM order_events`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, typ, data, cause string
			var version int
			if err := rows.Scan(&id, &version, &typ, &data, &cause); err != nil {
				rows.Close()
				return err
			}
			set(id, fmt.Sprintf("events.v%d", version), typ+" caused by "+cause+" "+data)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT order_id, at, event_type, event_id, source, summary FROM order_timeline`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, typ, eventID, source, summary string
			var at int64
			if err := rows.Scan(&id, &at, &typ, &eventID, &source, &summary); err != nil {
				return err
			}
			set(id, "timeline."+eventID, fmt.Sprintf("%s %s from %s: %s", time.UnixMilli(at).UTC().Format(time.RFC3339Nano), typ, source, summary))
		}
		return rows.Err()
	})
	return out, err
}

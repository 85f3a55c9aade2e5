package function

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// migrations of the order function's own tables: the append-only event
// store of the aggregate, and the read model (current state + timeline)
// that queries are served from.
var migrations = []string{
	`CREATE TABLE order_events (
		order_id    TEXT    NOT NULL,
		version     INTEGER NOT NULL,
		event_type  TEXT    NOT NULL,
		data        TEXT    NOT NULL,
		caused_by   TEXT    NOT NULL,
		recorded_at BIGINT  NOT NULL,
		PRIMARY KEY (order_id, version)
	)`,
	`CREATE TABLE order_view (
		order_id    TEXT PRIMARY KEY,
		status      TEXT    NOT NULL,
		reason      TEXT    NOT NULL,
		customer_id TEXT    NOT NULL,
		currency    TEXT    NOT NULL,
		total_cents BIGINT  NOT NULL,
		lines       TEXT    NOT NULL,
		version     INTEGER NOT NULL,
		updated_at  BIGINT  NOT NULL
	)`,
	`CREATE TABLE order_timeline (
		id         {{autoinc}},
		order_id   TEXT   NOT NULL,
		at         BIGINT NOT NULL,
		event_type TEXT   NOT NULL,
		event_id   TEXT   NOT NULL,
		source     TEXT   NOT NULL,
		summary    TEXT   NOT NULL
	)`,
	`CREATE INDEX order_timeline_order ON order_timeline (order_id, id)`,
}

// projections are the order's read models and the version of the code
// that builds each (see store.CheckProjections). The event store is the
// aggregate's truth, versioned with the view folded from it.
var projections = []store.Projection{
	{Name: "view", Version: 1, Tables: []string{"order_view", "order_events"}},
	// timeline 2: order.created's line names tax and destination (v2).
	{Name: "timeline", Version: 2, Tables: []string{"order_timeline"}},
}

// loadOrder folds the aggregate's events, first taking the order's lock for
// the rest of the transaction, so concurrent deliveries about one order
// decide in turn instead of racing to the same version; the primary key on
// (order_id, version) stays the guarantee.
func loadOrder(ctx context.Context, tx *store.Tx, orderID string) (Order, error) {
	if err := tx.Lock(ctx, "order/"+orderID); err != nil {
		return Order{}, err
	}
	rows, err := tx.Query(ctx, `SELECT event_type, data FROM order_events WHERE order_id = ? ORDER BY version`, orderID)
	if err != nil {
		return Order{}, err
	}
	defer rows.Close()
	o := Order{ID: orderID}
	for rows.Next() {
		var typ, raw string
		if err := rows.Scan(&typ, &raw); err != nil {
			return Order{}, err
		}
		// The store keeps each event as it was recorded, older versions
		// included (an order created before v2): fold the current shape.
		current, data, err := events.Unmarshal(typ, []byte(raw))
		if err != nil {
			return Order{}, fmt.Errorf("order %s: stored %w", orderID, err)
		}
		o = o.Apply(current, data)
	}
	return o, rows.Err()
}

// loadCause loads the order an event names (see loadOrder).
func loadCause(ctx context.Context, tx *store.Tx, c cause) (Order, error) {
	return loadOrder(ctx, tx, events.Key(c.data))
}

// saveDecided notes the event in the order's timeline and appends what was
// decided on o (see appendEvents).
func saveDecided(ctx context.Context, tx *store.Tx, c cause, o Order, decided []saga.Emit) error {
	if err := recordTimeline(ctx, tx, o.ID, c.event, timelineNote(c.data, decided)); err != nil {
		return err
	}
	_, err := appendEvents(ctx, tx, o, c.event, decided)
	return err
}

// appendEvents stores the aggregate's new events after version o.Version.
// The primary key (order_id, version) is the optimistic concurrency check:
// if another delivery appended first, the insert fails, the transaction
// rolls back and the edge answers 409 so the event is redelivered against
// the new state. It returns the new state and refreshes the read model.
func appendEvents(ctx context.Context, tx *store.Tx, o Order, cause event.Event, emits []saga.Emit) (Order, error) {
	for _, em := range emits {
		raw, err := json.Marshal(em.Data)
		if err != nil {
			return o, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO order_events (order_id, version, event_type, data, caused_by, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?)`, o.ID, o.Version+1, em.Type, string(raw), cause.ID(), store.NowMillis()); err != nil {
			if store.IsUniqueViolation(err) {
				return o, saga.Conflict("order %s changed concurrently (version %d taken)", o.ID, o.Version+1)
			}
			return o, err
		}
		// Fold the typed copy, as a reload would.
		current, data, err := events.Unmarshal(em.Type, raw)
		if err != nil {
			return o, err
		}
		o = o.Apply(current, data)
	}
	if len(emits) == 0 {
		return o, nil
	}
	return o, saveView(ctx, tx, o)
}

func saveView(ctx context.Context, tx *store.Tx, o Order) error {
	lines, err := json.Marshal(o.Created.Lines)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO order_view (order_id, status, reason, customer_id, currency, total_cents, lines, version, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
			version = excluded.version, updated_at = excluded.updated_at`,
		o.ID, string(o.Status), o.Reason, o.Created.CustomerID, o.Created.Currency, o.Created.TotalCents, string(lines), o.Version, store.NowMillis())
	return err
}

// recordTimeline adds the event to the order's timeline read model.
func recordTimeline(ctx context.Context, tx *store.Tx, orderID string, e event.Event, summary string) error {
	at := e.Time()
	if at.IsZero() {
		at = time.Now()
	}
	_, err := tx.Exec(ctx, `INSERT INTO order_timeline (order_id, at, event_type, event_id, source, summary) VALUES (?, ?, ?, ?, ?, ?)`,
		orderID, at.UnixMilli(), e.Type(), e.ID(), e.Source(), summary)
	return err
}

// readView serves the order query from the read model.
func readView(ctx context.Context, db *store.DB, orderID string) (events.OrderViewData, error) {
	v := events.OrderViewData{OrderID: orderID}
	var status, lines string
	err := db.QueryRow(ctx, `SELECT status, reason, customer_id, currency, total_cents, lines, version FROM order_view WHERE order_id = ?`, orderID).
		Scan(&status, &v.Reason, &v.CustomerID, &v.Currency, &v.TotalCents, &lines, &v.Version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return v, err
	default:
		v.Found, v.Status = true, status
		if err := json.Unmarshal([]byte(lines), &v.Lines); err != nil {
			return v, err
		}
	}
	rows, err := db.Query(ctx, `SELECT at, event_type, event_id, source, summary FROM order_timeline WHERE order_id = ? ORDER BY at, id`, orderID)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	for rows.Next() {
		var t events.TimelineEntry
		var at int64
		if err := rows.Scan(&at, &t.Type, &t.ID, &t.Source, &t.Summary); err != nil {
			return v, err
		}
		t.Time = time.UnixMilli(at).UTC()
		v.Timeline = append(v.Timeline, t)
	}
	return v, rows.Err()
}

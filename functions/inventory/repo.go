package function

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// migrations of the inventory's own tables: the counters per SKU and one
// reservation row per order it has heard of.
var migrations = []string{
	// The CHECKs are the conservation invariant held by the database itself,
	// a last line of defence behind the decisions and the guarded updates.
	`CREATE TABLE stock (
		sku       TEXT PRIMARY KEY,
		initial   BIGINT NOT NULL,
		available BIGINT NOT NULL,
		reserved  BIGINT NOT NULL,
		sold      BIGINT NOT NULL,
		CHECK (available >= 0 AND reserved >= 0 AND sold >= 0),
		CHECK (initial = available + reserved + sold)
	)`,
	`CREATE TABLE reservations (
		order_id   TEXT PRIMARY KEY,
		state      TEXT   NOT NULL,
		lines      TEXT   NOT NULL,
		updated_at BIGINT NOT NULL
	)`,
	`CREATE INDEX reservations_state ON reservations (state)`,
}

// seedStock adds the SKUs the database does not have yet and returns them.
// A SKU already present keeps its counters: a restart, or a changed stock
// setting, never resets stock that orders have moved.
func seedStock(ctx context.Context, db *store.DB, stock map[string]int) (added []string, err error) {
	skus := make([]string, 0, len(stock))
	for sku := range stock {
		skus = append(skus, sku)
	}
	sort.Strings(skus)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		added = added[:0]
		for _, sku := range skus {
			q := stock[sku]
			res, err := tx.Exec(ctx, `INSERT INTO stock (sku, initial, available, reserved, sold) VALUES (?, ?, ?, 0, 0)
				ON CONFLICT (sku) DO NOTHING`, sku, q, q)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				added = append(added, sku)
			}
		}
		return nil
	})
	return added, err
}

// loadReservation reads an order's reservation, first taking the order's
// lock for the rest of the transaction: deliveries about one order (a
// duplicate, a re-sent order.created, confirmed racing cancelled) then
// decide one after the other, each on what the previous one committed.
// Every handler calls it first, so the order's lock always comes before
// any stock row lock.
func loadReservation(ctx context.Context, tx *store.Tx, orderID string) (Reservation, error) {
	r := Reservation{OrderID: orderID}
	if err := tx.Lock(ctx, "inventory/order/"+orderID); err != nil {
		return r, err
	}
	var state, lines string
	err := tx.QueryRow(ctx, `SELECT state, lines FROM reservations WHERE order_id = ?`, orderID).Scan(&state, &lines)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	r.State = State(state)
	if err := json.Unmarshal([]byte(lines), &r.Lines); err != nil {
		return r, fmt.Errorf("reservation of %s: stored lines do not decode: %w", orderID, err)
	}
	return r, nil
}

// loadStock reads the levels of the given SKUs; unknown ones are absent.
// On PostgreSQL it locks their rows until the transaction ends, in SKU
// order (FOR UPDATE locks rows in the order the query returns them): the
// decision is then taken on levels no other order can move meanwhile, and
// two orders naming the same SKUs in another order cannot deadlock.
func loadStock(ctx context.Context, tx *store.Tx, skus []string) (Stock, error) {
	out := Stock{}
	if len(skus) == 0 {
		return out, nil
	}
	args := make([]any, len(skus))
	for i, s := range skus {
		args[i] = s
	}
	rows, err := tx.Query(ctx, `SELECT sku, initial, available, reserved, sold FROM stock WHERE sku IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(skus)), ", ")+`) ORDER BY sku {{forupdate}}`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var l Level
		if err := rows.Scan(&l.SKU, &l.Initial, &l.Available, &l.Reserved, &l.Sold); err != nil {
			return nil, err
		}
		out[l.SKU] = l
	}
	return out, rows.Err()
}

// saveDecision writes a decision made against reservation prev.
//
// Both writes are guarded so that a decision taken on a state that changed
// meanwhile (two deliveries racing on PostgreSQL, where transactions do not
// queue behind one connection as they do on SQLite) is never applied: the
// reservation only moves from the state it was read in, and a counter only
// moves if it stays non-negative. A guard that misses answers 409, so the
// event is redelivered and decided again on the new state.
//
// The counters move in SKU order, the order loadStock locks them in, so a
// transaction that did not lock them first (confirmed, cancelled) still
// takes its row locks in the one global order.
func saveDecision(ctx context.Context, tx *store.Tx, _ string, prev Reservation, d Decision) error {
	moves := slices.Clone(d.Moves)
	slices.SortStableFunc(moves, func(a, b Move) int { return strings.Compare(a.SKU, b.SKU) })
	for _, m := range moves {
		res, err := tx.Exec(ctx, `UPDATE stock SET available = available + ?, reserved = reserved + ?, sold = sold + ?
			WHERE sku = ? AND available + ? >= 0 AND reserved + ? >= 0 AND sold + ? >= 0`,
			m.Available, m.Reserved, m.Sold, m.SKU, m.Available, m.Reserved, m.Sold)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return saga.Conflict("stock of %s changed concurrently (or is not stocked); deciding again", m.SKU)
		}
	}
	if d.Next == nil {
		return nil
	}
	lines, err := json.Marshal(d.Next.Lines)
	if err != nil {
		return err
	}
	if prev.State == StateNone {
		// A concurrent first decision makes this a unique violation, which
		// the edge answers 409 as well.
		_, err := tx.Exec(ctx, `INSERT INTO reservations (order_id, state, lines, updated_at) VALUES (?, ?, ?, ?)`,
			d.Next.OrderID, string(d.Next.State), string(lines), store.NowMillis())
		return err
	}
	res, err := tx.Exec(ctx, `UPDATE reservations SET state = ?, lines = ?, updated_at = ? WHERE order_id = ? AND state = ?`,
		string(d.Next.State), string(lines), store.NowMillis(), d.Next.OrderID, string(prev.State))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return saga.Conflict("reservation of %s changed concurrently; deciding again", d.Next.OrderID)
	}
	return nil
}

// readView serves the inventory query.
func readView(ctx context.Context, db *store.DB) (events.InventoryViewData, error) {
	v := events.InventoryViewData{Stock: []events.StockLevel{}}
	rows, err := db.Query(ctx, `SELECT sku, initial, available, reserved, sold FROM stock ORDER BY sku`)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	for rows.Next() {
		var l events.StockLevel
		if err := rows.Scan(&l.SKU, &l.Initial, &l.Available, &l.Reserved, &l.Sold); err != nil {
			return v, err
		}
		v.Stock = append(v.Stock, l)
	}
	if err := rows.Err(); err != nil {
		return v, err
	}
	err = db.QueryRow(ctx, `SELECT COUNT(*) FROM reservations WHERE state = ?`, string(StateReserved)).Scan(&v.OpenReservations)
	return v, err
}

// skusOf lists the distinct SKUs of an order.
func skusOf(lines []events.PricedLine) []string {
	var out []string
	for _, l := range lines {
		if !slices.Contains(out, l.SKU) {
			out = append(out, l.SKU)
		}
	}
	return out
}

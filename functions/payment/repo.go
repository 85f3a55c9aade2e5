package function

import (
	"context"
	"database/sql"
	"errors"

	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// migrations of the payment function's own table: one row per order it
// has heard of. The money itself is in the gateway's ledger.
var migrations = []string{
	`CREATE TABLE payments (
		order_id     TEXT PRIMARY KEY,
		amount_cents BIGINT NOT NULL,
		currency     TEXT   NOT NULL,
		token        TEXT   NOT NULL,
		state        TEXT   NOT NULL,
		charge_id    TEXT   NOT NULL,
		updated_at   BIGINT NOT NULL
	)`,
}

// loadPayment reads an order's payment, first taking the order's lock for
// the rest of the transaction. Every handler calls it first, so deliveries
// about one order run one after the other, gateway call included. Without
// it, on PostgreSQL, inventory.reserved could charge while a concurrent
// order.cancelled commits "cancelled" over "awaiting stock": the charge's
// guarded update then misses, its retry finds a cancelled payment and
// charges nothing more, and the money taken is never refunded.
func loadPayment(ctx context.Context, tx *store.Tx, orderID string) (Payment, error) {
	p := Payment{OrderID: orderID}
	if err := tx.Lock(ctx, "payment/order/"+orderID); err != nil {
		return p, err
	}
	var state string
	err := tx.QueryRow(ctx, `SELECT amount_cents, currency, token, state, charge_id FROM payments WHERE order_id = ?`, orderID).
		Scan(&p.AmountCents, &p.Currency, &p.Token, &state, &p.ChargeID)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	p.State = State(state)
	return p, err
}

// savePayment writes next over prev. The row only moves from the state it
// was read in: a decision taken on a state that changed meanwhile (two
// deliveries racing on PostgreSQL) answers 409, so the event is decided
// again on the new state. A first insert racing another fails on the
// primary key, which the edge answers 409 as well.
func savePayment(ctx context.Context, tx *store.Tx, _ string, prev Payment, d Decision) error {
	next := d.Next
	if next == nil {
		return nil
	}
	if prev.State == StateNone {
		_, err := tx.Exec(ctx, `INSERT INTO payments (order_id, amount_cents, currency, token, state, charge_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, next.OrderID, next.AmountCents, next.Currency, next.Token, string(next.State), next.ChargeID, store.NowMillis())
		return err
	}
	res, err := tx.Exec(ctx, `UPDATE payments SET amount_cents = ?, currency = ?, token = ?, state = ?, charge_id = ?, updated_at = ?
		WHERE order_id = ? AND state = ?`, next.AmountCents, next.Currency, next.Token, string(next.State), next.ChargeID, store.NowMillis(),
		next.OrderID, string(prev.State))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return saga.Conflict("payment of %s changed concurrently; deciding again", next.OrderID)
	}
	return nil
}

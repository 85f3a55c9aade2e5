package function

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// Gateway is the payment provider as the payment function sees it: an
// external system reached over the network, so any call may fail after the
// provider acted. Both money-moving calls therefore take an idempotency key:
// the provider records the first result under it and answers every later
// call with the same key from that record, without moving money again.
type Gateway interface {
	// Charge takes amountCents from the card behind token. A refusal is a
	// *Declined error; any other error leaves the outcome unknown until the
	// same key is tried again.
	Charge(ctx context.Context, idempotencyKey, orderID string, amountCents int64, currency, token string) (chargeID string, err error)
	// Refund gives back amountCents of a charge.
	Refund(ctx context.Context, idempotencyKey, chargeID string, amountCents int64) (refundID string, err error)
	// Ledger reports the money moved per order (the provider's reporting
	// side): the given orders, each once and in the order asked even when
	// nothing moved, or every order it knows when none is given.
	Ledger(ctx context.Context, orderIDs []string) ([]events.LedgerEntry, error)
	Close() error
}

// Declined is a charge the provider refused: final for that idempotency key.
type Declined struct {
	Reason string // short, machine-readable: card_declined, insufficient_funds, amount_too_large
	Detail string
}

func (d *Declined) Error() string { return "declined: " + d.Reason + ": " + d.Detail }

// Simulator is the built-in deterministic gateway. It declines by rule
// (amount above a limit, or a token on a list) and keeps its ledger in a
// database of its own, apart from the function's, as a real provider would:
// the function's transaction rolling back does not undo a charge.
type Simulator struct {
	db            *store.DB
	declineAbove  int64
	declineTokens []string
}

var gatewayMigrations = []string{
	// Declined charges are recorded too: the idempotency key must answer
	// the same refusal again.
	`CREATE TABLE gateway_charges (
		charge_id       TEXT   PRIMARY KEY,
		idempotency_key TEXT   NOT NULL UNIQUE,
		order_id        TEXT   NOT NULL,
		amount_cents    BIGINT NOT NULL,
		currency        TEXT   NOT NULL,
		outcome         TEXT   NOT NULL,
		decline_reason  TEXT   NOT NULL,
		decline_detail  TEXT   NOT NULL,
		created_at      BIGINT NOT NULL
	)`,
	`CREATE INDEX gateway_charges_order ON gateway_charges (order_id)`,
	`CREATE TABLE gateway_refunds (
		refund_id       TEXT   PRIMARY KEY,
		idempotency_key TEXT   NOT NULL UNIQUE,
		charge_id       TEXT   NOT NULL REFERENCES gateway_charges (charge_id),
		order_id        TEXT   NOT NULL,
		amount_cents    BIGINT NOT NULL,
		created_at      BIGINT NOT NULL
	)`,
	`CREATE INDEX gateway_refunds_order ON gateway_refunds (order_id)`,
}

const (
	outcomeSucceeded = "succeeded"
	outcomeDeclined  = "declined"
)

// OpenSimulator opens (creating if need be) the simulator's ledger at
// rawURL; setting names where the URL came from, for error messages.
func OpenSimulator(ctx context.Context, setting, rawURL string, declineAbove int64, declineTokens []string) (*Simulator, error) {
	db, err := store.Open(ctx, setting, rawURL)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "gateway", gatewayMigrations); err != nil {
		db.Close()
		return nil, err
	}
	return &Simulator{db: db, declineAbove: declineAbove, declineTokens: declineTokens}, nil
}

func (s *Simulator) Close() error { return s.db.Close() }

// decline applies the simulator's rules.
func (s *Simulator) decline(amountCents int64, token string) *Declined {
	if slices.Contains(s.declineTokens, token) {
		reason := strings.TrimPrefix(token, "tok_")
		if reason == "declined" || reason == "" {
			reason = "card_declined"
		}
		return &Declined{Reason: reason, Detail: "the card behind token " + token + " was refused"}
	}
	if amountCents > s.declineAbove {
		return &Declined{Reason: "amount_too_large", Detail: fmt.Sprintf("%d cents is above the limit of %d", amountCents, s.declineAbove)}
	}
	return nil
}

type chargeRecord struct {
	id, orderID, currency, outcome, reason, detail string
	amount                                         int64
}

func (s *Simulator) Charge(ctx context.Context, key, orderID string, amountCents int64, currency, token string) (string, error) {
	var rec chargeRecord
	err := s.inTxOnce(ctx, func(tx *store.Tx) error {
		found, err := findCharge(ctx, tx, `idempotency_key = ?`, key, &rec)
		if err != nil || found {
			return err
		}
		rec = chargeRecord{id: newID("ch_"), orderID: orderID, currency: currency, outcome: outcomeSucceeded, amount: amountCents}
		if d := s.decline(amountCents, token); d != nil {
			rec.outcome, rec.reason, rec.detail = outcomeDeclined, d.Reason, d.Detail
		}
		_, err = tx.Exec(ctx, `INSERT INTO gateway_charges (charge_id, idempotency_key, order_id, amount_cents, currency, outcome, decline_reason, decline_detail, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, rec.id, key, orderID, amountCents, currency, rec.outcome, rec.reason, rec.detail, store.NowMillis())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gateway: charge %s: %w", key, err)
	}
	// A key names one request: reusing it for another is a caller bug that
	// must not be answered with someone else's charge.
	if rec.orderID != orderID || rec.amount != amountCents || rec.currency != currency {
		return "", fmt.Errorf("gateway: idempotency key %q was used for %s %d %s, not %s %d %s",
			key, rec.orderID, rec.amount, rec.currency, orderID, amountCents, currency)
	}
	if rec.outcome == outcomeDeclined {
		return "", &Declined{Reason: rec.reason, Detail: rec.detail}
	}
	return rec.id, nil
}

func (s *Simulator) Refund(ctx context.Context, key, chargeID string, amountCents int64) (string, error) {
	var refundID, refundedCharge string
	var refundedAmount int64
	err := s.inTxOnce(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT refund_id, charge_id, amount_cents FROM gateway_refunds WHERE idempotency_key = ?`, key).
			Scan(&refundID, &refundedCharge, &refundedAmount)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var ch chargeRecord
		found, err := findCharge(ctx, tx, `charge_id = ?`, chargeID, &ch)
		if err != nil {
			return err
		}
		if !found || ch.outcome != outcomeSucceeded {
			return fmt.Errorf("no successful charge %s to refund", chargeID)
		}
		var already int64
		if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM gateway_refunds WHERE charge_id = ?`, chargeID).Scan(&already); err != nil {
			return err
		}
		if amountCents < 0 || already+amountCents > ch.amount {
			return fmt.Errorf("refund of %d cents: charge %s was %d cents, %d refunded already", amountCents, chargeID, ch.amount, already)
		}
		refundID, refundedCharge, refundedAmount = newID("re_"), chargeID, amountCents
		_, err = tx.Exec(ctx, `INSERT INTO gateway_refunds (refund_id, idempotency_key, charge_id, order_id, amount_cents, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, refundID, key, chargeID, ch.orderID, amountCents, store.NowMillis())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gateway: refund %s: %w", key, err)
	}
	if refundedCharge != chargeID || refundedAmount != amountCents {
		return "", fmt.Errorf("gateway: idempotency key %q was used to refund %d cents of %s, not %d cents of %s",
			key, refundedAmount, refundedCharge, amountCents, chargeID)
	}
	return refundID, nil
}

// inTxOnce runs fn in a transaction, once more if it lost a race on an
// idempotency key (a concurrent call with the same key inserted first, on a
// database where calls do not queue): the second run finds that record.
func (s *Simulator) inTxOnce(ctx context.Context, fn func(*store.Tx) error) error {
	err := s.db.InTx(ctx, fn)
	if store.IsUniqueViolation(err) {
		err = s.db.InTx(ctx, fn)
	}
	return err
}

func findCharge(ctx context.Context, tx *store.Tx, where string, arg string, rec *chargeRecord) (bool, error) {
	err := tx.QueryRow(ctx, `SELECT charge_id, order_id, amount_cents, currency, outcome, decline_reason, decline_detail
		FROM gateway_charges WHERE `+where, arg).
		Scan(&rec.id, &rec.orderID, &rec.amount, &rec.currency, &rec.outcome, &rec.reason, &rec.detail)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ledgerChunk bounds the placeholders of one query, well below the limits
// of SQLite (32766) and PostgreSQL (65535).
const ledgerChunk = 500

func (s *Simulator) Ledger(ctx context.Context, orderIDs []string) ([]events.LedgerEntry, error) {
	byOrder := map[string]*events.LedgerEntry{}
	entry := func(id string) *events.LedgerEntry {
		e, ok := byOrder[id]
		if !ok {
			e = &events.LedgerEntry{OrderID: id}
			byOrder[id] = e
		}
		return e
	}
	var wanted []string
	for _, id := range orderIDs {
		if _, seen := byOrder[id]; !seen {
			entry(id)
			wanted = append(wanted, id)
		}
	}
	charges := func(where string, args []any) error {
		rows, err := s.db.Query(ctx, `SELECT order_id,
				CAST(SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT),
				CAST(SUM(CASE WHEN outcome = 'succeeded' THEN amount_cents ELSE 0 END) AS BIGINT),
				CAST(SUM(CASE WHEN outcome = 'declined' THEN 1 ELSE 0 END) AS BIGINT)
			FROM gateway_charges `+where+` GROUP BY order_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n, cents, declines int64
			if err := rows.Scan(&id, &n, &cents, &declines); err != nil {
				return err
			}
			e := entry(id)
			e.Charges, e.ChargedCents, e.Declines = int(n), cents, int(declines)
		}
		return rows.Err()
	}
	refunds := func(where string, args []any) error {
		rows, err := s.db.Query(ctx, `SELECT order_id, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount_cents) AS BIGINT)
			FROM gateway_refunds `+where+` GROUP BY order_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n, cents int64
			if err := rows.Scan(&id, &n, &cents); err != nil {
				return err
			}
			e := entry(id)
			e.Refunds, e.RefundedCents = int(n), cents
		}
		return rows.Err()
	}
	if len(wanted) == 0 {
		if err := charges("", nil); err != nil {
			return nil, err
		}
		if err := refunds("", nil); err != nil {
			return nil, err
		}
		for id := range byOrder {
			wanted = append(wanted, id)
		}
		slices.Sort(wanted)
	} else {
		for chunk := range slices.Chunk(wanted, ledgerChunk) {
			where := `WHERE order_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			if err := charges(where, args); err != nil {
				return nil, err
			}
			if err := refunds(where, args); err != nil {
				return nil, err
			}
		}
	}
	out := make([]events.LedgerEntry, 0, len(wanted))
	for _, id := range wanted {
		out = append(out, *byOrder[id])
	}
	return out, nil
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return prefix + hex.EncodeToString(b)
}

// Package sim is the built-in payment gateway: deterministic, declining
// by rule (an amount above a limit, or a card token on a list), its ledger
// in a database of its own, apart from the payment function's, as a real
// provider's would be: the function's transaction rolling back does not
// undo a charge.
package sim

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"orderflow.dev/functions/payment/gateway"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// Config is how the simulator is opened.
type Config struct {
	// LedgerURL is the simulator's database (sqlite://... or postgres://...);
	// LedgerSetting names where it came from, for error messages.
	LedgerURL     string
	LedgerSetting string
	// DeclineAboveCents: charges above it are declined (amount_too_large).
	DeclineAboveCents int64
	// DeclineTokens: charges with these card tokens are declined.
	DeclineTokens []string
}

// Simulator is the gateway.Gateway it simulates.
type Simulator struct {
	db            *store.DB
	declineAbove  int64
	declineTokens []string
}

var _ gateway.Gateway = (*Simulator)(nil)

var migrations = []string{
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

// Open opens the simulator's ledger, creating its tables if need be.
func Open(ctx context.Context, cfg Config) (*Simulator, error) {
	db, err := store.Open(ctx, cfg.LedgerSetting, cfg.LedgerURL)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "gateway", migrations); err != nil {
		db.Close()
		return nil, err
	}
	return &Simulator{db: db, declineAbove: cfg.DeclineAboveCents, declineTokens: slices.Clone(cfg.DeclineTokens)}, nil
}

func (s *Simulator) Close() error { return s.db.Close() }

// decline applies the simulator's rules.
func (s *Simulator) decline(amountCents int64, token string) *gateway.Declined {
	if slices.Contains(s.declineTokens, token) {
		reason := strings.TrimPrefix(token, "tok_")
		if reason == "declined" || reason == "" {
			reason = "card_declined"
		}
		return &gateway.Declined{Reason: reason, Detail: "the card behind token " + token + " was refused"}
	}
	if amountCents > s.declineAbove {
		return &gateway.Declined{Reason: "amount_too_large", Detail: fmt.Sprintf("%d cents is above the limit of %d", amountCents, s.declineAbove)}
	}
	return nil
}

type chargeRecord struct {
	id, orderID, currency, outcome, reason, detail string
	amount                                         int64
}

// Charge takes req.AmountCents unless a rule declines it; the decline is
// recorded too, so the key answers the same refusal again.
func (s *Simulator) Charge(ctx context.Context, req gateway.ChargeRequest) (string, error) {
	var rec chargeRecord
	err := s.inTxOnce(ctx, func(tx *store.Tx) error {
		found, err := findCharge(ctx, tx, `idempotency_key = ?`, req.IdempotencyKey, &rec)
		if err != nil || found {
			return err
		}
		rec = chargeRecord{id: newID("ch_"), orderID: req.OrderID, currency: req.Currency, outcome: outcomeSucceeded, amount: req.AmountCents}
		if d := s.decline(req.AmountCents, req.Token); d != nil {
			rec.outcome, rec.reason, rec.detail = outcomeDeclined, d.Reason, d.Detail
		}
		_, err = tx.Exec(ctx, `INSERT INTO gateway_charges (charge_id, idempotency_key, order_id, amount_cents, currency, outcome, decline_reason, decline_detail, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, rec.id, req.IdempotencyKey, req.OrderID, req.AmountCents, req.Currency, rec.outcome, rec.reason, rec.detail, store.NowMillis())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gateway: charge %s: %w", req.IdempotencyKey, err)
	}
	// A key names one request: reusing it for another is a caller bug that
	// must not be answered with someone else's charge.
	if rec.orderID != req.OrderID || rec.amount != req.AmountCents || rec.currency != req.Currency {
		return "", fmt.Errorf("gateway: idempotency key %q was used for %s %d %s, not %s %d %s",
			req.IdempotencyKey, rec.orderID, rec.amount, rec.currency, req.OrderID, req.AmountCents, req.Currency)
	}
	if rec.outcome == outcomeDeclined {
		return "", &gateway.Declined{Reason: rec.reason, Detail: rec.detail}
	}
	return rec.id, nil
}

// Refund gives back req.AmountCents of a successful charge, never more in
// all than it took.
func (s *Simulator) Refund(ctx context.Context, req gateway.RefundRequest) (string, error) {
	var refundID, refundedCharge string
	var refundedAmount int64
	err := s.inTxOnce(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT refund_id, charge_id, amount_cents FROM gateway_refunds WHERE idempotency_key = ?`, req.IdempotencyKey).
			Scan(&refundID, &refundedCharge, &refundedAmount)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var ch chargeRecord
		found, err := findCharge(ctx, tx, `charge_id = ?`, req.ChargeID, &ch)
		if err != nil {
			return err
		}
		if !found || ch.outcome != outcomeSucceeded {
			return fmt.Errorf("no successful charge %s to refund", req.ChargeID)
		}
		var already int64
		if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM gateway_refunds WHERE charge_id = ?`, req.ChargeID).Scan(&already); err != nil {
			return err
		}
		if req.AmountCents < 0 || already+req.AmountCents > ch.amount {
			return fmt.Errorf("refund of %d cents: charge %s was %d cents, %d refunded already", req.AmountCents, req.ChargeID, ch.amount, already)
		}
		refundID, refundedCharge, refundedAmount = newID("re_"), req.ChargeID, req.AmountCents
		_, err = tx.Exec(ctx, `INSERT INTO gateway_refunds (refund_id, idempotency_key, charge_id, order_id, amount_cents, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, refundID, req.IdempotencyKey, req.ChargeID, ch.orderID, req.AmountCents, store.NowMillis())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gateway: refund %s: %w", req.IdempotencyKey, err)
	}
	if refundedCharge != req.ChargeID || refundedAmount != req.AmountCents {
		return "", fmt.Errorf("gateway: idempotency key %q was used to refund %d cents of %s, not %d cents of %s",
			req.IdempotencyKey, refundedAmount, refundedCharge, req.AmountCents, req.ChargeID)
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

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A PostgreSQL transaction whose statements travel in pipelines.
//
// Every statement of a delivery used to be a round trip of its own (BEGIN,
// the processed id, the lock, each read, each write, the outbox, COMMIT:
// eight to ten), and on a 2-core machine shared with the server the round
// trips, not the statements, were the cost: a third of each function's CPU
// was the send and receive of each statement, and as much again in the
// server's backends waking up for each. So a statement whose result nobody
// needs yet is queued, not sent: the writes, the advisory locks, BEGIN and
// the savepoints of group commit. The queue goes out in one pipeline (a
// pgx batch) with the next statement whose result is needed, a read, or
// with COMMIT. A delivery then costs three round trips: BEGIN with its
// processed id (the edge needs to know at once whether it is a
// redelivery), the lock with the first read, and the writes with COMMIT.
//
// What changes for callers: a queued statement's error comes back from the
// statement that sent it (the next read, RowsAffected, or COMMIT), not from
// its own Exec. Every function handles a transaction's error where InTx
// returns it, and a unique violation still reads as one (errors.As), so
// the edge still answers 409 for a lost optimistic race.
type pgTx struct {
	conn  *pgx.Conn
	trips *atomic.Int64 // the DB's round trip count
	queue []pgQueued
	// begun: BEGIN has been sent (it goes with the first flush). A
	// transaction that sent nothing commits and rolls back for free.
	begun bool
}

type pgQueued struct {
	sql  string
	args []any
	res  *pgResult
}

// pgResult is a queued statement's result, known once it was sent.
type pgResult struct {
	tx   *pgTx
	ctx  context.Context
	sent bool
	tag  pgconn.CommandTag
	err  error
}

// RowsAffected sends the statement (with whatever queued before it) if it
// has not gone yet.
func (r *pgResult) RowsAffected() (int64, error) {
	if !r.sent {
		if err := r.tx.flush(r.ctx); err != nil && r.err == nil {
			r.err = err
		}
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.tag.RowsAffected(), nil
}

// LastInsertId is not something PostgreSQL answers; use RETURNING.
func (r *pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("store: PostgreSQL has no last insert id; use RETURNING")
}

// exec queues q: it goes out with the next statement whose result is
// needed.
func (t *pgTx) exec(ctx context.Context, q string, args []any) (sql.Result, error) {
	r := &pgResult{tx: t, ctx: ctx}
	t.queue = append(t.queue, pgQueued{sql: q, args: args, res: r})
	return r, nil
}

// batch is the queue as a pipeline, BEGIN first if it has not gone yet;
// the queue is then empty.
func (t *pgTx) batch() (*pgx.Batch, []pgQueued) {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("BEGIN")
	}
	for _, q := range t.queue {
		b.Queue(q.sql, q.args...)
	}
	queued := t.queue
	t.queue = nil
	return b, queued
}

// readQueued reads the results of the queued statements of a pipeline in
// order and returns the first error: the one that aborted the
// transaction, which the statements after it only echo.
func (t *pgTx) readQueued(br pgx.BatchResults, queued []pgQueued) error {
	var first error
	if !t.begun {
		t.begun = true
		if _, err := br.Exec(); err != nil {
			first = fmt.Errorf("store: begin: %w", err)
		}
	}
	for _, q := range queued {
		tag, err := br.Exec()
		q.res.sent, q.res.tag = true, tag
		if err != nil {
			q.res.err = err
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// flush sends what is queued and waits for its results.
func (t *pgTx) flush(ctx context.Context) error {
	if len(t.queue) == 0 {
		return nil
	}
	b, queued := t.batch()
	t.count()
	br := t.conn.SendBatch(ctx, b)
	err := t.readQueued(br, queued)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// query sends the queue and q in one pipeline and returns q's rows.
func (t *pgTx) query(ctx context.Context, q string, args []any) (Rows, error) {
	b, queued := t.batch()
	b.Queue(q, args...)
	t.count()
	br := t.conn.SendBatch(ctx, b)
	if err := t.readQueued(br, queued); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &pgRows{rows: rows, closeAlso: br.Close}, nil
}

func (t *pgTx) queryRow(ctx context.Context, q string, args []any) Row {
	rows, err := t.query(ctx, q, args)
	return &pgRow{rows: rows, err: err}
}

// commit sends the queue with COMMIT; a transaction that sent nothing and
// queued nothing has nothing to commit.
func (t *pgTx) commit(ctx context.Context) error {
	if !t.begun && len(t.queue) == 0 {
		return nil
	}
	_, _ = t.exec(ctx, "COMMIT", nil)
	return t.flush(ctx)
}

// rollbackTo undoes the work since savepoint sp and drops it, at once: in
// a transaction a failed statement aborted, a pipeline cannot even prepare
// its statements, so this goes by the simple protocol, both in one round
// trip. What was queued since is dropped with the work.
func (t *pgTx) rollbackTo(ctx context.Context, sp string) error {
	unsent := slices.ContainsFunc(t.queue, func(q pgQueued) bool { return q.sql == "SAVEPOINT "+sp })
	t.queue = nil
	if unsent || !t.begun {
		return nil // the savepoint and all after it never left: nothing to undo
	}
	t.count()
	return t.conn.PgConn().Exec(ctx, "ROLLBACK TO "+sp+"; RELEASE "+sp).Close()
}

// rollback drops the queue and, if BEGIN went out, rolls back.
func (t *pgTx) rollback(ctx context.Context) error {
	t.queue = nil
	if !t.begun {
		return nil
	}
	t.count()
	return t.conn.PgConn().Exec(ctx, "ROLLBACK").Close()
}

func (t *pgTx) count() {
	if t.trips != nil {
		t.trips.Add(1)
	}
}

// pgRows adapts pgx's rows to Rows; closeAlso ends the pipeline they came
// in.
type pgRows struct {
	rows      pgx.Rows
	closeAlso func() error
	closed    bool
}

func (r *pgRows) Next() bool             { return r.rows.Next() }
func (r *pgRows) Scan(dest ...any) error { return r.rows.Scan(dest...) }
func (r *pgRows) Err() error             { return r.rows.Err() }

func (r *pgRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.rows.Close()
	err := r.rows.Err()
	if r.closeAlso != nil {
		if cerr := r.closeAlso(); err == nil {
			err = cerr
		}
	}
	return err
}

// pgRow is the first row of a query, as database/sql's Row: Scan reports
// sql.ErrNoRows when there is none, which is what callers test for.
type pgRow struct {
	rows Rows
	err  error
}

func (r *pgRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		if err := r.rows.Close(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

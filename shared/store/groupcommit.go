package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Group commit, for SQLite.
//
// SQLite has one writer and the store gives it one connection, so
// concurrent deliveries queue for it anyway; what each then pays alone is
// its COMMIT, the WAL frames written (a tenth to a fifth of a delivery's
// CPU). So the transaction functions of the callers that queued while a
// transaction ran go into one transaction: BEGIN IMMEDIATE, each function
// in a SAVEPOINT of its own (its failure rolls back its own work only), one
// COMMIT. Nothing waits for company: a batch is what queued while the
// previous one ran (natural batching), so a lone caller starts at once and
// runs as it did before, without even a savepoint.
//
// Each function runs in its own caller's goroutine, the callers of a batch
// taking turns: the transaction is handed from one to the next, and
// whoever runs last commits and answers all. So a function keeps its
// caller's stack (a panic unwinds where it started, as it did before), and
// no goroutine lives beside the database.
//
// A caller learns its outcome only once the COMMIT is over, because until
// then nothing it did is durable. If the COMMIT fails, its work is lost
// with everyone else's: it gets the COMMIT's error and its delivery is
// retried. So does a caller whose function failed after another caller's
// work went in: it may have decided on that work (a refusal for good is a
// decision too), which never became durable.

// Group commit on PostgreSQL, and between replicas.
//
// Each delivery takes its locks in one global order (the order's advisory
// lock, then stock rows by SKU), so deliveries that commit alone never
// wait on each other in a cycle. A batch does: it keeps every lock its
// callers took until its one COMMIT, in whatever order the callers came.
// Within one process that is harmless (one batch at a time), but two
// processes on one database (replicas) each hold a batch's rows the other
// wants next. PostgreSQL finds such a cycle only after deadlock_timeout
// (1 s) and aborts one statement, the victim's; its savepoint rolls back,
// but the batch's other rows stay locked, so the next caller of the same
// batch waits on the same rows again, and is the next victim a second
// later: a batch of 16 callers crawled for 16 seconds.
//
// So a batch of several callers waits for a lock at most batchLockTimeout
// (SET LOCAL lock_timeout), and a caller that loses a lock (the timeout,
// or a deadlock) ends the batch early: the work of the callers before it
// commits, releasing their rows for the other process, and the loser and
// the callers not reached go first into the next batch, the loser's
// function run again from the start there (its savepoint undid all of
// it), up to maxLockRetries times before its error is its answer. A lone
// caller has no batch to give up: its deadlock is retried the same way.

// batchLockTimeout bounds a shared batch's wait for a lock: far above a
// commit's fsync and a batch's statements (the longest another process's
// batch holds a row without a cycle, a few milliseconds), far below
// deadlock_timeout.
const batchLockTimeout = "50ms"

// maxLockRetries is how often a caller's function runs again in the next
// batch after losing a lock, before the loss is its answer (and its
// delivery is retried by its source).
const maxLockRetries = 8

// maxGroupCallers bounds a batch, and with it how long a caller's answer
// waits for others: behind 63 functions at most, then the COMMIT.
const maxGroupCallers = 64

// groupSavepoint is the savepoint every caller's work runs in. One name
// serves all: each is released before the next caller's turn.
const groupSavepoint = "orderflow_caller"

// errLeftWithoutReturning is the outcome of a function that panicked or
// ended its goroutine (runtime.Goexit); its caller never reads it, since
// the panic (or the exit) goes on up its goroutine.
var errLeftWithoutReturning = errors.New("store: the transaction function panicked or exited its goroutine")

// groupCommit runs the transaction functions of one database's callers in
// shared transactions, one at a time.
type groupCommit struct {
	db         *DB
	maxCallers int
	afterBatch func(callers int) // tests count batches with it

	mu      sync.Mutex
	waiting []*groupCall // arrived since the last batch formed, oldest first
	// active: a batch runs, or a caller was told to open the next one.
	// While it is false, waiting is empty and a caller opens a batch at once.
	active bool
}

func newGroupCommit(db *DB) *groupCommit {
	return &groupCommit{db: db, maxCallers: maxGroupCallers}
}

// callStage is where a caller is; groupCommit.mu guards it, since the
// caller (abandoning when its context ends) and the batch (handing out
// turns) both move it.
type callStage int

const (
	callWaiting   callStage = iota // in groupCommit.waiting
	callOpening                    // told to open the next batch
	callBatched                    // in a batch, its turn not come yet
	callRunning                    // given its turn
	callAbandoned                  // its context ended before its turn: never runs
)

// wake is what a caller is woken for.
type wake int

const (
	wakeOpen   wake = iota + 1 // open the next batch
	wakeTurn                   // the transaction is yours: run your function
	wakeAnswer                 // the batch is over: err is your answer
)

// groupCall is one caller's place in the queue and its batch. Its
// context and function stay with its own goroutine, the only one that uses
// them: kept here, the function (a closure, a delivery's) would move to the
// heap on every call.
type groupCall struct {
	// wake holds one message at most: each is sent once the one before was
	// received, so a send never blocks.
	wake  chan wake
	stage callStage
	batch *groupBatch
	tx    *Tx   // its view of the transaction, once its turn came
	err   error // its function's error, then its answer
	// workIn: its function returned nil, so its work is in the transaction.
	workIn bool
	// ranAfterWork: when its function ran, other callers' work was in the
	// transaction already, so what it read and decided may rest on it.
	ranAfterWork bool
	// retry: it lost a lock (a timeout or a deadlock) and its work was
	// undone: it runs again in the next batch. lockRetries counts the times.
	retry       bool
	lockRetries int
}

// groupBatch is one shared transaction and the callers it runs.
type groupBatch struct {
	g     *groupCommit
	calls []*groupCall
	// alone backs calls when the batch has one caller, the common case of
	// an idle database, which then allocates no slice for it.
	alone [1]*groupCall
	sqlTx *sql.Tx // SQLite's transaction
	// PostgreSQL's: the pipelined transaction and its pooled connection.
	pg     *pgTx
	pgConn *pgxpool.Conn
	own    Tx // the batch's own statements (savepoints), cached like any
	// shared: more than one caller, so each runs in a savepoint.
	shared bool
	next   int  // index in calls of the next caller to give the turn to
	workIn bool // some caller's work is in the transaction
	// beginErr: BEGIN failed; it is every caller's answer.
	beginErr error
	// broken: a savepoint statement failed, so what the transaction holds
	// is unknown: it is rolled back, the callers that ran get this error and
	// those not reached yet go to the next batch.
	broken error
	// yielded: a caller lost a lock: the batch ends at once, commits the
	// work in, and the loser and those not reached go to the next batch.
	yielded bool
}

// inTx is InTx on SQLite.
func (g *groupCommit) inTx(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &groupCall{wake: make(chan wake, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	opens := !g.active
	if opens {
		g.active = true
		c.stage = callOpening
	}
	g.mu.Unlock()
	if opens {
		g.open()
	}
	err := g.await(ctx, c, fn)
	if c.tx != nil {
		g.db.prepareAll(c.tx.unseen) // once the batch gave the connection back
	}
	return err
}

// await serves c's wake-ups until its answer comes. Its context counts
// until its turn: a caller whose context ends while it waits leaves at
// once with the context's error, and its function never runs; once its
// function ran, it waits for the COMMIT, whose outcome is its answer.
func (g *groupCommit) await(ctx context.Context, c *groupCall, fn func(*Tx) error) error {
	done := ctx.Done()
	for {
		select {
		case w := <-c.wake:
			switch w {
			case wakeOpen:
				g.open()
			case wakeTurn:
				c.batch.takeTurn(ctx, c, fn)
			case wakeAnswer:
				return c.err
			}
		case <-done:
			if g.abandon(c) {
				return ctx.Err()
			}
			done = nil
		}
	}
}

// abandon takes c out of the queue or its batch if its turn has not come,
// and reports whether it did.
func (g *groupCommit) abandon(c *groupCall) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch c.stage {
	case callWaiting:
		if i := slices.Index(g.waiting, c); i >= 0 {
			g.waiting = slices.Delete(g.waiting, i, i+1)
		}
	case callBatched:
	default:
		return false
	}
	c.stage = callAbandoned
	return true
}

// open forms a batch of the callers waiting, begins its transaction and
// hands out the first turn. The opener is the first of them: it arrived
// when no batch was active (so nobody waited), or it was first in the queue
// when the last batch ended.
func (g *groupCommit) open() {
	g.mu.Lock()
	n := min(len(g.waiting), g.maxCallers)
	b := &groupBatch{g: g, shared: n > 1}
	b.calls = b.alone[:]
	if n > 1 {
		b.calls = make([]*groupCall, n)
	}
	copy(b.calls, g.waiting)
	rest := copy(g.waiting, g.waiting[n:])
	clear(g.waiting[rest:])
	g.waiting = g.waiting[:rest]
	for _, c := range b.calls {
		c.stage = callBatched
		c.batch = b
	}
	g.mu.Unlock()
	if g.db.pg != nil {
		// BEGIN is queued: it goes out with the first caller's first
		// statement (pgtx.go).
		conn, err := g.db.pg.Acquire(context.Background())
		if err != nil {
			b.beginErr = fmt.Errorf("store: begin: %w", err)
			b.end()
			return
		}
		b.pgConn, b.pg = conn, &pgTx{conn: conn.Conn(), trips: &g.db.roundTrips}
		b.own = Tx{pg: b.pg, dialect: g.db.dialect, db: g.db}
		if b.shared {
			// Queued too: it goes out with BEGIN.
			_, _ = b.own.Exec(context.Background(), "SET LOCAL lock_timeout = '"+batchLockTimeout+"'")
		}
		b.passOn()
		return
	}
	// Not any caller's context: database/sql rolls a transaction back when
	// the context it began with ends, and this one holds everyone's work.
	sqlTx, err := g.db.sql.BeginTx(context.Background(), nil)
	if err != nil {
		b.beginErr = fmt.Errorf("store: begin: %w", err)
		b.end()
		return
	}
	b.sqlTx = sqlTx
	b.own = Tx{tx: sqlTx, dialect: g.db.dialect, db: g.db}
	b.passOn()
}

// passOn hands the transaction to the next caller still waiting for its
// turn (which may be the goroutine's own caller: it then finds the turn in
// its wake channel), or ends the batch when none is left.
func (b *groupBatch) passOn() {
	g := b.g
	if b.broken == nil && !b.yielded {
		g.mu.Lock()
		for b.next < len(b.calls) {
			c := b.calls[b.next]
			b.next++
			if c.stage == callAbandoned {
				continue
			}
			c.stage = callRunning
			g.mu.Unlock()
			c.wake <- wakeTurn
			return
		}
		g.mu.Unlock()
	}
	b.end()
}

// takeTurn runs c's function, in c's goroutine, and passes the transaction
// on, whatever the function did: returned, panicked or ended the goroutine.
func (b *groupBatch) takeTurn(ctx context.Context, c *groupCall, fn func(*Tx) error) {
	if err := ctx.Err(); err != nil { // ended after the turn was handed over
		c.err = err
		b.passOn()
		return
	}
	if b.shared {
		if _, err := b.own.Exec(context.Background(), "SAVEPOINT "+groupSavepoint); err != nil {
			c.err = b.breaks(fmt.Errorf("store: savepoint: %w", err))
			b.passOn()
			return
		}
	}
	c.tx = &Tx{tx: b.sqlTx, pg: b.pg, dialect: b.g.db.dialect, db: b.g.db, shared: b.shared}
	c.ranAfterWork = b.workIn
	returned := false
	defer func() {
		if !returned {
			// A panic (or runtime.Goexit) on its way up the caller's own
			// goroutine: its work goes and the batch goes on, and the panic
			// is not stopped. So the caller panics as it did before group
			// commit, with the same value (net/http compares it with
			// http.ErrAbortHandler) and the function's frames in the trace,
			// which an error returned instead would lose.
			b.endTurn(c, errLeftWithoutReturning)
			b.passOn()
		}
	}()
	err := fn(c.tx)
	returned = true
	b.endTurn(c, err)
	b.passOn()
}

// endTurn keeps c's work when its function returned nil and rolls it back
// otherwise.
func (b *groupBatch) endTurn(c *groupCall, err error) {
	c.err = err
	if !b.shared { // no savepoint: the batch ends with this caller
		c.workIn = err == nil
		b.workIn = b.workIn || c.workIn
		if err != nil && b.pg != nil {
			b.retryOnLockLoss(c, err) // the batch rolls back: nothing of it stays
		}
		return
	}
	ctx := context.Background()
	if err == nil {
		_, rerr := b.own.Exec(ctx, "RELEASE "+groupSavepoint)
		if rerr == nil {
			rerr = b.settle(ctx)
		}
		switch {
		case rerr == nil:
			c.workIn, b.workIn = true, true
			return
		case b.pg == nil:
			c.err = b.breaks(fmt.Errorf("store: release savepoint: %w", rerr))
			return
		}
		// PostgreSQL: a statement the function queued failed as its turn
		// ended (a lost race on a unique key, say): the function failed,
		// and its savepoint undoes it as below.
		err = rerr
		c.err = rerr
	}
	if b.pg != nil {
		if rerr := b.pg.rollbackTo(ctx, groupSavepoint); rerr != nil {
			b.breaks(fmt.Errorf("store: rollback to savepoint, after %v: %w", err, rerr))
			return
		}
		if b.retryOnLockLoss(c, err) {
			b.yielded = true
		}
		return
	}
	// ROLLBACK TO undoes the work and keeps the savepoint; RELEASE drops it.
	if _, rerr := b.own.Exec(ctx, "ROLLBACK TO "+groupSavepoint); rerr != nil {
		b.breaks(fmt.Errorf("store: rollback to savepoint, after %v: %w", err, rerr))
		return
	}
	if _, rerr := b.own.Exec(ctx, "RELEASE "+groupSavepoint); rerr != nil {
		b.breaks(fmt.Errorf("store: release savepoint: %w", rerr))
		return
	}
	if rerr := b.settle(ctx); rerr != nil {
		b.breaks(fmt.Errorf("store: rollback to savepoint, after %v: %w", err, rerr))
	}
}

// retryOnLockLoss marks c to run again in the next batch when err is a
// lost lock and c has retries left, and reports whether it did. Its work
// must be undone already (its savepoint, or the whole transaction).
func (b *groupBatch) retryOnLockLoss(c *groupCall, err error) bool {
	if !IsLockLoss(err) || c.lockRetries >= maxLockRetries {
		return false
	}
	c.lockRetries++
	c.retry = true
	b.g.db.lockLosses.Add(1)
	return true
}

// settle sends what the turn queued (PostgreSQL; on SQLite every statement
// has run already), so that a failure is the turn's own, not the next
// caller's.
func (b *groupBatch) settle(ctx context.Context) error {
	if b.pg == nil {
		return nil
	}
	return b.pg.flush(ctx)
}

// endPostgres commits or rolls back the pipelined transaction and gives
// its connection back; it returns the batch's failure.
func (b *groupBatch) endPostgres() error {
	ctx := context.Background()
	var failure error
	switch {
	case b.broken != nil:
		_ = b.pg.rollback(ctx)
		failure = b.broken
	case b.workIn:
		if err := b.pg.commit(ctx); err != nil {
			_ = b.pg.rollback(ctx)
			failure = fmt.Errorf("store: commit: %w", err)
		}
	default:
		_ = b.pg.rollback(ctx)
	}
	releasePg(b.pgConn, b.pg)
	return failure
}

// breaks records that the transaction can no longer be trusted (a
// savepoint statement failed: an I/O error, or SQLite rolled the whole
// transaction back after an interrupted write) and returns err.
func (b *groupBatch) breaks(err error) error {
	if b.broken == nil {
		b.broken = err
	}
	return err
}

// end commits what the batch holds, or rolls it back, then opens the next
// batch and answers every caller of this one.
func (b *groupBatch) end() {
	g := b.g
	failure := b.beginErr
	switch {
	case b.pg != nil:
		failure = b.endPostgres()
	case b.sqlTx == nil:
	case b.broken != nil:
		_ = b.sqlTx.Rollback()
		failure = b.broken
	case b.workIn:
		if err := b.sqlTx.Commit(); err != nil {
			failure = fmt.Errorf("store: commit: %w", err)
		}
	default: // every function failed, or none ran: nothing to keep
		_ = b.sqlTx.Rollback()
	}
	if len(b.own.unseen) > 0 {
		g.db.prepareAll(b.own.unseen) // the connection is free until the next batch begins
	}

	g.mu.Lock()
	var room [maxGroupCallers]*groupCall // on the stack: no allocation per batch
	answered := room[:0]
	var notReached []*groupCall
	for _, c := range b.calls {
		switch c.stage {
		case callAbandoned:
			continue
		case callBatched: // never given its turn: BEGIN failed, the transaction broke first, or a caller lost a lock
			if b.broken != nil || b.yielded {
				c.stage = callWaiting
				notReached = append(notReached, c)
				continue
			}
			c.stage = callRunning // answered now: its context no longer counts
			c.err = failure
		default:
			if c.retry && b.broken == nil {
				// Lost a lock, its work undone: it runs again, first.
				c.retry, c.err, c.workIn, c.ranAfterWork = false, nil, false, false
				c.stage = callWaiting
				notReached = append(notReached, c)
				continue
			}
			if failure != nil && (c.workIn || c.ranAfterWork) {
				c.err = failure
			}
		}
		answered = append(answered, c)
	}
	if len(notReached) > 0 {
		g.waiting = append(notReached, g.waiting...)
	}
	var opener *groupCall
	if len(g.waiting) > 0 {
		opener = g.waiting[0]
		opener.stage = callOpening
	} else {
		g.active = false
	}
	g.mu.Unlock()

	if g.afterBatch != nil {
		g.afterBatch(len(b.calls))
	}
	// The next batch first: it needs the connection only, and its BEGIN
	// then overlaps with these callers' wake-ups.
	if opener != nil {
		opener.wake <- wakeOpen
	}
	for _, c := range answered {
		c.wake <- wakeAnswer
	}
}

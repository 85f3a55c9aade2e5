package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// groupDB is a fresh database (SQLite, or PostgreSQL when the tests run
// there) with the edge's tables and a table of state, whose row "taken"
// exists so that a caller can lose a race on it.
func groupDB(t *testing.T) (*store.DB, *batchSizes) {
	t.Helper()
	db := openTemp(t)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE state (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO state (id, n) VALUES ('taken', 0)`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sizes := &batchSizes{}
	store.ObserveGroupCommit(db, sizes.add)
	return db, sizes
}

// batchSizes records the size of every batch, in the order they ended.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) add(n int) {
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
}

func (b *batchSizes) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

// deliver does what a delivery does in its transaction: records the event
// as processed, changes the state, writes an event to the outbox.
func deliver(ctx context.Context, tx *store.Tx, id string) error {
	if _, err := tx.MarkProcessed(ctx, "test", "/group", id, "t"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO state (id, n) VALUES (?, 1)`, id); err != nil {
		return err
	}
	return tx.Enqueue(ctx, storetest.OutboxEvent(id, "key-"+id))
}

// delivered reports whether each of the three rows of id is there, and
// fails the test if only some of them are.
func delivered(t *testing.T, db *store.DB, id string) bool {
	t.Helper()
	ctx := context.Background()
	var processed, state, outbox int
	for _, c := range []struct {
		q string
		n *int
	}{
		{`SELECT COUNT(*) FROM processed_events WHERE event_id = ?`, &processed},
		{`SELECT COUNT(*) FROM state WHERE id = ?`, &state},
		{`SELECT COUNT(*) FROM outbox WHERE event_id = ?`, &outbox},
	} {
		if err := db.QueryRow(ctx, c.q, id).Scan(c.n); err != nil {
			t.Fatal(err)
		}
	}
	if processed != state || state != outbox || processed > 1 {
		t.Errorf("%s: processed %d, state %d, outbox %d: not all or nothing", id, processed, state, outbox)
	}
	return processed == 1
}

// hold starts a caller whose transaction lasts until release is called, so
// that the callers queued meanwhile form the next batches.
func hold(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	running, released, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		finished <- db.InTx(context.Background(), func(tx *store.Tx) error {
			close(running)
			<-released
			return deliver(context.Background(), tx, "holder")
		})
	}()
	<-running
	return func() {
		close(released)
		if err := <-finished; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
}

// queueInOrder starts each call in its goroutine once the one before it is
// queued, so that the batches take them in this order.
func queueInOrder(t *testing.T, db *store.DB, calls ...func()) {
	t.Helper()
	for i, call := range calls {
		go call()
		waitFor(t, fmt.Sprintf("caller %d to queue", i), func() bool { return store.GroupCommitWaiting(db) == i+1 })
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Callers queued behind a running transaction share the next ones, at most
// SetMaxGroupCallers each, and every caller gets its own outcome: work of a
// caller that succeeded is there; one that failed, lost a race on a unique
// key, panicked or ended its goroutine left nothing and did not disturb the
// others; one whose context ended before its turn got the context's error
// and its function never ran, whether it waited in the queue or in a batch.
func TestGroupCommitKeepsEveryCallersOutcomeApart(t *testing.T) {
	db, sizes := groupDB(t)
	// Eight kinds of caller in turn; those of one round that are left once
	// the ones cancelled in the queue are gone (seven) fill batches of 14
	// exactly, so a caller cancelled by another of its round is always in
	// the same batch as it: its turn has not come yet.
	const callers, maxBatch = 96, 14
	store.SetMaxGroupCallers(db, maxBatch)

	type kind int
	const (
		succeeds kind = iota
		fails
		losesARace
		panics
		cancelledInTheQueue
		succeedsCancellingALaterOne
		exitsItsGoroutine
		cancelledInTheBatch
		kinds
	)
	type outcome struct {
		ran       bool
		returned  bool
		err       error
		recovered any
	}
	type panicValue struct{ caller int }
	outcomes := make([]outcome, callers)
	cancels := make([]context.CancelFunc, callers)
	ctxs := make([]context.Context, callers)
	failures := make([]error, callers)
	var all sync.WaitGroup
	calls := make([]func(), callers)
	for i := range callers {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		failures[i] = fmt.Errorf("caller %d fails", i)
		id := fmt.Sprintf("c%d", i)
		k := kind(i % int(kinds))
		all.Add(1)
		calls[i] = func() {
			defer all.Done()
			defer func() { outcomes[i].recovered = recover() }()
			err := db.InTx(ctxs[i], func(tx *store.Tx) error {
				outcomes[i].ran = true
				if err := deliver(ctxs[i], tx, id); err != nil {
					return err
				}
				switch k {
				case fails:
					return failures[i]
				case losesARace:
					_, err := tx.Exec(ctxs[i], `INSERT INTO state (id, n) VALUES ('taken', 1)`)
					return err
				case panics:
					panic(panicValue{i})
				case exitsItsGoroutine:
					runtime.Goexit()
				case succeedsCancellingALaterOne:
					cancels[i+2]()
				}
				return nil
			})
			outcomes[i].returned, outcomes[i].err = true, err
		}
	}

	release := hold(t, db)
	queueInOrder(t, db, calls...)
	for i := range callers {
		if kind(i%int(kinds)) == cancelledInTheQueue {
			cancels[i]()
		}
	}
	left := callers - callers/int(kinds)
	waitFor(t, "cancelled callers to leave the queue", func() bool { return store.GroupCommitWaiting(db) == left })
	release()
	all.Wait()

	for i, o := range outcomes {
		id := fmt.Sprintf("c%d", i)
		there := delivered(t, db, id)
		switch k := kind(i % int(kinds)); k {
		case succeeds, succeedsCancellingALaterOne:
			if !o.returned || o.err != nil || !there {
				t.Errorf("%s succeeds: returned %v with %v; rows there: %v", id, o.returned, o.err, there)
			}
		case fails:
			if !errors.Is(o.err, failures[i]) || there {
				t.Errorf("%s fails: returned %v; rows there: %v", id, o.err, there)
			}
		case losesARace:
			if !store.IsUniqueViolation(o.err) || there {
				t.Errorf("%s loses a race: returned %v; rows there: %v", id, o.err, there)
			}
		case panics:
			if o.returned || o.recovered != (panicValue{i}) || there {
				t.Errorf("%s panics: returned %v, recovered %v; rows there: %v", id, o.returned, o.recovered, there)
			}
		case exitsItsGoroutine:
			if o.returned || o.recovered != nil || there {
				t.Errorf("%s exits: returned %v, recovered %v; rows there: %v", id, o.returned, o.recovered, there)
			}
		case cancelledInTheQueue, cancelledInTheBatch:
			if o.ran || !errors.Is(o.err, context.Canceled) || there {
				t.Errorf("%s cancelled before its turn: ran %v, returned %v; rows there: %v", id, o.ran, o.err, there)
			}
		}
	}
	if !delivered(t, db, "holder") {
		t.Error("the holder's work is missing")
	}
	// The holder alone, then the callers left in the queue in batches of
	// maxBatch, the last one what remains.
	want := []int{1}
	for n := left; n > 0; n -= maxBatch {
		want = append(want, min(n, maxBatch))
	}
	if got := sizes.get(); !slices.Equal(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

// When the COMMIT fails, nothing of the batch is kept, so no caller of it
// may be told otherwise: every caller whose work was in it gets the
// error, and so does one that failed after another's work went in (it may
// have decided on that work). One that failed before any work went in
// decided on committed state only and keeps its own error. The COMMIT is
// made to fail by a deferred foreign key: both databases check it at
// COMMIT, so the insert of a child without a parent succeeds and the
// COMMIT fails.
func TestGroupCommitFailureFailsEveryCallerOfTheBatch(t *testing.T) {
	db, sizes := groupDB(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE parent (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE child (id TEXT PRIMARY KEY,
		parent_id TEXT NOT NULL REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	failsFirst, failsAfterWork := errors.New("fails first"), errors.New("fails after work")
	fns := []struct {
		id string
		fn func(tx *store.Tx) error
	}{
		{"fails-first", func(tx *store.Tx) error { return failsFirst }},
		{"ok-1", func(tx *store.Tx) error { return deliver(ctx, tx, "ok-1") }},
		{"orphan", func(tx *store.Tx) error {
			if err := deliver(ctx, tx, "orphan"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO child (id, parent_id) VALUES ('orphan', 'nobody')`)
			return err
		}},
		{"fails-after-work", func(tx *store.Tx) error { return failsAfterWork }},
		{"ok-2", func(tx *store.Tx) error { return deliver(ctx, tx, "ok-2") }},
	}
	errs := make([]error, len(fns))
	var all sync.WaitGroup
	calls := make([]func(), len(fns))
	for i, f := range fns {
		all.Add(1)
		calls[i] = func() {
			defer all.Done()
			errs[i] = db.InTx(ctx, f.fn)
		}
	}
	release := hold(t, db)
	queueInOrder(t, db, calls...)
	release()
	all.Wait()

	for i, f := range fns {
		switch err := errs[i]; f.id {
		case "fails-first":
			if !errors.Is(err, failsFirst) {
				t.Errorf("%s: %v, want its own error", f.id, err)
			}
		default:
			// SQLite: "FOREIGN KEY constraint failed"; PostgreSQL: "violates
			// foreign key constraint".
			if err == nil || !strings.Contains(err.Error(), "commit") || !strings.Contains(strings.ToLower(err.Error()), "foreign key constraint") {
				t.Errorf("%s: %v, want the COMMIT's error", f.id, err)
			}
		}
		if delivered(t, db, f.id) {
			t.Errorf("%s: its work was kept", f.id)
		}
	}
	if got := sizes.get(); !slices.Equal(got, []int{1, len(fns)}) {
		t.Errorf("batches %v, want the holder alone, then the %d callers together", got, len(fns))
	}
	if !delivered(t, db, "holder") {
		t.Error("the holder's batch committed before; its work is missing")
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return deliver(ctx, tx, "after") }); err != nil || !delivered(t, db, "after") {
		t.Fatalf("after the failed COMMIT: %v", err)
	}
}

// A caller alone (nothing queued behind a running transaction) has a batch
// of its own: nothing waits for company.
func TestGroupCommitLoneCallerRunsAlone(t *testing.T) {
	db, sizes := groupDB(t)
	ctx := context.Background()
	for i := range 5 {
		id := fmt.Sprintf("alone-%d", i)
		start := time.Now()
		if err := db.InTx(ctx, func(tx *store.Tx) error { return deliver(ctx, tx, id) }); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", id, time.Since(start))
		if !delivered(t, db, id) {
			t.Fatalf("%s missing", id)
		}
	}
	if got := sizes.get(); !slices.Equal(got, []int{1, 1, 1, 1, 1}) {
		t.Fatalf("batches %v, want five of one", got)
	}
	failure := errors.New("no")
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := deliver(ctx, tx, "alone-fails"); err != nil {
			return err
		}
		return failure
	}); !errors.Is(err, failure) || delivered(t, db, "alone-fails") {
		t.Fatalf("a lone caller that fails: %v", err)
	}
}

// Callers that arrive together, as a KafkaSource's partitions deliver,
// share transactions without anyone arranging it.
func TestGroupCommitBatchesFormUnderConcurrency(t *testing.T) {
	db, sizes := groupDB(t)
	const workers, each = 8, 40
	ctx := context.Background()
	var all sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		all.Add(1)
		go func() {
			defer all.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				errs <- db.InTx(ctx, func(tx *store.Tx) error { return deliver(ctx, tx, id) })
			}
		}()
	}
	all.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for w := range workers {
		for i := range each {
			if id := fmt.Sprintf("w%d-%d", w, i); !delivered(t, db, id) {
				t.Errorf("%s missing", id)
			}
		}
	}
	got := sizes.get()
	total := 0
	for _, n := range got {
		total += n
	}
	t.Logf("%d calls in %d batches, the largest of %d", total, len(got), slices.Max(got))
	if total != workers*each || slices.Max(got) < 2 {
		t.Fatalf("%d calls in %d batches %v: none shared a transaction", total, len(got), got)
	}
}

// cancelMidWrite is what the SQL function cancel_mid_write() calls: a way
// to end a context while a statement of it runs, at a row of our choosing.
var cancelMidWrite atomic.Pointer[context.CancelFunc]

func init() {
	sqlite.MustRegisterDeterministicScalarFunction("cancel_mid_write", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		if cancel := cancelMidWrite.Load(); cancel != nil {
			(*cancel)()
			// The driver interrupts from a goroutine of its own once the
			// context ends: give it the time to, before the write goes on.
			time.Sleep(50 * time.Millisecond)
		}
		return int64(1), nil
	})
}

// A caller's context that ends while its write runs in a shared
// transaction does not interrupt that write: SQLite would roll back the
// whole transaction, other callers' work with it. The write completes and
// commits with the rest.
func TestGroupCommitCancelledWriteSparesTheBatch(t *testing.T) {
	if storetest.OnPostgres() {
		t.Skip("interrupts a write from inside SQLite (a function of its own); on PostgreSQL a shared transaction's statements run without their caller's context")
	}
	db, _ := groupDB(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE slow (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	var firstErr, slowErr error
	var all sync.WaitGroup
	all.Add(2)
	release := hold(t, db)
	queueInOrder(t, db,
		func() {
			defer all.Done()
			firstErr = db.InTx(ctx, func(tx *store.Tx) error { return deliver(ctx, tx, "first") })
		},
		func() {
			defer all.Done()
			slowCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			cancelMidWrite.Store(&cancel)
			defer cancelMidWrite.Store(nil)
			slowErr = db.InTx(slowCtx, func(tx *store.Tx) error {
				// The context ends at the 100th row of 5,000: thousands of
				// steps later, where the driver checks for an interrupt.
				_, err := tx.Exec(slowCtx, `INSERT INTO slow (x) SELECT max(x) FROM
					(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
					SELECT CASE WHEN x = 100 THEN cancel_mid_write() ELSE x END AS x FROM c)`)
				return err
			})
		})
	release()
	all.Wait()
	if firstErr != nil || !delivered(t, db, "first") {
		t.Errorf("the caller before: %v", firstErr)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM slow`).Scan(&n); slowErr != nil || err != nil || n != 1 {
		t.Errorf("the cancelled write: %v, %d row(s) (%v)", slowErr, n, err)
	}
}

package store_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
	"testing"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

func requirePostgres(t *testing.T) {
	t.Helper()
	if !storetest.OnPostgres() {
		t.Skip("pipelines are PostgreSQL's; needs " + storetest.PostgresEnv)
	}
}

// A delivery's transaction on PostgreSQL is two round trips: BEGIN, the
// processed id (Guard), the lock and the first read together, then the
// writes with COMMIT. It was one per statement.
func TestPostgresDeliveryIsTwoRoundTrips(t *testing.T) {
	requirePostgres(t)
	db := openTemp(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	before := db.RoundTrips()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Guard(ctx, "probe", "/test", "e-1", "dev.orderflow.test.v1"); err != nil {
			return err
		}
		if err := tx.Lock(ctx, "thing/a"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT n FROM things WHERE id = ?`, "a").Scan(&n); !errors.Is(err, sql.ErrNoRows) {
			return errors.Join(err, errors.New("want no row"))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO things (id, n) VALUES (?, ?)`, "a", 1); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE things SET n = n + 1 WHERE id = ?`, "a"); err != nil {
			return err
		}
		return tx.Enqueue(ctx, storetest.OutboxEvent("out-1", "a"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.RoundTrips() - before; got != 2 {
		t.Errorf("the delivery took %d round trips, want 2", got)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT n FROM things WHERE id = ?`, "a").Scan(&n); err != nil || n != 2 {
		t.Fatalf("committed n = %d (%v), want 2", n, err)
	}
}

// takenThing makes a table of things whose id "taken" exists, for a write
// to lose a race on.
func takenThing(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{`CREATE TABLE things (id TEXT PRIMARY KEY)`, `INSERT INTO things (id) VALUES ('taken')`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// A queued write that fails (a unique key lost to another transaction)
// fails the transaction where InTx returns, as a unique violation, and
// nothing of the transaction stays: the write after it neither.
func TestPostgresQueuedWriteFailsTheTransaction(t *testing.T) {
	requirePostgres(t)
	db := openTemp(t)
	ctx := context.Background()
	takenThing(t, db)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ('before')`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ('taken')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ('after')`)
		return err
	})
	if !store.IsUniqueViolation(err) {
		t.Fatalf("InTx: %v, want a unique violation", err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM things`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows after the failed transaction (%v), want only the one from before it", n, err)
	}
	// The connection went back to the pool in a clean state: the next
	// transaction works.
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ('next')`)
		return err
	}); err != nil {
		t.Fatalf("the next transaction: %v", err)
	}
}

// In a shared (group-commit) transaction, a caller whose queued write
// fails loses its own work only: the callers before and after it commit.
func TestPostgresGroupCallerFailsAlone(t *testing.T) {
	requirePostgres(t)
	db := openTemp(t)
	ctx := context.Background()
	takenThing(t, db)
	var batches []int
	store.ObserveGroupCommit(db, func(n int) { batches = append(batches, n) })
	// Hold the database with a first caller while the others queue, so
	// they share the next transaction.
	hold := make(chan struct{})
	holding := make(chan struct{})
	go func() {
		_ = db.InTx(ctx, func(*store.Tx) error { close(holding); <-hold; return nil })
	}()
	<-holding
	ids := []string{"a", "taken", "b"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			errs[i] = db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES (?)`, id)
				return err
			})
		})
	}
	for store.GroupCommitWaiting(db) < len(ids) {
		runtime.Gosched()
	}
	close(hold)
	wg.Wait()
	if errs[0] != nil || errs[2] != nil || !store.IsUniqueViolation(errs[1]) {
		t.Fatalf("answers %v, want nil, a unique violation, nil", errs)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM things WHERE id IN ('a', 'b')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d of a, b committed (%v), want both", n, err)
	}
	if len(batches) < 2 || batches[len(batches)-1] != len(ids) {
		t.Fatalf("batches %v: the three callers did not share one", batches)
	}
}

// A redelivery's Guard fails the reaction's first read on PostgreSQL (and
// answers at once on SQLite) with an error IsAlreadyProcessed reports, and
// nothing the reaction did stays.
func TestGuardFailsARedelivery(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	takenThing(t, db)
	deliver := func(id string) error {
		return db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.Guard(ctx, "probe", "/test", "e-1", "dev.orderflow.test.v1"); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM things`).Scan(&n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES (?)`, id)
			return err
		})
	}
	if err := deliver("first"); err != nil {
		t.Fatal(err)
	}
	if err := deliver("again"); !store.IsAlreadyProcessed(err) {
		t.Fatalf("the redelivery: %v, want already processed", err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM things WHERE id = 'again'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the redelivery's write: %d row(s) (%v), want none", n, err)
	}
}

package store_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// Two processes (two handles) on one PostgreSQL database, each delivery
// locking two of a few hot rows in one global order, many at once: with
// separate commits none deadlocks. With group commit on both, a batch
// holds every lock of its deliveries until its one COMMIT, and the two
// processes' batches wait on each other; a caller that loses a lock ends
// its batch early and runs again in the next (groupcommit.go). Before
// that, each caller of a batch was a deadlock victim in turn, one per
// deadlock_timeout, and this test crawled past its timeout. Either way
// every transaction commits, and the counts add up.
func TestReplicasDoNotDeadlock(t *testing.T) {
	for _, group := range []bool{false, true} {
		name := "separate commits"
		if group {
			name = "group commit"
		}
		t.Run(name, func(t *testing.T) { replicasOnHotRows(t, group) })
	}
}

func replicasOnHotRows(t *testing.T, group bool) {
	if !storetest.OnPostgres() {
		t.Skip("SQLite: one process per database (a second handle is refused at open)")
	}
	ctx := context.Background()
	url := storetest.URL(t, "hot")
	var dbs []*store.DB
	for range 2 {
		db, err := store.Open(ctx, "TEST_DATABASE_URL", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if !group {
			db.SeparateCommits()
		}
		dbs = append(dbs, db)
	}
	if err := dbs[0].Migrate(ctx, "hot", []string{`CREATE TABLE hot (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO hot (id, n) VALUES (0, 0), (1, 0), (2, 0), (3, 0)`}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 40
	errs := make(chan error, 2*workers*each)
	var wg sync.WaitGroup
	for w := range 2 * workers {
		db := dbs[w%2]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range each {
				a, b := rng.IntN(4), rng.IntN(4)
				if a > b {
					a, b = b, a
				}
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for _, id := range []int{a, b} {
						if _, err := tx.Exec(ctx, `UPDATE hot SET n = n + 1 WHERE id = ?`, id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		t.Fatalf("%d of %d transactions failed, the first: %v", len(all), 2*workers*each, errors.Join(all[0]))
	}
	var total int
	if err := dbs[0].QueryRow(ctx, `SELECT SUM(n) FROM hot`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if want := 2 * 2 * workers * each; total != want {
		t.Fatalf("sum %d, want %d", total, want)
	}
	t.Logf("transaction functions run again after losing a lock: %d and %d", dbs[0].LockLosses(), dbs[1].LockLosses())
}

package store_test

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"testing"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// Two processes (two handles) on one PostgreSQL database, each delivery
// locking two of a few hot rows in one global order, many at once: with
// separate commits none deadlocks. (With group commit on both, a batch
// holds every lock of its deliveries until its one COMMIT, and the two
// processes' batches deadlock: every retried delivery of a 2-replica run
// was one. Run with -run ... -args -groupcommit to see it.)
func TestReplicasCommittingSeparatelyDoNotDeadlock(t *testing.T) {
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
		if !*groupCommit {
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
}

// groupCommit runs the test with group commit on, to see the deadlocks it
// guards against.
var groupCommit = flag.Bool("groupcommit", false, "TestReplicasCommittingSeparatelyDoNotDeadlock with group commit on")

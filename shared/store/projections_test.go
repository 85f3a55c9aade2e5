package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

func openProjected(t *testing.T) *store.DB {
	t.Helper()
	db := openTemp(t)
	ctx := context.Background()
	if err := db.Migrate(ctx, "orderflow-projections", store.ProjectionMigrations); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "shop", []string{`CREATE TABLE shop_rows (id TEXT PRIMARY KEY)`}); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestProjectionVersions(t *testing.T) {
	ctx := context.Background()
	v := func(n int) []store.Projection {
		return []store.Projection{{Name: "rows", Version: n, Tables: []string{"shop_rows"}}}
	}

	t.Run("a fresh store takes the code's version and keeps it", func(t *testing.T) {
		db := openProjected(t)
		if err := db.CheckProjections(ctx, "shop", v(3)); err != nil {
			t.Fatal(err)
		}
		if got, known, err := db.ProjectionVersion(ctx, "shop", "rows"); err != nil || !known || got != 3 {
			t.Fatalf("stored version %d %v %v, want 3", got, known, err)
		}
		if err := db.CheckProjections(ctx, "shop", v(3)); err != nil {
			t.Fatalf("same version again: %v", err)
		}
	})

	t.Run("another version of the code is refused, naming the projection and the replay", func(t *testing.T) {
		db := openProjected(t)
		if err := db.CheckProjections(ctx, "shop", v(1)); err != nil {
			t.Fatal(err)
		}
		err := db.CheckProjections(ctx, "shop", v(2))
		var pe *store.ProjectionVersionError
		if !errors.As(err, &pe) || pe.Stored != 1 || pe.Code != 2 || pe.Projection != "rows" {
			t.Fatalf("got %v, want a version error 1 vs 2", err)
		}
		for _, want := range []string{"shop/rows", "version 1", "version 2", "orderflow replay shop"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		}
		if got, _, _ := db.ProjectionVersion(ctx, "shop", "rows"); got != 1 {
			t.Errorf("a refused check changed the stored version to %d", got)
		}
	})

	t.Run("rows built before versions existed count as version 1", func(t *testing.T) {
		db := openProjected(t)
		if _, err := db.Exec(ctx, `INSERT INTO shop_rows (id) VALUES ('a')`); err != nil {
			t.Fatal(err)
		}
		var pe *store.ProjectionVersionError
		if err := db.CheckProjections(ctx, "shop", v(2)); !errors.As(err, &pe) || pe.Stored != store.UnversionedProjection {
			t.Fatalf("got %v, want stored version %d refused", err, store.UnversionedProjection)
		}
		if err := db.CheckProjections(ctx, "shop", v(1)); err != nil {
			t.Fatalf("version 1 over unversioned rows: %v", err)
		}
	})
}

// Replicas of a function starting together on a fresh store each find no
// version recorded: one records it, the others find it, none fails (on
// PostgreSQL before, all but one failed on the primary key).
func TestReplicasStartingTogetherRecordTheVersionOnce(t *testing.T) {
	if !storetest.OnPostgres() {
		t.Skip("SQLite: a second process's handle on the file is refused at open (one process per SQLite database); make test-real runs this on PostgreSQL")
	}
	ctx := context.Background()
	url := storetest.URL(t, "replicas")
	const replicas = 4
	dbs := make([]*store.DB, replicas)
	for i := range dbs {
		db, err := store.Open(ctx, "TEST_DATABASE_URL", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	for _, db := range dbs {
		for _, m := range []struct {
			component string
			steps     []string
		}{{"orderflow-projections", store.ProjectionMigrations}, {"shop", []string{`CREATE TABLE shop_rows (id TEXT PRIMARY KEY)`}}} {
			if err := db.Migrate(ctx, m.component, m.steps); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 20 {
		projection := fmt.Sprintf("rows%d", round)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() {
				errs[i] = db.CheckProjections(ctx, "shop", []store.Projection{{Name: projection, Version: 2, Tables: []string{"shop_rows"}}})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if v, known, err := dbs[0].ProjectionVersion(ctx, "shop", projection); err != nil || !known || v != 2 {
			t.Fatalf("round %d: version %d %v %v, want 2", round, v, known, err)
		}
	}
}

package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"orderflow.dev/shared/store"
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

package scratchdb

import (
	"context"
	"strings"
	"testing"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

func TestIsPostgres(t *testing.T) {
	for raw, want := range map[string]bool{
		"postgres://u:p@127.0.0.1:5432/db?sslmode=disable": true,
		"postgresql://db.example/orders":                   true,
		"sqlite:///tmp/order.db":                           false,
		"":                                                 false,
		"::not a url":                                      false,
	} {
		if got := IsPostgres(raw); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", raw, got, want)
		}
	}
}

// Two labelled schemas hold tables of the same name apart, and Close
// drops them. Needs ORDERFLOW_TEST_POSTGRES_URL.
func TestSchemas(t *testing.T) {
	if !storetest.OnPostgres() {
		t.Skip("needs " + storetest.PostgresEnv + " (scripts/postgres.sh start)")
	}
	ctx := context.Background()
	s, err := Open(ctx, storetest.PostgresEnv, storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, label := range []string{"Order", "inventory"} {
		u, err := s.URL(ctx, label)
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(ctx, "test", u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `CREATE TABLE things (name TEXT)`); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		var schema string
		if err := db.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		db.Close()
		made = append(made, schema)
	}
	if made[0] == made[1] {
		t.Fatalf("both labels got schema %s", made[0])
	}
	// The test server runs with fsync off (scripts/postgres.sh): Settings
	// must say so, with every durability setting named.
	settings, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fsync=", "synchronous_commit=", "full_page_writes=", "wal_sync_method=", "commit_delay="} {
		if !strings.Contains(settings, name) {
			t.Errorf("settings %q name no %s", settings, name)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check, err := store.Open(ctx, "check", storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	for _, schema := range made {
		var n int
		if err := check.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s left behind", schema)
		}
	}
}

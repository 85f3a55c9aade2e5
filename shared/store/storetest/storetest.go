// Package storetest gives tests a fresh, empty database of their own: a
// SQLite file in the test's temporary folder by default, or, when
// ORDERFLOW_TEST_POSTGRES_URL names a PostgreSQL database, a schema of its
// own in that database (created for the test, dropped after it), reached
// through a URL whose search_path selects it. So every test that uses a
// store runs unchanged on both.
//
//	ORDERFLOW_TEST_POSTGRES_URL=$(scripts/postgres.sh url) go test ./...
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/store"
)

// PostgresEnv names the variable that switches tests to PostgreSQL.
const PostgresEnv = "ORDERFLOW_TEST_POSTGRES_URL"

// PostgresURL is the database tests run on, or "" for SQLite.
func PostgresURL() string { return strings.TrimSpace(os.Getenv(PostgresEnv)) }

// OnPostgres reports whether tests run on PostgreSQL.
func OnPostgres() bool { return PostgresURL() != "" }

var (
	adminMu sync.Mutex
	admin   = map[string]*store.DB{} // per base URL, for creating and dropping schemas
)

func adminDB(t testing.TB, base string) *store.DB {
	t.Helper()
	adminMu.Lock()
	defer adminMu.Unlock()
	if db, ok := admin[base]; ok {
		return db
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, PostgresEnv, base)
	if err != nil {
		t.Fatalf("storetest: %v (start one with scripts/postgres.sh start)", err)
	}
	if db.Dialect() != store.Postgres {
		db.Close()
		t.Fatalf("storetest: %s must name a PostgreSQL database (postgres://...)", PostgresEnv)
	}
	admin[base] = db // kept for the test binary's life
	return db
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// URL returns the URL of a fresh, empty database for the test; name (a
// word such as "inventory") only labels it. Calling it twice gives two
// databases; reopen the same one by reusing the URL.
func URL(t testing.TB, name string) string {
	t.Helper()
	base := PostgresURL()
	if base == "" {
		label := unsafe.ReplaceAllString(strings.ToLower(name), "-")
		if label == "" || label == "-" {
			label = "db"
		}
		return "sqlite://" + filepath.Join(t.TempDir(), label+".db")
	}
	db := adminDB(t, base)
	schema := schemaName(name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("storetest: creating schema %s in %s: %v", schema, db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("storetest: dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// schemaName is t_<label>_<random>: unique, and a valid unquoted
// identifier (lower case, at most 63 bytes).
func schemaName(name string) string {
	label := strings.Trim(unsafe.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if len(label) > 30 {
		label = label[:30]
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if label == "" {
		return "t_" + hex.EncodeToString(b)
	}
	return "t_" + label + "_" + hex.EncodeToString(b)
}

// Open opens a fresh database (see URL), closed when the test ends.
func Open(t testing.TB, name string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "TEST_DATABASE_URL", URL(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OutboxEvent is the least event the outbox takes: id, a test type and
// source, and, unless key is "", that partition key.
func OutboxEvent(id, key string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetType("dev.orderflow.test.v1")
	e.SetSource("/test")
	if key != "" {
		e.SetExtension("partitionkey", key)
	}
	return e
}

package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "TEST_DB", "sqlite://"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background(), "orderflow", EdgeMigrations); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRebind(t *testing.T) {
	q := `INSERT INTO t (a, b) VALUES (?, '?') -- ? in a literal stays
		RETURNING {{autoinc}}`
	if got := Postgres.rebind(q); !strings.Contains(got, "VALUES ($1, '?')") || !strings.Contains(got, "BIGSERIAL") {
		t.Fatalf("postgres: %s", got)
	}
	if got := SQLite.rebind("SELECT ? FROM {{bytes}}"); got != "SELECT ? FROM BLOB" {
		t.Fatalf("sqlite: %s", got)
	}
}

func TestOpenErrorsNameTheSetting(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"", "mysql://x", "::nope"} {
		_, err := Open(ctx, "ORDERFLOW_DATABASE_URL", url)
		if err == nil || !strings.Contains(err.Error(), "ORDERFLOW_DATABASE_URL") {
			t.Errorf("%q: %v", url, err)
		}
	}
}

func TestProcessedIdsMakeRedeliveryANoop(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	mark := func(consumer, source, id string) bool {
		var first bool
		if err := db.InTx(ctx, func(tx *Tx) error {
			var err error
			first, err = tx.MarkProcessed(ctx, consumer, source, id, "t")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return first
	}
	if !mark("order", "/a", "1") || mark("order", "/a", "1") {
		t.Fatal("second delivery was not recognised")
	}
	if !mark("order", "/b", "1") || !mark("payment", "/a", "1") {
		t.Fatal("ids are per source and per consumer")
	}
	// A failed transaction leaves no mark, so the retry runs again.
	_ = db.InTx(ctx, func(tx *Tx) error {
		tx.MarkProcessed(ctx, "order", "/a", "2", "t")
		return context.Canceled
	})
	if !mark("order", "/a", "2") {
		t.Fatal("a rolled-back delivery was remembered")
	}
}

func TestOutboxKeepsCommitOrderAndOnlyCommittedEvents(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	mk := func(id string) event.Event {
		e := event.New()
		e.SetID(id)
		e.SetType("t")
		e.SetSource("/s")
		e.SetExtension("partitionkey", "o-1")
		return e
	}
	if err := db.InTx(ctx, func(tx *Tx) error { return tx.Enqueue(ctx, mk("a"), mk("b")) }); err != nil {
		t.Fatal(err)
	}
	_ = db.InTx(ctx, func(tx *Tx) error { tx.Enqueue(ctx, mk("rolled-back")); return context.Canceled })
	if err := db.InTx(ctx, func(tx *Tx) error { return tx.Enqueue(ctx, mk("c")) }); err != nil {
		t.Fatal(err)
	}
	items, err := db.PendingOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.Event.ID())
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("pending %v", ids)
	}
	if err := db.MarkSent(ctx, items[0].Seq); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.OutboxBacklog(ctx); n != 2 {
		t.Fatalf("backlog %d", n)
	}
}

func TestMigrationsRunOnce(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	steps := []string{`CREATE TABLE m1 (x INTEGER)`, `INSERT INTO m1 (x) VALUES (1)`}
	for i := 0; i < 2; i++ {
		if err := db.Migrate(ctx, "test", steps); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM m1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows %d %v", n, err)
	}
	if err := db.Migrate(ctx, "broken", []string{`CREATE TABLE`}); err == nil || !strings.Contains(err.Error(), "broken #1") {
		t.Fatalf("broken migration: %v", err)
	}
}

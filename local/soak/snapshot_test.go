package soak

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"orderflow.dev/shared/store"
)

// A running function holds its database with locking_mode EXCLUSIVE: a
// read-only connection is refused, and SnapshotTables still reads every
// table, the rows only in the write-ahead log included, while rows are
// being written and checkpointed.
func TestSnapshotTablesOfADatabaseHeldOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "order.db")
	db, err := store.Open(ctx, "test", "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE processed_events (id TEXT PRIMARY KEY, at TEXT)`,
		`CREATE TABLE outbox (seq INTEGER PRIMARY KEY, body TEXT)`,
		`CREATE TABLE order_events (id INTEGER PRIMARY KEY, body TEXT)`,
		`CREATE INDEX order_events_body ON order_events (body)`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			body := strings.Repeat("x", 300) + string(rune('a'+i%26))
			for _, q := range []string{`INSERT INTO processed_events VALUES (?, 'now')`, `INSERT INTO outbox (body) VALUES (?)`, `INSERT INTO order_events (body) VALUES (?)`} {
				arg := any(body)
				if strings.Contains(q, "processed_events") {
					arg = path + string(rune(i))
				}
				if _, err := db.Exec(ctx, q, arg); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}
	insert(0, 200)

	// What the brief of a plain reader would do: refused while held.
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ro.QueryRow(`SELECT COUNT(*) FROM order_events`).Scan(&n); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("a read-only connection to a held file: %v (count %d), want SQLITE_BUSY; if it can read now, SnapshotTables' copy is not needed", err, n)
	}
	ro.Close()

	tables, err := SnapshotTables(ctx, dir, "order")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tb := range tables {
		rows[tb.Name] = tb.Rows
		if tb.Name != FreePages && tb.Bytes <= 0 {
			t.Errorf("%s: %d bytes", tb.Name, tb.Bytes)
		}
	}
	if rows["processed_events"] != 200 || rows["outbox"] != 200 || rows["order_events"] != 200 {
		t.Fatalf("snapshot rows %v, want 200 in each table (written, not checkpointed)", rows)
	}
	bookkeeping, domain, _ := Split(tables)
	var wantBookkeeping int64
	for _, tb := range tables {
		if tb.Name == "processed_events" || tb.Name == "outbox" {
			wantBookkeeping += tb.Bytes
		}
	}
	if bookkeeping != wantBookkeeping || domain <= 0 {
		t.Errorf("Split: bookkeeping %d (want %d), domain %d", bookkeeping, wantBookkeeping, domain)
	}

	// Snapshots while a writer fills the log past SQLite's automatic
	// checkpoint (1000 pages) several times: each is whole, and the counts
	// never go back.
	var wg sync.WaitGroup
	wg.Go(func() { insert(200, 6000) })
	var last int64
	for i := 0; i < 15; i++ {
		tables, err := SnapshotTables(ctx, dir, "order")
		if err != nil {
			t.Fatalf("snapshot %d during writes: %v", i, err)
		}
		got := map[string]int64{}
		for _, tb := range tables {
			got[tb.Name] = tb.Rows
		}
		if got["order_events"] < last || got["order_events"] < 200 {
			t.Fatalf("snapshot %d: order_events %d rows after %d", i, got["order_events"], last)
		}
		last = got["order_events"]
	}
	wg.Wait()
	tables, err = SnapshotTables(ctx, dir, "order")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == "order_events" && tb.Rows != 6000 {
			t.Errorf("after the writes: order_events %d rows, want 6000", tb.Rows)
		}
	}
	if _, err := SnapshotTables(ctx, dir, "notify"); err == nil || !strings.Contains(err.Error(), "no notify.db") {
		t.Errorf("snapshot of a function with no database: %v", err)
	}
}

func TestSameLog(t *testing.T) {
	header := func(seq, salt1, salt2 byte) []byte {
		h := make([]byte, walHeaderSize)
		h[15], h[19], h[23] = seq, salt1, salt2
		h[28] = 99 // a checksum: not what tells logs apart
		return h
	}
	a := header(1, 2, 3)
	for _, tt := range []struct {
		name          string
		before, after []byte
		want          bool
	}{
		{"same log, grown", a, append(header(1, 2, 3)[:28], 1, 2, 3, 4), true},
		{"no log before nor after", nil, nil, true},
		{"log appeared", nil, a, true},
		{"log removed (closed, checkpointed)", a, nil, false},
		{"restarted: next checkpoint", a, header(2, 2, 3), false},
		{"restarted: new salt", a, header(1, 3, 3), false},
		{"restarted: new random salt", a, header(1, 2, 4), false},
	} {
		if got := SameLog(tt.before, tt.after); got != tt.want {
			t.Errorf("%s: SameLog = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	b, d, f := Split([]Table{
		{Name: "processed_events", Bytes: 100}, {Name: "outbox", Bytes: 20}, {Name: "order_events", Bytes: 3000},
		{Name: "orderflow_migrations", Bytes: 4}, {Name: FreePages, Bytes: 50}, {File: "payment-gateway.db", Name: "processed_events", Bytes: 1},
	})
	if b != 121 || d != 3004 || f != 50 {
		t.Errorf("Split = %d, %d, %d; want bookkeeping 121 (both files), domain 3004, free 50", b, d, f)
	}
	fn := Function{DomainBytes: 3000}
	fn.PerOrder(0)
	if fn.DomainBytesPerOrder != 0 {
		t.Errorf("per order of no order: %v", fn.DomainBytesPerOrder)
	}
	fn.PerOrder(1500)
	if fn.DomainBytesPerOrder != 2 {
		t.Errorf("per order: %v, want 2", fn.DomainBytesPerOrder)
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// openTemp opens a fresh database with the edge's tables: a SQLite file,
// or a schema of its own when ORDERFLOW_TEST_POSTGRES_URL is set.
func openTemp(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.Open(t, "store")
	if err := db.Migrate(context.Background(), "orderflow", store.EdgeMigrations); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpenErrorsNameTheSetting(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"", "mysql://x", "::nope"} {
		_, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", url)
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
		if err := db.InTx(ctx, func(tx *store.Tx) error {
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
	_ = db.InTx(ctx, func(tx *store.Tx) error {
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
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, mk("a"), mk("b")) }); err != nil {
		t.Fatal(err)
	}
	_ = db.InTx(ctx, func(tx *store.Tx) error { tx.Enqueue(ctx, mk("rolled-back")); return context.Canceled })
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, mk("c")) }); err != nil {
		t.Fatal(err)
	}
	items, err := db.PendingOutbox(ctx, 10, store.OutboxSkip{})
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
	if n, oldest, _ := db.OutboxBacklog(ctx); n != 2 || oldest.IsZero() || time.Since(oldest) > time.Minute {
		t.Fatalf("backlog %d", n)
	}
}

// The relay reads around the keys it holds back and marks what the sink
// acknowledged in one statement.
func TestOutboxSkipsHeldKeysAndMarksInBatches(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	var batch []event.Event
	for i, key := range []string{"o-1", "o-2", "", "o-1", "o-3", "", "o-2"} {
		batch = append(batch, storetest.OutboxEvent(fmt.Sprintf("e%d", i), key))
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, batch...) }); err != nil {
		t.Fatal(err)
	}
	pending := func(limit int, skip store.OutboxSkip) (ids string, items []store.OutboxItem) {
		t.Helper()
		items, err := db.PendingOutbox(ctx, limit, skip)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, it := range items {
			parts = append(parts, it.Event.ID()+"/"+it.Key)
		}
		return strings.Join(parts, ","), items
	}
	all, items := pending(10, store.OutboxSkip{})
	if all != "e0/o-1,e1/o-2,e2/,e3/o-1,e4/o-3,e5/,e6/o-2" {
		t.Fatalf("pending %s", all)
	}
	if got, _ := pending(3, store.OutboxSkip{Keys: []string{"o-1", "o-3"}, Seqs: []int64{items[2].Seq}}); got != "e1/o-2,e5/,e6/o-2" {
		t.Fatalf("skipping o-1, o-3 and e2: %s", got)
	}
	if err := db.MarkSent(ctx, items[0].Seq, items[2].Seq, items[6].Seq); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx); err != nil {
		t.Fatalf("marking nothing: %v", err)
	}
	if got, _ := pending(10, store.OutboxSkip{}); got != "e1/o-2,e3/o-1,e4/o-3,e5/" {
		t.Fatalf("after marking e0, e2, e6: %s", got)
	}
	var attempts int
	if err := db.QueryRow(ctx, `SELECT attempts FROM outbox WHERE event_id = 'e0'`).Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("attempts of a sent event: %d %v", attempts, err)
	}

	// More seqs than one statement takes.
	var many []event.Event
	for i := 0; i < 1100; i++ {
		many = append(many, storetest.OutboxEvent(fmt.Sprintf("m%d", i), fmt.Sprintf("o-%d", i)))
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, many...) }); err != nil {
		t.Fatal(err)
	}
	_, items = pending(2000, store.OutboxSkip{})
	seqs := make([]int64, 0, len(items))
	for _, it := range items {
		seqs = append(seqs, it.Seq)
	}
	if err := db.MarkSent(ctx, seqs...); err != nil {
		t.Fatal(err)
	}
	if n, oldest, err := db.OutboxBacklog(ctx); n != 0 || !oldest.IsZero() || err != nil {
		t.Fatalf("backlog after marking %d events: %d %v", len(seqs), n, err)
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

// A database that cannot be reached, refuses the login or never answers
// fails Open within seconds, with one line naming the setting and the host
// and never the password.
func TestOpenFailsFastWithOneLine(t *testing.T) {
	ctx := context.Background()
	closed := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	type tc struct {
		name, url, host string
		want            []string
	}
	cases := []tc{
		{"refused", "postgres://orderflow:s3cret@" + closed + "/orderflow?sslmode=disable", closed, []string{"cannot connect", "refused"}},
		{"no answer", "postgres://orderflow:s3cret@" + silent.Addr().String() + "/orderflow?sslmode=disable", silent.Addr().String(), []string{"cannot connect", "timeout"}},
		{"bad pool size", "postgres://orderflow:s3cret@" + closed + "/orderflow?pool_max_conns=lots", closed, []string{"pool_max_conns"}},
	}
	if base := storetest.PostgresURL(); base != "" {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), "s3cret")
		cases = append(cases, tc{"wrong password", u.String(), u.Host, []string{"cannot connect", "password authentication failed"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", c.url)
			took := time.Since(start)
			if err == nil {
				t.Fatal("opened")
			}
			msg := err.Error()
			t.Logf("%s after %v: %s", c.name, took.Round(time.Millisecond), msg)
			if took > 8*time.Second {
				t.Errorf("took %v", took)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("more than one line: %q", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("the password leaked: %s", msg)
			}
			for _, w := range append([]string{"ORDERFLOW_DATABASE_URL=", c.host}, c.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("no %q in: %s", w, msg)
				}
			}
		})
	}
}

func TestUniqueViolationIsRecognised(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE u (k TEXT PRIMARY KEY, v TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO u (k, v) VALUES (?, ?)`, "a", "x"); err != nil {
		t.Fatal(err)
	}
	_, pk := db.Exec(ctx, `INSERT INTO u (k, v) VALUES (?, ?)`, "a", "y")
	_, uniq := db.Exec(ctx, `INSERT INTO u (k, v) VALUES (?, ?)`, "b", "x")
	for _, err := range []error{pk, uniq, fmt.Errorf("wrapped: %w", pk)} {
		if !store.IsUniqueViolation(err) || !store.IsRetryable(err) {
			t.Errorf("%s: not seen as a unique violation: %v", db.Dialect(), err)
		}
	}
	_, other := db.Exec(ctx, `INSERT INTO u (k, v) VALUES (?, NULL)`, "c")
	if other == nil || store.IsUniqueViolation(other) || store.IsRetryable(other) {
		t.Errorf("a NOT NULL violation taken for a unique one: %v", other)
	}
	if store.IsUniqueViolation(nil) || store.IsUniqueViolation(errors.New("boom")) {
		t.Error("false positive")
	}
}

// Replicas starting together against one database: every step runs once.
// PostgreSQL only: an SQLite database belongs to one process (see
// TestSQLiteBelongsToOneProcess).
func TestConcurrentMigrationsRunEachStepOnce(t *testing.T) {
	if !storetest.OnPostgres() {
		t.Skip("replicas sharing a database need PostgreSQL; set " + storetest.PostgresEnv)
	}
	url := storetest.URL(t, "migrate")
	ctx := context.Background()
	steps := []string{
		`CREATE TABLE m (x INTEGER NOT NULL)`,
		`INSERT INTO m (x) VALUES (1)`,
		`INSERT INTO m (x) VALUES (2)`,
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", url) // a process of its own: its own pool
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			if err := db.Migrate(ctx, "orderflow", store.EdgeMigrations); err != nil {
				errs <- err
				return
			}
			errs <- db.Migrate(ctx, "test", steps)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, applied int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM m`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("rows %d %v", rows, err)
	}
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM orderflow_migrations`).Scan(&applied); err != nil || applied != len(store.EdgeMigrations)+len(steps) {
		t.Fatalf("applied %d %v", applied, err)
	}
}

// Read-modify-write transactions under one Lock key never lose an update,
// although PostgreSQL runs them on many connections at once.
func TestLockSerialisesReadModifyWrite(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE counter (id TEXT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO counter (id, n) VALUES ('c', 0)`); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- db.InTx(ctx, func(tx *store.Tx) error {
					if err := tx.Lock(ctx, "counter/c"); err != nil {
						return err
					}
					var n int64
					if err := tx.QueryRow(ctx, `SELECT n FROM counter WHERE id = 'c'`).Scan(&n); err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // widen the window a lost update needs
					_, err := tx.Exec(ctx, `UPDATE counter SET n = ? WHERE id = 'c'`, n+1)
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	if err := db.QueryRow(ctx, `SELECT n FROM counter WHERE id = 'c'`).Scan(&n); err != nil || n != workers*each {
		t.Fatalf("counter %d, want %d (%v)", n, workers*each, err)
	}
}

// On PostgreSQL every test database is a schema of its own, selected by
// the search_path in its URL.
func TestSearchPathInTheURLSelectsTheSchema(t *testing.T) {
	if !storetest.OnPostgres() {
		t.Skip("needs " + storetest.PostgresEnv)
	}
	db := openTemp(t)
	var schema string
	if err := db.QueryRow(context.Background(), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "t_store_") {
		t.Fatalf("current_schema %q", schema)
	}
	// Where the unqualified name resolves: other tests (other packages,
	// running at the same time) have outbox tables in schemas of their own.
	var table string
	if err := db.QueryRow(context.Background(), `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass('outbox')`).Scan(&table); err != nil || table != schema {
		t.Fatalf("outbox in %q (%v), want %q", table, err, schema)
	}
}

// A second process opening a function's SQLite file fails at once, saying
// why, and the file opens again once the first has closed it.
func TestSQLiteBelongsToOneProcess(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "one.db")
	ctx := context.Background()
	restore := store.SetSQLiteClaimTimeout(200 * time.Millisecond)
	defer restore()
	first, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", url)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Migrate(ctx, "orderflow", store.EdgeMigrations); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, "ORDERFLOW_DATABASE_URL", url)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), "ORDERFLOW_DATABASE_URL") {
		t.Fatalf("second open: %v", err)
	}
	first.Close()
	again, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", url)
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	again.Close()
}

// Prune removes what is older than the cut, oldest first and at most the
// limit, and never an unpublished event.
func TestPruneKeepsWhatIsRecentAndWhatIsUnsent(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.MarkProcessed(ctx, "c", "/s", fmt.Sprint("id-", i), "t")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id string) event.Event {
		e := event.New()
		e.SetID(id)
		e.SetSource("/t")
		e.SetType("t")
		return e
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, mk("sent"), mk("unsent")) }); err != nil {
		t.Fatal(err)
	}
	items, err := db.PendingOutbox(ctx, 10, store.OutboxSkip{})
	if err != nil || len(items) != 2 {
		t.Fatalf("pending %d, %v", len(items), err)
	}
	if err := db.MarkSent(ctx, items[0].Seq); err != nil {
		t.Fatal(err)
	}

	if ids, sent, err := db.Prune(ctx, time.Now().Add(-time.Hour), 100); ids != 0 || sent != 0 || err != nil {
		t.Fatalf("an hour-old cut pruned %d ids, %d rows (%v); want nothing", ids, sent, err)
	}
	future := time.Now().Add(time.Second)
	if ids, sent, err := db.Prune(ctx, future, 2); ids != 2 || sent != 1 || err != nil {
		t.Fatalf("limit 2: pruned %d ids, %d rows (%v); want 2 and the one sent row", ids, sent, err)
	}
	if ids, _, err := db.Prune(ctx, future, 100); ids != 3 || err != nil {
		t.Fatalf("then %d ids (%v), want the other 3", ids, err)
	}
	if n, _, _ := db.OutboxBacklog(ctx); n != 1 {
		t.Fatalf("backlog %d after pruning: the unsent event must stay", n)
	}
	// A pruned id is forgotten: the same event would be handled again,
	// which is why the retention must outlast every redelivery.
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		first, err := tx.MarkProcessed(ctx, "c", "/s", "id-0", "t")
		if err == nil && !first {
			t.Error("a pruned id still counts as processed")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

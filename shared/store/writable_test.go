package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

func TestWriteFailureNamesTheCause(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("UNIQUE constraint failed: x.id"), ""},
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, store.DiskFull},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "25006"}), store.ReadOnly},
		{&pgconn.PgError{Code: "23505"}, ""},
		{fmt.Errorf("write: %w", syscall.ENOSPC), store.DiskFull},
		{fmt.Errorf("open: %w", syscall.EROFS), store.ReadOnly},
		{errors.New("sqlite: database or disk is full (13)"), store.DiskFull},
		{errors.New("ERROR: could not extend file (SQLSTATE 53100)"), store.DiskFull},
	} {
		if got := store.WriteFailure(tt.err); got != tt.want {
			t.Errorf("WriteFailure(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A full disk under a SQLite store, for real: a tmpfs of 2 MiB filled to
// the last byte. The store's write fails as a WriteFailure, DiskFull;
// Where names the folder and the space left; ProbeWrite fails until space
// is freed, then passes, and so do the writes.
func TestSQLiteOnAFullDisk(t *testing.T) {
	dir := storetest.SmallDisk(t, "2m")
	ctx := context.Background()
	db, err := store.Open(ctx, "TEST_DATABASE_URL", "sqlite://"+filepath.Join(dir, "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)`); err != nil {
		t.Fatal(err)
	}
	write := func(i int) error {
		_, err := db.Exec(ctx, `INSERT INTO t (id, pad) VALUES (?, ?)`, i, make([]byte, 32<<10))
		return err
	}
	if err := write(0); err != nil {
		t.Fatal(err)
	}
	free := storetest.Fill(t, dir)
	var werr error
	for i := 1; i < 100 && werr == nil; i++ {
		werr = write(i)
	}
	if got := store.WriteFailure(werr); got != store.DiskFull {
		t.Fatalf("a write on the full disk: %v (WriteFailure %q), want %q", werr, got, store.DiskFull)
	}
	if where := db.Where(); !strings.HasPrefix(where, dir) || !strings.Contains(where, "free of 2.0 MiB") {
		t.Errorf("Where() = %q, want the folder and its space", where)
	}
	if err := db.ProbeWrite(ctx); store.WriteFailure(err) != store.DiskFull {
		t.Fatalf("ProbeWrite on the full disk: %v", err)
	}
	free()
	if err := db.ProbeWrite(ctx); err != nil {
		t.Fatalf("ProbeWrite after freeing space: %v", err)
	}
	if err := write(1000); err != nil {
		t.Fatalf("a write after freeing space: %v", err)
	}
}

package store_test

import (
	"context"
	"testing"

	"orderflow.dev/shared/store"
)

// SQLite keeps its temporary files, the savepoints' journal among them,
// in memory (temp_store 2): written to a file, every page a group-commit
// caller changed first cost two pwrite calls.
func TestSQLiteKeepsTemporaryFilesInMemory(t *testing.T) {
	db := openTemp(t)
	if db.Dialect() != store.SQLite {
		t.Skip("SQLite's setting")
	}
	var mode int
	if err := db.QueryRow(context.Background(), `PRAGMA temp_store`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("temp_store %d (%v), want 2 (MEMORY)", mode, err)
	}
}

package store

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	q := `INSERT INTO t (a, b) VALUES (?, '?') -- ? in a literal stays
		RETURNING {{autoinc}}`
	if got := Postgres.rebind(q); !strings.Contains(got, "VALUES ($1, '?')") || !strings.Contains(got, "BIGSERIAL") {
		t.Fatalf("postgres: %s", got)
	}
	if got := SQLite.rebind("SELECT ? FROM {{bytes}}"); got != "SELECT ? FROM BLOB" {
		t.Fatalf("sqlite: %s", got)
	}
	if got := Postgres.rebind("SELECT a FROM t WHERE b = ? {{forupdate}}"); got != "SELECT a FROM t WHERE b = $1 FOR UPDATE" {
		t.Fatalf("postgres: %s", got)
	}
	if got := SQLite.rebind("SELECT a FROM t WHERE b = ? {{forupdate}}"); got != "SELECT a FROM t WHERE b = ? " {
		t.Fatalf("sqlite: %q", got)
	}
}

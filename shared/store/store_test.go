package store

import (
	"context"
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

// A URL that does not parse is named in the error without its password:
// the URL package's own error quotes the whole string, and a configuration
// error ends up in logs.
func TestABadURLNeverShowsItsPassword(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"postgres://u:s3cret@[::1", `"postgres://u:xxxxx@[::1": missing ']' in host`},
		{"postgres://u:s3%zzcret@db:5432/x", `"postgres://u:xxxxx@db:5432/x": a '%' not followed by two hex digits`},
		{"postgres://u:s3c@ret@db:5432/x\x7f", `"postgres://u:xxxxx@db:5432/x\x7f": net/url: invalid control character in URL`},
		{"postgres://[::1/x?sslmode=disable&password=s3cret&y=1", `"postgres://[::1/x?sslmode=disable&password=xxxxx&y=1": missing ']' in host`},
		{"postgres://db:5432/x?password=s3cret#%zz", `"postgres://db:5432/x?password=xxxxx#%zz"`},
		{"postgres://u@[::1", `"postgres://u@[::1": missing ']' in host`},
		{":no-scheme", `":no-scheme": missing protocol scheme`},
	}
	for _, c := range cases {
		_, err := Open(context.Background(), "ORDERFLOW_DATABASE_URL", c.raw)
		if err == nil {
			t.Fatalf("%q opened", c.raw)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3") || strings.Contains(msg, "cret") {
			t.Errorf("%q: the password leaked: %s", c.raw, msg)
		}
		if !strings.Contains(msg, "ORDERFLOW_DATABASE_URL is not a URL: "+c.want) {
			t.Errorf("%q: got %s\nwant it to contain %s", c.raw, msg, c.want)
		}
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL, through pgx's database/sql driver. The URL is pgx's (libpq's)
// format: postgres://user:pass@host:5432/db?sslmode=disable, where any
// parameter pgx does not know is sent to the server as a run-time setting,
// so ?search_path=myschema puts a function's tables in a schema of its own.
func init() { Register(openPostgres, "postgres", "postgresql") }

// Pool sizing for one function process: a handful of concurrent deliveries
// (KafkaSource dispatches one event per partition at a time), the relay and
// the probes. Ten connections per replica keeps a database's default
// max_connections (100) good for several functions with a few replicas
// each. An explicit pool_max_conns in the URL wins. Every open connection
// may stay idle: with fewer idle than open, a burst of deliveries closed the
// extra connections after each use and opened new ones for the next, a new
// server process each time (measured: the saga on PostgreSQL stalled at 24
// orders/s, the server forking backends).
const (
	pgMaxOpenConns   = 10
	pgMaxIdleConns   = pgMaxOpenConns
	pgConnMaxIdle    = 5 * time.Minute
	pgConnMaxLife    = 30 * time.Minute
	pgConnectTimeout = 5 * time.Second
)

func openPostgres(_ context.Context, u *url.URL) (*sql.DB, Dialect, error) {
	q := u.Query()
	maxOpen := pgMaxOpenConns
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, Postgres, errors.New("pool_max_conns: want a whole number > 0")
		}
		maxOpen = n
		q.Del("pool_max_conns") // ours, not a server setting
		u = withQuery(u, q)
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, Postgres, errors.New(oneLine(err.Error()))
	}
	if cfg.ConnectTimeout == 0 { // connect_timeout in the URL wins
		cfg.ConnectTimeout = pgConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(min(pgMaxIdleConns, maxOpen))
	db.SetConnMaxIdleTime(pgConnMaxIdle)
	db.SetConnMaxLifetime(pgConnMaxLife)
	return db, Postgres, nil
}

func withQuery(u *url.URL, q url.Values) *url.URL {
	c := *u
	c.RawQuery = q.Encode()
	return &c
}

// pgError is the server's error behind err, if any.
func pgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}

// PostgreSQL error codes (SQLSTATE) the store reacts to.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// IsRetryable reports whether err is a concurrency failure that running
// the same transaction again resolves: a unique violation (a concurrent
// insert of the same key won), or PostgreSQL's serialization failure or
// deadlock victim.
func IsRetryable(err error) bool {
	if IsUniqueViolation(err) {
		return true
	}
	if pe, ok := pgError(err); ok {
		return pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected
	}
	return false
}

// oneLine folds a multi-line driver message (pgx lists each address it
// tried on a line of its own) into one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, " ")
}

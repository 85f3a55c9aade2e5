package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL, through pgx's database/sql driver. The URL is pgx's (libpq's)
// format: postgres://user:pass@host:5432/db?sslmode=disable, where any
// parameter pgx does not know is sent to the server as a run-time setting,
// so ?search_path=myschema puts a function's tables in a schema of its own.
func init() { Register(openPostgres, "postgres", "postgresql") }

// Pool sizing for one function process: deliveries share a transaction at
// a time (group commit), beside which the relay, the pruner, the probes and
// the relay's lease each take a connection. Ten per replica keeps a
// database's default max_connections (100) good for several functions with
// a few replicas each. An explicit pool_max_conns in the URL wins. Idle
// connections are kept (pgxpool does not close them for being idle until
// pgConnMaxIdle): closing them after a burst made the next burst open new
// ones, a new server process each (measured with database/sql: the saga
// stalled at 24 orders/s, the server forking backends).
const (
	pgMaxOpenConns   = 10
	pgConnMaxIdle    = 5 * time.Minute
	pgConnMaxLife    = 30 * time.Minute
	pgConnectTimeout = 5 * time.Second
)

func openPostgres(_ context.Context, u *url.URL) (*DB, error) {
	q := u.Query()
	maxOpen := pgMaxOpenConns
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errors.New("pool_max_conns: want a whole number > 0")
		}
		maxOpen = n
		q.Del("pool_max_conns") // ours, not a server setting
		u = withQuery(u, q)
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // connect_timeout in the URL wins
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	cfg.MaxConns = int32(maxOpen)
	cfg.MaxConnIdleTime = pgConnMaxIdle
	cfg.MaxConnLifetime = pgConnMaxLife
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	return &DB{pg: pool, dialect: Postgres}, nil
}

// pgInTx runs fn in a transaction of its own on a pooled connection (the
// path without group commit).
func (db *DB) pgInTx(ctx context.Context, fn func(tx *Tx) error) error {
	conn, err := db.pg.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	t := &pgTx{conn: conn.Conn(), trips: &db.roundTrips}
	defer func() { releasePg(conn, t) }()
	defer func() {
		if p := recover(); p != nil {
			_ = t.rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	if err := fn(&Tx{pg: t, dialect: Postgres, db: db}); err != nil {
		_ = t.rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := t.commit(ctx); err != nil {
		_ = t.rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// releasePg gives a transaction's connection back to the pool, or closes
// it if the transaction is not cleanly over (a failed ROLLBACK, a broken
// pipeline): a connection left inside a transaction would hand its locks
// and its half-done work to the next user.
func releasePg(conn *pgxpool.Conn, t *pgTx) {
	if st := conn.Conn().PgConn().TxStatus(); st != 'I' || len(t.queue) > 0 {
		_ = conn.Conn().Close(context.Background())
	}
	conn.Release()
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
	pgLockNotAvailable     = "55P03" // lock_timeout
)

// IsLockLoss reports whether err is a statement that lost a lock:
// PostgreSQL's deadlock victim, or a wait past lock_timeout. The
// transaction's work since its savepoint is then to be undone and run
// again (group commit does, groupcommit.go).
func IsLockLoss(err error) bool {
	pe, ok := pgError(err)
	return ok && (pe.Code == pgDeadlockDetected || pe.Code == pgLockNotAvailable)
}

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

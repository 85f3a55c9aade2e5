// Package store is where a function keeps its state: one SQL database behind
// one small type, SQLite (pure Go) by default. Every function also keeps here
// the ids of the events it has processed (so a redelivery changes nothing)
// and its outbox (so a state change and the events it causes commit
// together).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL flavour behind a DB. Statements are written once with
// `?` placeholders and the few words that differ spelled as {{autoinc}},
// {{bytes}} and {{forupdate}} (a row lock on PostgreSQL, nothing on SQLite,
// whose one connection already runs one transaction at a time).
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Opener opens a database for a URL scheme: a DB with its dialect and its
// connections (sql for SQLite, pg for PostgreSQL). Drivers register
// themselves, so a function binary only links the databases it is built
// with.
type Opener func(ctx context.Context, u *url.URL) (*DB, error)

// Rows is a query's result set: database/sql's on SQLite, pgx's on
// PostgreSQL.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Close() error
	Err() error
}

// Row is the first row of a query; Scan reports sql.ErrNoRows when there
// is none.
type Row interface {
	Scan(dest ...any) error
}

var openers = map[string]Opener{}

// Register adds an opener for URL schemes such as "postgres".
func Register(opener Opener, schemes ...string) {
	for _, s := range schemes {
		openers[s] = opener
	}
}

func init() { Register(openSQLite, "sqlite", "file") }

// DB is a function's database.
type DB struct {
	sql     *sql.DB       // SQLite
	pg      *pgxpool.Pool // PostgreSQL
	dialect Dialect
	where   string // the URL without credentials, for messages
	file    string // SQLite's database file ("" on PostgreSQL)
	stmts   stmtCache
	group   *groupCommit // SQLite's: InTx shares transactions among concurrent callers

	// PostgreSQL: the channel outbox commits are announced on, and whether
	// this process holds the outbox's relay lease (then its own relay is
	// kicked directly and nobody needs telling). See RelayLease.
	notifyChannel string
	relayHere     atomic.Bool
	// roundTrips counts the requests sent to PostgreSQL and waited for: a
	// statement outside a transaction, or a pipeline (RoundTrips).
	roundTrips atomic.Int64
	// lease is the relay lease taken through this handle, released by
	// Close: its session holds a connection out of the pool, which Close
	// would otherwise wait for.
	lease atomic.Pointer[RelayLease]
	// groupOff: every InTx commits on its own (SeparateCommits).
	groupOff atomic.Bool
	// lockLosses counts the functions group commit ran again after they
	// lost a lock (LockLosses).
	lockLosses atomic.Int64
}

// SeparateCommits turns group commit off: each InTx commits alone. Group
// commit is safe between replicas on one PostgreSQL (a batch that loses a
// lock to another's ends early and the loser runs again, groupcommit.go);
// this is for measuring without it, and for an operator who chooses to
// (ORDERFLOW_GROUP_COMMIT=false).
func (db *DB) SeparateCommits() { db.groupOff.Store(true) }

// Open connects to the database at rawURL and checks it answers. Errors name
// the setting the URL came from (setting), so a bad config is easy to find.
func Open(ctx context.Context, setting, rawURL string) (*DB, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, fmt.Errorf("%s is empty: set it to a database URL such as sqlite:///var/lib/orderflow/order.db or postgres://user:pass@host:5432/db", setting)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL: %s", setting, BadURLProblem(rawURL, err))
	}
	open, ok := openers[u.Scheme]
	if !ok {
		known := make([]string, 0, len(openers))
		for s := range openers {
			known = append(known, s+"://")
		}
		return nil, fmt.Errorf("%s: unsupported database scheme %q (this build supports %s)", setting, u.Scheme, strings.Join(known, ", "))
	}
	d, err := open(ctx, u)
	if err != nil {
		return nil, &openError{msg: fmt.Sprintf("%s=%s: %s", setting, redact(u), oneLine(err.Error())), err: err}
	}
	d.where = redact(u)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Ping(pingCtx); err != nil {
		d.Close()
		return nil, &openError{msg: fmt.Sprintf("%s=%s: cannot connect: %s", setting, redact(u), oneLine(err.Error())), err: err}
	}
	d.group = newGroupCommit(d)
	if d.dialect == SQLite {
		if d.file, err = filepath.Abs(sqlitePath(u)); err != nil {
			d.file = sqlitePath(u)
		}
	}
	if d.dialect == Postgres {
		if err := d.resolveNotifyChannel(pingCtx); err != nil {
			d.Close()
			return nil, &openError{msg: fmt.Sprintf("%s=%s: %s", setting, redact(u), oneLine(err.Error())), err: err}
		}
	}
	return d, nil
}

// openError is a failed Open: one line that names the setting and the
// database (host included, password left out), wrapping the driver's error.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// IsOpenFailure reports whether err is Open failing on a well-formed URL:
// the database did not open or answer (a failure of the run, where a URL
// that does not parse is one of the setting).
func IsOpenFailure(err error) bool {
	var oe *openError
	return errors.As(err, &oe)
}

// redact drops the password, from the user info and from the query.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	if q := c.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// BadURLProblem says why raw did not parse as a URL (err from url.Parse)
// without what the URL package quotes: the whole string, password and all.
// A configuration error ends up in logs and CI output, so the raw value is
// shown as RedactRawURL leaves it.
func BadURLProblem(raw string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	why := err.Error()
	// An escape error quotes the bad escape, which may be inside the
	// password.
	var esc url.EscapeError
	if errors.As(err, &esc) {
		why = "a '%' not followed by two hex digits (write a literal % as %25)"
	}
	return fmt.Sprintf("%q: %s", RedactRawURL(raw), why)
}

// RedactRawURL drops the password from a URL that may not parse: whatever
// follows the first ':' of the user info (up to the last '@' after the
// scheme's "//") and the value of a password= query parameter. It may
// hide more than the password of a URL mangled enough, never less.
func RedactRawURL(raw string) string {
	if i := strings.Index(raw, "//"); i >= 0 {
		auth := raw[i+2:]
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			if user, _, hasPassword := strings.Cut(auth[:at], ":"); hasPassword {
				raw = raw[:i+2] + user + ":xxxxx" + auth[at:]
			}
		}
	}
	for _, key := range []string{"?password=", "&password="} {
		if i := strings.Index(raw, key); i >= 0 {
			start := i + len(key)
			end := strings.IndexAny(raw[start:], "&#")
			if end < 0 {
				end = len(raw) - start
			}
			raw = raw[:start] + "xxxxx" + raw[start+end:]
		}
	}
	return raw
}

// openSQLite accepts sqlite:///abs/path.db, sqlite://rel/path.db and
// file:path.db. One connection serialises every transaction: SQLite has one
// writer anyway, and this way a transaction never meets SQLITE_BUSY.
func openSQLite(ctx context.Context, u *url.URL) (*DB, error) {
	path := sqlitePath(u)
	if path == "" {
		return nil, errors.New("no file path in the sqlite URL")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the database folder: %w", err)
		}
	}
	// locking_mode EXCLUSIVE: a function's database belongs to its one
	// process, which takes the file lock once and keeps it, instead of
	// taking and dropping locks around every transaction (seven fcntl
	// calls a delivery under strace; a delivery through the edge went from
	// 241-255 to 200-207 us), and keeps the WAL index in its heap rather
	// than a -shm file. It must come before journal_mode.
	// busy_timeout bounds how long the start waits for the file's lock
	// (claimSQLite); once the process holds it, nothing else contends.
	// temp_store MEMORY keeps SQLite's temporary files in memory, among
	// them the journal of the savepoints group commit runs each caller in
	// (the old content of every page a caller is first to change). SQLite
	// spills that journal to a file once one savepoint outgrows 64 KiB,
	// and in EXCLUSIVE mode keeps the file open, so from then on every such
	// page cost two pwrite calls: a third of the functions' pwrite calls
	// in the demo (the WAL's frames are most of the rest). Those files are
	// deleted at open and never read after a crash, so durability is as
	// before; the price is that a temporary b-tree (a big sort) lives in
	// memory too.
	dsn := "file:" + path + fmt.Sprintf("?_pragma=busy_timeout(%d)", sqliteClaimTimeout.Milliseconds()) +
		"&_pragma=locking_mode(EXCLUSIVE)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	// Take the lock now, so a second process on the same file (two
	// functions given one database, a replica) fails at start, saying so,
	// instead of at its first write. A predecessor that was killed has
	// released it already; one still stopping gets a few seconds.
	if err := claimSQLite(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{sql: db, dialect: SQLite}, nil
}

// sqlitePath is the database file a sqlite URL names.
func sqlitePath(u *url.URL) string {
	if u.Opaque != "" {
		return u.Opaque
	}
	return u.Host + u.Path
}

// sqliteClaimTimeout is how long a start waits for another process to let
// go of the database file.
var sqliteClaimTimeout = 5 * time.Second

func claimSQLite(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, sqliteClaimTimeout+time.Second)
	defer cancel()
	_, err := db.ExecContext(ctx, "BEGIN EXCLUSIVE; COMMIT")
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff) == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("the database file is in use by another process: an SQLite database belongs to one function process (use PostgreSQL to run several): %w", err)
	}
	return err
}

// LockLosses is how many times group commit ran a transaction function
// again after it lost a lock to another process (a deadlock or a wait past
// the batch's lock_timeout; groupcommit.go).
func (db *DB) LockLosses() int64 { return db.lockLosses.Load() }

// Dialect reports the SQL flavour.
func (db *DB) Dialect() Dialect { return db.dialect }

// RoundTrips is how many times this process has sent PostgreSQL a request
// and waited for its answer (0 on SQLite, which is in-process): one per
// statement outside a transaction, one per pipeline inside one.
func (db *DB) RoundTrips() int64 { return db.roundTrips.Load() }

// String names the database without its credentials.
func (db *DB) String() string { return db.where }

// Close gives up the relay lease, if held, and releases the statements
// and the connections.
func (db *DB) Close() error {
	if l := db.lease.Load(); l != nil {
		l.Release()
	}
	if db.pg != nil {
		db.pg.Close()
		return nil
	}
	db.stmts.mu.Lock()
	for q, st := range db.stmts.m {
		st.Close()
		delete(db.stmts.m, q)
	}
	db.stmts.mu.Unlock()
	return db.sql.Close()
}

// Ping checks the database answers; readiness probes use it.
func (db *DB) Ping(ctx context.Context) error {
	if db.pg != nil {
		return db.pg.Ping(ctx)
	}
	return db.sql.PingContext(ctx)
}

// Exec runs a statement outside any transaction.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.pg != nil {
		db.roundTrips.Add(1)
		tag, err := db.pg.Exec(ctx, db.dialect.rebind(q), args...)
		if err != nil {
			return nil, err
		}
		return &pgResult{sent: true, tag: tag}, nil
	}
	if st := db.prepared(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.sql.ExecContext(ctx, db.dialect.rebind(q), args...)
}

// Query runs a query outside any transaction. Do not call it while holding
// a Tx from the same DB: with SQLite there is one connection and it would
// wait for itself.
func (db *DB) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if db.pg != nil {
		db.roundTrips.Add(1)
		rows, err := db.pg.Query(ctx, db.dialect.rebind(q), args...)
		if err != nil {
			return nil, err
		}
		return &pgRows{rows: rows}, nil
	}
	if st := db.prepared(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.sql.QueryContext(ctx, db.dialect.rebind(q), args...)
}

// QueryRow runs a one-row query outside any transaction.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) Row {
	if db.pg != nil {
		rows, err := db.Query(ctx, q, args...)
		return &pgRow{rows: rows, err: err}
	}
	if st := db.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, db.dialect.rebind(q), args...)
}

// Tx is one transaction.
type Tx struct {
	tx      *sql.Tx // SQLite
	pg      *pgTx   // PostgreSQL
	dialect Dialect
	db      *DB      // nil: no statement cache (migrations)
	unseen  []string // statements run unprepared, to prepare after the transaction
	// shared: the transaction holds other callers' work too (group commit).
	shared bool
}

func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if tx.shared {
		// The driver interrupts a statement whose context ends, and SQLite
		// answers an interrupted write by rolling back the whole
		// transaction, other callers' work included. So in a shared
		// transaction a write that started runs to its end; an ended
		// context still stops the caller before its next statement.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ctx = context.WithoutCancel(ctx)
	}
	if tx.pg != nil {
		return tx.pg.exec(ctx, tx.dialect.rebind(q), args)
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, tx.dialect.rebind(q), args...)
}

func (tx *Tx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	ctx = tx.statementContext(ctx)
	if tx.pg != nil {
		return tx.pg.query(ctx, tx.dialect.rebind(q), args)
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, tx.dialect.rebind(q), args...)
}

func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) Row {
	ctx = tx.statementContext(ctx)
	if tx.pg != nil {
		return tx.pg.queryRow(ctx, tx.dialect.rebind(q), args)
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, tx.dialect.rebind(q), args...)
}

// statementContext is the context a read of a shared transaction runs
// under: not cancelled with its caller, since PostgreSQL (pgx) answers a
// cancelled statement by ending the connection, and the pipeline it goes
// in carries other callers' writes. A caller whose context ended is
// stopped before its next statement instead (Exec).
func (tx *Tx) statementContext(ctx context.Context) context.Context {
	if tx.shared && tx.pg != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt is the cached prepared statement of q bound to this transaction,
// or nil when q has not been prepared yet (it is noted, and prepared once
// the transaction is over).
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if tx.db == nil {
		return nil
	}
	if st := tx.db.stmts.get(q); st != nil {
		return tx.tx.StmtContext(ctx, st)
	}
	tx.unseen = append(tx.unseen, q)
	return nil
}

// Dialect reports the SQL flavour, for the rare statement that differs.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise. A panic in fn rolls its work back and carries on up the
// caller's goroutine.
//
// On SQLite, fn may share its transaction with the functions of other
// callers that arrived while a transaction ran (group commit, see
// groupcommit.go): it runs in a savepoint of its own, so its error undoes
// its work only, and InTx returns once the shared COMMIT is over. If that
// COMMIT fails, every caller whose work (or whose decision) it held gets
// the error. A caller whose ctx ends before fn's turn gets ctx.Err() and
// fn never runs. fn must not call InTx on the same database: the
// transaction waits for it, as the one connection did before.
//
// On PostgreSQL every call has a transaction of its own.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if db.group != nil && !db.groupOff.Load() {
		return db.group.inTx(ctx, fn)
	}
	if db.pg != nil {
		return db.pgInTx(ctx, fn)
	}
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	tx := &Tx{tx: sqlTx, dialect: db.dialect, db: db}
	defer func() { db.prepareAll(tx.unseen) }() // after the connection is back in the pool
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// The statement cache: every statement a function runs is parsed and
// planned once, not on every delivery (SQLite's parser was a tenth of the
// CPU of a delivery). A statement seen first inside a transaction is
// prepared after it: preparing needs a connection, and SQLite's only one
// is the transaction's. Statements are the constant strings of the code,
// so the cache stays small; maxCachedStmts bounds it against any that are
// built at run time.
const maxCachedStmts = 256

type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepared returns q's statement, preparing it now if needs be (outside any
// transaction: the caller holds no connection). nil when it cannot.
func (db *DB) prepared(ctx context.Context, q string) *sql.Stmt {
	if st := db.stmts.get(q); st != nil {
		return st
	}
	db.prepareAll([]string{q})
	return db.stmts.get(q)
}

func (db *DB) prepareAll(qs []string) {
	if db.sql == nil {
		return // PostgreSQL: pgx prepares and caches each statement per connection
	}
	for _, q := range qs {
		db.stmts.mu.Lock()
		_, have := db.stmts.m[q]
		full := len(db.stmts.m) >= maxCachedStmts
		db.stmts.mu.Unlock()
		if have || full {
			continue
		}
		st, err := db.sql.PrepareContext(context.Background(), db.dialect.rebind(q))
		if err != nil {
			continue // the statement itself reports its error when it runs
		}
		db.stmts.mu.Lock()
		if db.stmts.m == nil {
			db.stmts.m = map[string]*sql.Stmt{}
		}
		if _, have := db.stmts.m[q]; have {
			st.Close()
		} else {
			db.stmts.m[q] = st
		}
		db.stmts.mu.Unlock()
	}
}

var (
	sqliteWords   = strings.NewReplacer("{{autoinc}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{bytes}}", "BLOB", "{{forupdate}}", "")
	postgresWords = strings.NewReplacer("{{autoinc}}", "BIGSERIAL PRIMARY KEY", "{{bytes}}", "BYTEA", "{{forupdate}}", "FOR UPDATE")
)

// rebind turns `?` placeholders into `$n` for PostgreSQL and expands the
// type names that differ between dialects. Question marks inside quoted
// literals are left alone.
func (d Dialect) rebind(q string) string {
	if d == SQLite {
		if !strings.Contains(q, "{{") {
			return q
		}
		return sqliteWords.Replace(q)
	}
	q = postgresWords.Replace(q)
	var b strings.Builder
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsUniqueViolation reports whether err is a unique or primary key
// violation, in either dialect: the signal of an optimistic concurrency
// conflict.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if pe, ok := pgError(err); ok {
		return pe.Code == pgUniqueViolation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	// Errors that lost their type on the way (re-wrapped as text).
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") ||
		strings.Contains(s, "constraint failed: PRIMARY KEY") ||
		strings.Contains(s, "(SQLSTATE 23505)")
}

// IsInvalidData reports an error about the data itself, which no retry
// can fix: PostgreSQL's data exceptions (SQLSTATE class 22: a NUL byte or
// invalid UTF-8 in text, a value out of range) and SQLite's "string or blob
// too big".
func IsInvalidData(err error) bool {
	if err == nil {
		return false
	}
	if pe, ok := pgError(err); ok {
		return strings.HasPrefix(pe.Code, "22")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_TOOBIG
	}
	return false
}

// Lock takes a lock named key until the transaction ends, so that
// transactions that read, decide and write the same thing (an order's
// payment, say) run one after the other instead of deciding on the same
// old state. Absent rows can be locked this way too, which SELECT ... FOR
// UPDATE cannot do. On PostgreSQL it is a transaction-scoped advisory lock
// in the current schema's name space; on SQLite it costs nothing, since its
// one connection and immediate transactions already serialise every
// transaction, and the functions sharing one (group commit) take turns.
// Take locks in one global order (an aggregate's lock first,
// then rows in key order) so that two transactions never wait for each
// other.
func (tx *Tx) Lock(ctx context.Context, key string) error {
	if tx.dialect != Postgres {
		return nil
	}
	// Queued on PostgreSQL like any write: it goes out, in order, with the
	// read that follows, which it therefore precedes.
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(current_schema(), '') || '/' || ?, 0))`, key)
	if err != nil {
		return fmt.Errorf("store: lock %q: %w", key, err)
	}
	return nil
}

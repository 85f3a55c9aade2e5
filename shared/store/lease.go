package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RelayLease is the right to publish a database's outbox. Replicas of a
// function share one PostgreSQL outbox, and two relays sweeping it at once
// would send each pending event twice and could put two events of one key
// in flight together, so only the holder of the lease relays; the others
// stand by and take it over when the holder goes away.
//
// On PostgreSQL the lease is a session-level advisory lock held by a
// connection of its own for as long as the lease lives: when the holding
// process dies, or its session is cut, the server ends the session and the
// lock with it, and a standby's next try succeeds. The same connection
// LISTENs for the commits of other processes (see Tx.Enqueue), so the
// holder hears of their events at once instead of at its next tick, and
// it notices a lost session because the wait fails. On SQLite a database
// belongs to one process (Open locks the file), so the lease is always
// granted and holds no connection.
type RelayLease struct {
	db     *DB
	cancel context.CancelFunc
	done   chan struct{} // closed when the lease is gone (released or lost)
	heard  chan struct{} // a commit elsewhere asked for a sweep (buffered, 1)

	mu      sync.Mutex
	err     error // why the lease was lost; nil while held or after Release
	release sync.Once
}

// relayLeaseLock names the advisory lock; the schema's name goes in front,
// as with Tx.Lock, so functions sharing a database by schema do not
// contend.
const relayLeaseLock = "orderflow.outbox-relay"

// TryRelayLease takes the outbox's relay lease if no other session holds
// it: (nil, nil) when another one does.
func (db *DB) TryRelayLease(ctx context.Context) (*RelayLease, error) {
	l := &RelayLease{db: db, done: make(chan struct{}), heard: make(chan struct{}, 1)}
	if db.dialect != Postgres {
		db.relayHere.Store(true)
		l.cancel = func() {}
		return l, nil
	}
	conn, err := db.pg.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: relay lease: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended(COALESCE(current_schema(), '') || '/' || $1, 0))`,
		relayLeaseLock).Scan(&got); err != nil {
		discard(conn) // its state is unknown
		return nil, fmt.Errorf("store: relay lease: %w", err)
	}
	if !got {
		conn.Release()
		return nil, nil
	}
	if _, err := conn.Exec(ctx, `LISTEN `+db.notifyChannel); err != nil {
		discard(conn) // the session ends, and the lock with it
		return nil, fmt.Errorf("store: relay lease: listening for commits: %w", err)
	}
	db.relayHere.Store(true)
	listenCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	db.lease.Store(l)
	go l.listen(listenCtx, conn.Hijack())
	return l, nil
}

// discard closes a pooled connection instead of giving it back.
func discard(conn *pgxpool.Conn) {
	_ = conn.Hijack().Close(context.Background())
}

// listen waits on the lease's session for notifications until the lease
// is released or the session fails. The connection left the pool when the
// lease was taken: its session holds the lock, so it is closed at the end,
// which ends the lock on the server even where an unlock could not be sent.
func (l *RelayLease) listen(ctx context.Context, conn *pgx.Conn) {
	var lostErr error
	for {
		_, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			// Released: unlock now rather than when the server sees the
			// socket close, so a standby can take over at once.
			unlockCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = conn.Exec(unlockCtx, `SELECT pg_advisory_unlock_all()`)
			cancel()
			break
		}
		if err != nil {
			lostErr = fmt.Errorf("store: relay lease lost: its database session failed: %w", err)
			break
		}
		select {
		case l.heard <- struct{}{}:
		default:
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = conn.Close(closeCtx)
	cancel()
	l.db.relayHere.Store(false)
	l.db.lease.CompareAndSwap(l, nil)
	l.mu.Lock()
	l.err = lostErr
	l.mu.Unlock()
	close(l.done)
}

// Done is closed once the lease is gone: released, or lost (Err says why).
func (l *RelayLease) Done() <-chan struct{} { return l.done }

// Heard delivers a value when another process committed outbox events.
func (l *RelayLease) Heard() <-chan struct{} { return l.heard }

// Err is why the lease was lost, or nil while it is held or once released.
func (l *RelayLease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Release gives the lease up and waits until a standby can take it.
func (l *RelayLease) Release() {
	l.cancel()
	if l.db.dialect != Postgres {
		l.release.Do(func() {
			l.db.relayHere.Store(false)
			close(l.done)
		})
		return
	}
	<-l.done
}

// notifyChannelOf names the channel an outbox's commits are announced on:
// one per schema, within PostgreSQL's 63 bytes for an identifier.
func notifyChannelOf(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return "orderflow_outbox_" + hex.EncodeToString(sum[:8])
}

// resolveNotifyChannel reads the schema the connections' search_path
// selects; outbox commits are announced on its channel.
func (db *DB) resolveNotifyChannel(ctx context.Context) error {
	var schema sql.NullString
	if err := db.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("reading the current schema: %w", err)
	}
	db.notifyChannel = notifyChannelOf(schema.String)
	return nil
}

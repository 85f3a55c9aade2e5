package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EdgeMigrations create what every function's edge needs: the
// processed-event ids of its idempotent consumer and its outbox. The
// handler applies them as component "orderflow".
var EdgeMigrations = []string{
	`CREATE TABLE processed_events (
		consumer     TEXT   NOT NULL,
		event_source TEXT   NOT NULL,
		event_id     TEXT   NOT NULL,
		event_type   TEXT   NOT NULL,
		processed_at BIGINT NOT NULL,
		PRIMARY KEY (consumer, event_source, event_id)
	)`,
	`CREATE TABLE outbox (
		seq           {{autoinc}},
		event_id      TEXT    NOT NULL UNIQUE,
		event_type    TEXT    NOT NULL,
		partition_key TEXT    NOT NULL,
		body          {{bytes}} NOT NULL,
		created_at    BIGINT  NOT NULL,
		sent_at       BIGINT,
		attempts      INTEGER NOT NULL DEFAULT 0,
		last_error    TEXT
	)`,
	`CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL`,
	// For Prune: the oldest processed ids and published rows, found
	// without reading the tables whole.
	`CREATE INDEX processed_events_at ON processed_events (processed_at)`,
	`CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL`,
}

// Migrate applies, in order and once each, the schema steps of a component.
// Steps are append-only: never edit one that has shipped, add a new one.
//
// Several processes may start at once against one PostgreSQL database (the
// replicas of a function): they take turns through a session advisory lock
// named after the current schema, so each step runs once and nobody reads
// a half-made table. SQLite's file lock does the same there.
func (db *DB) Migrate(ctx context.Context, component string, steps []string) (err error) {
	if db.pg != nil {
		return db.migratePostgres(ctx, component, steps)
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrations in %s: %w", db.where, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, db.dialect.rebind(migrationsTable)); err != nil {
		return fmt.Errorf("store: migrations table in %s: %w", db.where, err)
	}
	for i, step := range steps {
		err := inConnTx(ctx, conn, db.dialect, func(tx *Tx) error { return applyStep(ctx, tx, component, i+1, step) })
		if err != nil {
			return fmt.Errorf("store: migration %s #%d in %s: %w", component, i+1, db.where, err)
		}
	}
	return nil
}

// migratePostgres is Migrate on one pooled connection that holds the
// migration lock for the whole run.
func (db *DB) migratePostgres(ctx context.Context, component string, steps []string) error {
	conn, err := db.pg.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrations in %s: %w", db.where, err)
	}
	defer conn.Release()
	const key = `hashtextextended('orderflow/migrate/' || COALESCE(current_schema(), ''), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("store: migration lock in %s: %w", db.where, err)
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock(`+key+`)`); uerr != nil {
			// Never hand a connection that may still hold the lock back to
			// the pool: closing the session releases it.
			_ = conn.Conn().Close(unlockCtx)
		}
	}()
	if _, err := conn.Exec(ctx, db.dialect.rebind(migrationsTable)); err != nil {
		return fmt.Errorf("store: migrations table in %s: %w", db.where, err)
	}
	for i, step := range steps {
		t := &pgTx{conn: conn.Conn()}
		err := applyStep(ctx, &Tx{pg: t, dialect: Postgres}, component, i+1, step)
		if err == nil {
			err = t.commit(ctx)
		}
		if err != nil {
			_ = t.rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("store: migration %s #%d in %s: %w", component, i+1, db.where, err)
		}
	}
	return nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS orderflow_migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		applied_at BIGINT  NOT NULL,
		PRIMARY KEY (component, version)
	)`

// applyStep applies step as the component's version, unless it was.
func applyStep(ctx context.Context, tx *Tx, component string, version int, step string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM orderflow_migrations WHERE component = ? AND version = ?`,
		component, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, step); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO orderflow_migrations (component, version, applied_at) VALUES (?, ?, ?)`,
		component, version, NowMillis())
	return err
}

// inConnTx runs fn in a transaction on one pinned connection.
func inConnTx(ctx context.Context, conn *sql.Conn, d Dialect, fn func(tx *Tx) error) error {
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&Tx{tx: sqlTx, dialect: d}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

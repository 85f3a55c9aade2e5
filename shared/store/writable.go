package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Why a store takes no writes at all, as WriteFailure names it.
const (
	DiskFull = "disk full"
	ReadOnly = "read-only"
	IOError  = "I/O error"
)

// PostgreSQL's codes for a server that cannot write (SQLSTATE).
const (
	pgDiskFull            = "53100"
	pgReadOnlyTransaction = "25006" // a standby, or default_transaction_read_only
)

// WriteFailure says whether err is the store failing to write anything
// (the disk is full, the file system or the server read-only, an I/O
// error) rather than a problem of this transaction: DiskFull, ReadOnly or
// IOError, or "" for anything else. Retrying the same write does not help
// until the cause passes; see DB.ProbeWrite.
func WriteFailure(err error) string {
	if err == nil {
		return ""
	}
	if pe, ok := pgError(err); ok {
		switch pe.Code {
		case pgDiskFull:
			return DiskFull
		case pgReadOnlyTransaction:
			return ReadOnly
		}
		return ""
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL:
			return DiskFull
		case sqlite3.SQLITE_READONLY:
			return ReadOnly
		case sqlite3.SQLITE_IOERR:
			return IOError
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return DiskFull
	case errors.Is(err, syscall.EROFS):
		return ReadOnly
	}
	// Errors that lost their type on the way (re-wrapped as text).
	s := err.Error()
	switch {
	case strings.Contains(s, "database or disk is full"), strings.Contains(s, "no space left on device"),
		strings.Contains(s, "(SQLSTATE 53100)"):
		return DiskFull
	case strings.Contains(s, "attempt to write a readonly database"), strings.Contains(s, "(SQLSTATE 25006)"):
		return ReadOnly
	}
	return ""
}

// Where names what holds the store's data for a message about it: for
// SQLite the database file's folder and the space left on its file
// system; for PostgreSQL the server (its disk is the server's).
func (db *DB) Where() string {
	if db.file == "" {
		return db.where
	}
	dir := filepath.Dir(db.file)
	free, total, err := diskSpace(dir)
	if err != nil {
		return dir
	}
	return fmt.Sprintf("%s (%s free of %s)", dir, bytesIEC(free), bytesIEC(total))
}

// probeBytes is how much a write probe writes: more than a delivery's
// transaction does, so a store that takes the probe takes deliveries.
const probeBytes = 64 << 10

// ProbeWrite writes probeBytes to the store and commits, to learn whether
// it takes writes again after a WriteFailure (space freed, say). The
// probe's one row is overwritten each time.
func (db *DB) ProbeWrite(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS orderflow_write_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL, pad {{bytes}} NOT NULL)`); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `INSERT INTO orderflow_write_probe (id, at, pad) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad`, time.Now().UTC().Format(time.RFC3339Nano), make([]byte, probeBytes))
	return err
}

func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

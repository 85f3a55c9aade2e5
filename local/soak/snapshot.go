package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// BookkeepingTables are the tables the edge's pruning deletes from
// (shared/store.Prune): the ids of the events a function processed, for its
// dedupe, and its outbox, whose published rows are only kept for the
// retention. Every other table of a function's databases is its domain: the
// orders themselves (the order event store, the read models, the saga's
// records), which grow with the business, one record set per order.
var BookkeepingTables = map[string]bool{"processed_events": true, "outbox": true}

// FreePages is the Table row Tables adds per file for the pages SQLite
// keeps for reuse after a delete: neither bookkeeping nor domain.
const FreePages = "(free pages)"

// Split adds up a function's tables: the bookkeeping tables' bytes (their
// indexes included), every other table's, and the free pages.
func Split(tables []Table) (bookkeeping, domain, free int64) {
	for _, t := range tables {
		switch {
		case t.Name == FreePages:
			free += t.Bytes
		case BookkeepingTables[t.Name]:
			bookkeeping += t.Bytes
		default:
			domain += t.Bytes
		}
	}
	return bookkeeping, domain, free
}

// snapshotAttempts is how often SnapshotTables copies a function's files
// again when a checkpoint restarted the write-ahead log during the copy.
const snapshotAttempts = 10

// SnapshotTables reads the tables of a function's databases in dir while
// the function runs. The function holds its file with locking_mode
// EXCLUSIVE (shared/store), so no other connection, not even a read-only
// one, may open it (SQLITE_BUSY); instead each database is copied with its
// write-ahead log into a temporary folder and the copy is read (SQLite
// rebuilds the log's index from the log on opening it) and removed.
//
// The copy is consistent when it is the file and then its log: the file
// only changes by a checkpoint copying pages from the log into it, so
// every page a checkpoint was writing meanwhile is still in the log, which
// wins on reading, unless the log was restarted (after a complete
// checkpoint) between the two copies or while the log was being copied.
// Its header says so (a new checkpoint sequence and salts), read before
// the file is copied, from the copy, and from the live log after the copy;
// when they differ the copy is taken again.
func SnapshotTables(ctx context.Context, dir, function string) ([]Table, error) {
	files, err := DatabaseFiles(dir, function)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "orderflow-soak-"+function+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var copied int
	for _, path := range files {
		if strings.HasSuffix(path, "-wal") {
			continue
		}
		if err := copyWithLog(path, tmp); err != nil {
			return nil, fmt.Errorf("copying %s: %w", filepath.Base(path), err)
		}
		copied++
	}
	if copied == 0 {
		return nil, fmt.Errorf("no %s.db in %s", function, dir)
	}
	return Tables(ctx, tmp, function)
}

// copyWithLog copies a database file and then its write-ahead log into
// dir, again while the log was restarted in between or during the copy.
func copyWithLog(path, dir string) error {
	dst := filepath.Join(dir, filepath.Base(path))
	var restarted error
	for range snapshotAttempts {
		before, err := walHeader(path + "-wal")
		if err != nil {
			return err
		}
		if err := copyFile(path, dst); err != nil {
			return err
		}
		// A log may not exist (none written yet, or removed at a clean
		// close): the file alone is then the database.
		if err := copyFile(path+"-wal", dst+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		copied, err := walHeader(dst + "-wal")
		if err != nil {
			return err
		}
		// The copied log's header is read first, so it cannot tell
		// whether the log restarted while the rest of it was being
		// copied: frames of the new log would then follow the old
		// header, and recovery would keep only the old log's frames
		// before them, while the file may hold pages a checkpoint
		// copied from later ones (a malformed copy). The live log's
		// header, read after the copy, does tell.
		live, err := walHeader(path + "-wal")
		if err != nil {
			return err
		}
		if SameLog(before, copied) && SameLog(copied, live) {
			return nil
		}
		restarted = fmt.Errorf("its write-ahead log was restarted during the copy %d times in a row", snapshotAttempts)
		os.Remove(dst + "-wal")
	}
	return restarted
}

// walHeaderSize is a write-ahead log's header: magic, format, page size,
// checkpoint sequence, two salts, two checksums.
const walHeaderSize = 32

// walHeader is the first 32 bytes of a log, nil when there is no log (or
// none written yet).
func walHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(f, h); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return h, nil
}

// SameLog says whether two headers of a database's log (before copying the
// file, and of the copied log) are of the same log, not restarted between
// them: the same checkpoint sequence and salts (bytes 12-24). A log that
// appeared in between is fine (nothing was checkpointed from it into the
// file yet); one that went away is not (the file was checkpointed as it
// closed).
func SameLog(before, after []byte) bool {
	switch {
	case before == nil:
		return true
	case after == nil:
		return false
	}
	return bytes.Equal(before[12:24], after[12:24])
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

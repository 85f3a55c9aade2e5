package store

import "time"

// For the tests of package store_test. Group commit serves both dialects.

// ObserveGroupCommit has observe called as each of db's group-commit
// batches ends, with the number of callers the batch took.
func ObserveGroupCommit(db *DB, observe func(callers int)) { db.group.afterBatch = observe }

// SetMaxGroupCallers bounds db's batches at n callers.
func SetMaxGroupCallers(db *DB, n int) { db.group.maxCallers = n }

// GroupCommitWaiting is how many callers wait for db's next batch.
func GroupCommitWaiting(db *DB) int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return len(db.group.waiting)
}

// SetSQLiteClaimTimeout shortens the wait for another process's lock.
func SetSQLiteClaimTimeout(d time.Duration) (restore func()) {
	old := sqliteClaimTimeout
	sqliteClaimTimeout = d
	return func() { sqliteClaimTimeout = old }
}

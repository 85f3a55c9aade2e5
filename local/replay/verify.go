package replay

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store"
)

// What --verify compares, and the in-flight rule.
//
// The rebuilt model holds exactly the records below the snapshot (Result.
// End); the live one holds whatever the live function has handled, which
// keeps moving. Verify compares only what both must agree on:
//
//  1. It waits (up to Settle) until every consumer group of the function's
//     KafkaSources has committed at or past the snapshot on every
//     partition, so the live model holds at least every record replayed.
//  2. It reads the live model.
//  3. It excludes every order that may hold more than the log below the
//     snapshot: those with an event still in the live outbox (decided,
//     not yet in the log) and those with any record between the snapshot
//     and the end of the log read after step 2 (handled live past the
//     snapshot, or published since).
//  4. It compares, for every other order, every field of both models.
//
// So a run against a busy topology compares the orders that were settled
// at the snapshot and reports how many it left out; after the topology
// settled (no new orders), it compares all of them.

// Difference is one field on which the live and rebuilt models disagree.
type Difference struct {
	OrderID string
	Field   string // the field's name; for analytics windows, it names the window and the fact
	Live    string // "" when the live model lacks it
	Rebuilt string // "" when the rebuilt model lacks it
}

func (d Difference) String() string {
	show := func(s string) string {
		if s == "" {
			return "(absent)"
		}
		return s
	}
	return fmt.Sprintf("%s %s: live %s, rebuilt %s", d.OrderID, d.Field, show(d.Live), show(d.Rebuilt))
}

// VerifyOptions configure a comparison.
type VerifyOptions struct {
	Client sarama.Client
	Plan   Plan
	// Live is the live function's store; or, when nil, LiveURL is opened
	// (OpenLive, copying a SQLite file into CopyDir) once the live groups
	// passed the snapshot, not before: a copy taken earlier would miss
	// what they handled meanwhile.
	Live    *store.DB
	LiveURL string
	CopyDir string
	// Settle bounds the wait for the live consumer groups to pass the
	// snapshot.
	Settle time.Duration
	// Progress, when set, hears about the wait.
	Progress io.Writer
}

// Verdict is the outcome of a comparison.
type Verdict struct {
	Differences []Difference
	// Compared counts the orders compared; Excluded lists those left out
	// as in flight (step 3 above).
	Compared int
	Excluded []string
}

// OK reports whether the models agree.
func (v Verdict) OK() bool { return len(v.Differences) == 0 }

// Verify compares the rebuilt store with the live one (see above).
func Verify(ctx context.Context, fn Function, rebuilt *store.DB, res Result, opts VerifyOptions) (Verdict, error) {
	var v Verdict
	if err := waitForGroups(ctx, opts, res.End); err != nil {
		return v, err
	}
	liveDB := opts.Live
	if liveDB == nil {
		db, closeLive, err := OpenLive(ctx, opts.LiveURL, opts.CopyDir)
		if err != nil {
			return v, err
		}
		defer closeLive()
		liveDB = db
	}
	live, err := fn.Snapshot(ctx, liveDB)
	if err != nil {
		return v, fmt.Errorf("reading the live %s model from %s: %w", fn.Name, liveDB, err)
	}
	excluded, err := unsentOrders(ctx, liveDB)
	if err != nil {
		return v, fmt.Errorf("reading the live outbox from %s: %w", liveDB, err)
	}
	after, err := EndOffsets(opts.Client, opts.Plan.Topics)
	if err != nil {
		return v, err
	}
	if err := ordersBetween(ctx, opts.Client, res.End, after, excluded); err != nil {
		return v, err
	}
	mine, err := fn.Snapshot(ctx, rebuilt)
	if err != nil {
		return v, fmt.Errorf("reading the rebuilt %s model: %w", fn.Name, err)
	}
	v.Differences, v.Compared = Compare(live, mine, excluded)
	v.Excluded = slices.Sorted(maps.Keys(excluded))
	return v, nil
}

// Compare lists every field that differs between two flattened models,
// leaving out the excluded orders, sorted by order and field; and counts
// the orders compared.
func Compare(live, rebuilt map[string]map[string]string, excluded map[string]bool) ([]Difference, int) {
	ids := map[string]bool{}
	for id := range live {
		ids[id] = true
	}
	for id := range rebuilt {
		ids[id] = true
	}
	var out []Difference
	compared := 0
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if excluded[id] {
			continue
		}
		compared++
		fields := map[string]bool{}
		for f := range live[id] {
			fields[f] = true
		}
		for f := range rebuilt[id] {
			fields[f] = true
		}
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			l, lok := live[id][f]
			r, rok := rebuilt[id][f]
			if l != r || lok != rok {
				out = append(out, Difference{OrderID: id, Field: f, Live: l, Rebuilt: r})
			}
		}
	}
	return out, compared
}

// waitForGroups waits until every group has committed at or past end on
// every partition of its topics.
func waitForGroups(ctx context.Context, opts VerifyOptions, end Offsets) error {
	var groups []lag.Group
	for _, g := range slices.Sorted(maps.Keys(opts.Plan.Groups)) {
		groups = append(groups, lag.Group{Name: g, Topics: opts.Plan.Groups[g]})
	}
	deadline := time.Now().Add(opts.Settle)
	said := false
	for {
		parts, err := lag.Read(ctx, opts.Client, groups)
		if err != nil {
			return err
		}
		var behind []string
		for _, p := range parts {
			if ends, ok := end[p.Topic]; ok && int(p.Partition) < len(ends) && p.Committed < ends[p.Partition] && ends[p.Partition] > p.Start {
				behind = append(behind, fmt.Sprintf("%s %s/%d at %d of %d", p.Group, p.Topic, p.Partition, p.Committed, ends[p.Partition]))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the live function has not read up to the replay's snapshot after %s (%s): it is behind or stopped; "+
				"verify compares only what both have read (see `orderflow lag`), or raise --settle", opts.Settle, strings.Join(behind, ", "))
		}
		if opts.Progress != nil && !said {
			fmt.Fprintf(opts.Progress, "verify: waiting for the live consumer groups to reach the snapshot (%d partition(s) behind)\n", len(behind))
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unsentOrders are the orders with an event in the live outbox not yet
// published: decided live, not yet in the log.
func unsentOrders(ctx context.Context, db *store.DB) (map[string]bool, error) {
	out := map[string]bool{}
	rows, err := db.Query(ctx, `SELECT DISTINCT partition_key FROM outbox WHERE sent_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ordersBetween adds to into the order of every record between from and
// to: its key (the order id, the partition key every orderflow event
// carries), or the key of its payload.
func ordersBetween(ctx context.Context, client sarama.Client, from, to Offsets, into map[string]bool) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	for t, ends := range to {
		for p, end := range ends {
			start := int64(0)
			if p < len(from[t]) {
				start = from[t][p]
			}
			err := kafkalog.ReadRange(ctx, consumer, t, int32(p), start, end, func(r kafkalog.Record) error {
				id := r.Key
				if id == "" && r.Event != nil {
					if data, err := events.Decode(r.Event.Type(), r.Event.Data()); err == nil {
						id = events.Key(data)
					}
				}
				into[id] = true
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// OpenLive opens the live function's store for reading. A SQLite file
// belongs to its one running process, which holds its lock for as long
// as it runs, so it is copied (with its write-ahead log) into dir and
// the copy opened; SQLite recovers the committed transactions of the log
// on opening it. PostgreSQL is read in place.
func OpenLive(ctx context.Context, url, dir string) (db *store.DB, cleanup func(), err error) {
	path, isSQLite := sqlitePath(url)
	if !isSQLite {
		db, err := store.Open(ctx, "--live-database", url)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("the live database %s: %w", path, err)
	}
	tmp, err := os.MkdirTemp(dir, "live-copy-")
	if err != nil {
		return nil, nil, err
	}
	removeCopy := func() { os.RemoveAll(tmp) }
	cleanup = removeCopy
	copyPath := filepath.Join(tmp, filepath.Base(path))
	// A copy taken while the function wrote (a checkpoint moving pages
	// from the log to the file) may not hold together: copy again until
	// both files stayed the same through a copy.
	for attempt := 1; ; attempt++ {
		stable, err := copyFiles(path, copyPath, "", "-wal")
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("copying the live database: %w", err)
		}
		if stable {
			break
		}
		if attempt == 10 {
			cleanup()
			return nil, nil, fmt.Errorf("the live database %s kept changing while it was copied: verify once the topology is idle", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
	db, err = store.Open(ctx, "--live-database", "sqlite://"+copyPath)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	var check string
	if err := db.QueryRow(ctx, `PRAGMA quick_check`).Scan(&check); err != nil || check != "ok" {
		db.Close()
		cleanup()
		return nil, nil, fmt.Errorf("the copy of the live database %s is not consistent (%s %v): copy it again once the function is idle", path, check, err)
	}
	return db, func() { db.Close(); removeCopy() }, nil
}

func sqlitePath(url string) (string, bool) {
	for _, prefix := range []string{"sqlite://", "file:"} {
		if p, ok := strings.CutPrefix(url, prefix); ok {
			return p, true
		}
	}
	return "", false
}

// copyFiles copies path+suffix to to+suffix for each suffix (a missing
// one is skipped) and reports whether none changed during the copy.
func copyFiles(path, to string, suffixes ...string) (stable bool, err error) {
	stat := func() ([]string, error) {
		var out []string
		for _, s := range suffixes {
			fi, err := os.Stat(path + s)
			if os.IsNotExist(err) {
				out = append(out, "-")
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprint(fi.Size(), fi.ModTime().UnixNano()))
		}
		return out, nil
	}
	before, err := stat()
	if err != nil {
		return false, err
	}
	for _, s := range suffixes {
		b, err := os.ReadFile(path + s)
		if os.IsNotExist(err) {
			os.Remove(to + s)
			continue
		}
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(to+s, b, 0o600); err != nil {
			return false, err
		}
	}
	after, err := stat()
	return slices.Equal(before, after), err
}

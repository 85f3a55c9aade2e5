package handler_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// Stopping Run while the sink holds an event lets that send finish and be
// marked: the sink took the event, and abandoning the answer left it
// pending, so the last sweep at stop sent it a second time (the cause of
// TestRelayFlushBesideRun's rare failure on PostgreSQL, where its last
// sends were still in flight when the test stopped Run).
func TestRelayStopLetsTheSendInFlightFinish(t *testing.T) {
	rig := newRelayRig(t, 4)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	rig.sink.AnswerWith(func(event.Event) int {
		once.Do(func() { close(arrived) })
		<-release
		return http.StatusAccepted
	})
	rig.enqueue(t, storetest.OutboxEvent("o-1/0", "o-1"))
	runCtx, stopRun := context.WithCancel(context.Background())
	running := make(chan struct{})
	go func() { defer close(running); rig.relay.Run(runCtx, time.Hour) }()
	<-arrived
	stopRun()
	time.Sleep(20 * time.Millisecond) // a cancelled send would give up now
	close(release)
	<-running
	if _, err := rig.relay.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := idsOf(rig.sink.Events()); !slices.Equal(got, []string{"o-1/0"}) {
		t.Fatalf("the sink took %v, want o-1/0 once", got)
	}
	if pending := rig.ids(t, false); len(pending) != 0 {
		t.Fatalf("still pending: %v", pending)
	}
}

// leaseRelay is one process's worth of relay: a database handle of its own
// on the shared outbox, and a relay over it.
type leaseRelay struct {
	name  string
	db    *store.DB
	relay *handler.Relay
	stop  context.CancelFunc
	done  chan struct{}
	dupes atomic.Int64
}

func startLeaseRelay(t *testing.T, name, url, sinkURL string) *leaseRelay {
	t.Helper()
	db, err := store.Open(context.Background(), "TEST_DATABASE_URL", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sender, err := ce.NewSender("K_SINK", sinkURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &leaseRelay{name: name, db: db, done: make(chan struct{}),
		relay: handler.NewRelay(db, sender, slog.New(slog.DiscardHandler), 4)}
	r.relay.OnPossibleDuplicate(func(_ string, n int) { r.dupes.Add(int64(n)) })
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go func() { defer close(r.done); r.relay.Run(ctx, 20*time.Millisecond) }()
	t.Cleanup(r.shutdown)
	return r
}

// twoLeaseRelays starts two processes' worth of relay over the outbox at
// url, after migrating it.
func twoLeaseRelays(t *testing.T, url, sinkURL string) (a, b *leaseRelay) {
	t.Helper()
	a = startLeaseRelay(t, "a", url, sinkURL)
	if err := a.db.Migrate(context.Background(), "orderflow", store.EdgeMigrations); err != nil {
		t.Fatal(err)
	}
	return a, startLeaseRelay(t, "b", url, sinkURL)
}

// shutdown stops the relay as App.Stop does: Run ends, a last sweep, the
// lease given up.
func (r *leaseRelay) shutdown() {
	r.stop()
	<-r.done
	_, _ = r.relay.Flush(context.Background())
	r.relay.Close()
}

// commitBurst commits perKey events for each of keys keys, each through
// one of the databases in turn (so both processes' handlers commit), a
// key's events one after the other, and kicks the committing process's
// relay as a handler does. It returns each key's ids in commit order.
func commitBurst(t *testing.T, procs []*leaseRelay, keys, perKey int, between func(i int)) map[string][]string {
	t.Helper()
	ctx := context.Background()
	want := map[string][]string{}
	n := 0
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("o-%d", k)
			id := fmt.Sprintf("%s/%d", key, i)
			p := procs[n%len(procs)]
			n++
			if err := p.db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, storetest.OutboxEvent(id, key)) }); err != nil {
				t.Fatalf("commit %s through %s: %v", id, p.name, err)
			}
			p.relay.Kick()
			want[key] = append(want[key], id)
		}
		if between != nil {
			between(i)
		}
	}
	return want
}

// waitDrained waits until the outbox has nothing pending.
func waitDrained(t *testing.T, db *store.DB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, _, err := db.OutboxBacklog(context.Background())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d event(s) after %s (last error %v)", n, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func requirePostgres(t *testing.T) string {
	t.Helper()
	if !storetest.OnPostgres() {
		t.Skip("two processes on one outbox need PostgreSQL: an SQLite database belongs to one process (store.Open refuses a second)")
	}
	return storetest.URL(t, "lease")
}

// Two relays, two processes' worth, over one PostgreSQL outbox while both
// processes' handlers commit: one holds the lease and publishes, the other
// stands by; when the holder stops, the other takes over. Every key's
// events arrive once each, in commit order, never two of a key in flight.
func TestTwoRelaysOverOneOutbox(t *testing.T) {
	url := requirePostgres(t)
	sink := handlertest.NewSink(t)
	var flight inFlight
	sink.AnswerWith(func(e event.Event) int {
		defer flight.hold(e)()
		jitter(300)
		return http.StatusAccepted
	})
	a, b := twoLeaseRelays(t, url, sink.URL)
	procs := []*leaseRelay{a, b}
	const keys, perKey = 12, 10
	want := commitBurst(t, procs, keys, perKey, func(i int) {
		if i == perKey/2 {
			// Whoever relays now stops, as a replica scaled down does;
			// the other must take over with the outbox mid-burst.
			waitForLeader(t, a, b).shutdown()
		}
	})
	waitDrained(t, a.db, 30*time.Second)
	sameOrderPerKey(t, byKey(sink.Events()), want)
	if len(flight.overlaps) > 0 {
		t.Errorf("two events of one key in flight at once: %v", flight.overlaps)
	}
	if d := a.dupes.Load() + b.dupes.Load(); d != 0 {
		t.Errorf("the relays counted %d possible duplicate(s) with no fault", d)
	}
}

// waitForLeader returns the relay that holds the lease once one does.
func waitForLeader(t *testing.T, procs ...*leaseRelay) *leaseRelay {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range procs {
			if p.relay.Leading() {
				return p
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no relay took the lease within 10s")
	return nil
}

// When the leader's database session is cut (the server ends it, as a
// failover or a network cut does), its lease is gone: the other relay
// takes over and the outbox drains, keys in order. Sends the old leader
// abandoned may land twice; the relays count each such event in
// orderflow_outbox_possible_duplicates_total, and the sink saw no more
// duplicates than they counted.
func TestRelayLeaseMovesWhenTheSessionIsCut(t *testing.T) {
	url := requirePostgres(t)
	sink := handlertest.NewSink(t)
	sink.AnswerWith(func(e event.Event) int {
		jitter(2000)
		return http.StatusAccepted
	})
	a, b := twoLeaseRelays(t, url, sink.URL)
	const keys, perKey = 12, 10
	cut := false
	var old *leaseRelay
	want := commitBurst(t, []*leaseRelay{a, b}, keys, perKey, func(i int) {
		if i == perKey/2 && !cut {
			old = waitForLeader(t, a, b)
			terminateLeaseSession(t, old.db)
			cut = true
		}
	})
	waitDrained(t, a.db, 30*time.Second)
	dupes := int64(0)
	for key, ids := range byKey(sink.Events()) {
		first := []string{}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				dupes++
				continue
			}
			seen[id] = true
			first = append(first, id)
		}
		if !slices.Equal(first, want[key]) {
			t.Errorf("key %s: first copies arrived as %v, want %v", key, first, want[key])
		}
	}
	if counted := a.dupes.Load() + b.dupes.Load(); dupes > counted {
		t.Errorf("the sink took %d duplicate(s), the relays counted %d possible", dupes, counted)
	}
	t.Logf("duplicates at the sink: %d; counted as possible: %d", dupes, a.dupes.Load()+b.dupes.Load())
	if l := waitForLeader(t, a, b); l == old {
		// It may win the lease back once its pool reconnects; both are fine,
		// but it must have lost it: the other relay published meanwhile.
		t.Logf("%s holds the lease again", l.name)
	}
}

// terminateLeaseSession ends, on the server, the session that holds db's
// relay lease (an advisory lock), as a failover or a cut connection would.
func terminateLeaseSession(t *testing.T, db *store.DB) {
	t.Helper()
	var n int
	err := db.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND objid = (hashtextextended(COALESCE(current_schema(), '') || '/' || 'orderflow.outbox-relay', 0) & 4294967295)::oid`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d lease session(s), want 1", n)
	}
}

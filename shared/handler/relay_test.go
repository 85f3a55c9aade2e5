package handler_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
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

// relayRig is a relay over a fresh outbox, publishing to a recording sink,
// on a clock the test moves.
type relayRig struct {
	db      *store.DB
	sink    *handlertest.Sink
	relay   *handler.Relay
	logs    *lockedBuffer
	elapsed atomic.Int64 // nanoseconds the test moved the relay's clock on
}

func newRelayRig(t *testing.T, concurrency int) *relayRig {
	t.Helper()
	db := storetest.Open(t, "relay")
	if err := db.Migrate(context.Background(), "orderflow", store.EdgeMigrations); err != nil {
		t.Fatal(err)
	}
	sink := handlertest.NewSink(t)
	sender, err := ce.NewSender("K_SINK", sink.URL)
	if err != nil {
		t.Fatal(err)
	}
	rig := &relayRig{db: db, sink: sink, logs: &lockedBuffer{}}
	rig.relay = handler.NewRelay(db, sender, slog.New(slog.NewTextHandler(rig.logs, nil)), concurrency)
	start := time.Now()
	rig.relay.SetClock(func() time.Time { return start.Add(time.Duration(rig.elapsed.Load())) })
	return rig
}

func (rig *relayRig) advance(d time.Duration) { rig.elapsed.Add(int64(d)) }

// enqueue commits events to the outbox in one transaction, as a handler
// does.
func (rig *relayRig) enqueue(t *testing.T, events ...event.Event) {
	t.Helper()
	ctx := context.Background()
	if err := rig.db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, events...) }); err != nil {
		t.Fatal(err)
	}
}

// ids lists the outbox's event ids, oldest first: the unsent ones, or the
// sent ones.
func (rig *relayRig) ids(t *testing.T, sent bool) []string {
	t.Helper()
	cond := "sent_at IS NULL"
	if sent {
		cond = "sent_at IS NOT NULL"
	}
	rows, err := rig.db.Query(context.Background(), `SELECT event_id FROM outbox WHERE `+cond+` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// burst is perKey events of each of keys keys, committed round by round
// (every key's first event, then every key's second...) so that commit
// order interleaves the keys, and, per key, the ids in commit order.
func burst(t *testing.T, rig *relayRig, keys, perKey int) map[string][]string {
	t.Helper()
	want := map[string][]string{}
	for i := 0; i < perKey; i++ {
		var round []event.Event
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("o-%d", k)
			id := fmt.Sprintf("%s/%d", key, i)
			round = append(round, storetest.OutboxEvent(id, key))
			want[key] = append(want[key], id)
		}
		rig.enqueue(t, round...)
	}
	return want
}

// byKey is, per partition key, the ids of events in the order given;
// key-less events are left out.
func byKey(events []event.Event) map[string][]string {
	out := map[string][]string{}
	for _, e := range events {
		if key := ce.String(e, ce.PartitionKey); key != "" {
			out[key] = append(out[key], e.ID())
		}
	}
	return out
}

func idsOf(events []event.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID())
	}
	return out
}

// sameOrderPerKey fails the test unless every key's events arrived exactly
// once each, in commit order.
func sameOrderPerKey(t *testing.T, got, want map[string][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("events of %d keys arrived, want %d", len(got), len(want))
	}
	for key, ids := range want {
		if !slices.Equal(got[key], ids) {
			t.Errorf("key %s arrived as %v, want %v", key, got[key], ids)
		}
	}
}

// inFlight is a sink's view of concurrency: how many requests it holds at
// once, and whether a key ever had two.
type inFlight struct {
	mu       sync.Mutex
	perKey   map[string]int
	now      int
	peak     int
	overlaps []string // keys that had a second event in flight
}

// hold counts e in flight until the returned func is called. Key-less
// events are each their own chain, so only keyed ones can overlap.
func (f *inFlight) hold(e event.Event) (release func()) {
	key := ce.String(e, ce.PartitionKey)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perKey == nil {
		f.perKey = map[string]int{}
	}
	f.now++
	f.peak = max(f.peak, f.now)
	if key != "" {
		if f.perKey[key] > 0 {
			f.overlaps = append(f.overlaps, key)
		}
		f.perKey[key]++
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.now--
		if key != "" {
			f.perKey[key]--
		}
	}
}

func jitter(maxMicros int) { time.Sleep(time.Duration(rand.IntN(maxMicros)) * time.Microsecond) }

func TestRelayKeepsEachKeysOrderUnderConcurrency(t *testing.T) {
	tests := []struct{ keys, perKey, concurrency int }{
		{30, 6, 1},
		{30, 6, 8},
		{3, 40, 8}, // fewer keys than sends allowed in flight
	}
	for _, tt := range tests {
		keys, perKey, concurrency := tt.keys, tt.perKey, tt.concurrency
		t.Run(fmt.Sprintf("%d keys x %d, concurrency %d", keys, perKey, concurrency), func(t *testing.T) {
			rig := newRelayRig(t, concurrency)
			var flight inFlight
			rig.sink.AnswerWith(func(e event.Event) int {
				defer flight.hold(e)()
				jitter(2000)
				return http.StatusAccepted
			})
			want := burst(t, rig, keys, perKey)
			rig.enqueue(t, storetest.OutboxEvent("keyless-1", ""), storetest.OutboxEvent("keyless-2", ""))

			n, err := rig.relay.Flush(context.Background())
			if err != nil || n != keys*perKey+2 {
				t.Fatalf("flush: %d %v, want %d sent", n, err, keys*perKey+2)
			}
			got := rig.sink.Events()
			sameOrderPerKey(t, byKey(got), want)
			if ids := idsOf(got); !slices.Contains(ids, "keyless-1") || !slices.Contains(ids, "keyless-2") {
				t.Errorf("key-less events missing from %v", ids)
			}
			if len(flight.overlaps) > 0 {
				t.Errorf("two events of one key in flight at once: %v", flight.overlaps)
			}
			if flight.peak > concurrency || (concurrency > 1 && flight.peak < 2) {
				t.Errorf("at most %d sends in flight at once, want between 2 and %d", flight.peak, concurrency)
			}
			if pending := rig.ids(t, false); len(pending) != 0 {
				t.Errorf("still pending: %v", pending)
			}
		})
	}
}

// When a key's oldest event fails, its later events wait for it and every
// other key goes on; once the sink takes it, the key resumes in order.
func TestRelayHoldsBackOnlyTheFailingKey(t *testing.T) {
	tests := []struct {
		name      string
		failing   string // id of the event the sink does not take
		status    int
		permanent bool
		heldBack  []string // ids that must stay pending, in commit order
	}{
		{name: "a key's first event fails", failing: "o-bad/0", status: http.StatusServiceUnavailable,
			heldBack: []string{"o-bad/0", "o-bad/1", "o-bad/2"}},
		{name: "a key's middle event is refused for good", failing: "o-bad/1", status: http.StatusBadRequest, permanent: true,
			heldBack: []string{"o-bad/1", "o-bad/2"}},
		{name: "a key-less event is refused for good", failing: "keyless-1", status: http.StatusRequestEntityTooLarge, permanent: true,
			heldBack: []string{"keyless-1"}},
		{name: "404 is not for good", failing: "o-bad/0", status: http.StatusNotFound,
			heldBack: []string{"o-bad/0", "o-bad/1", "o-bad/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newRelayRig(t, 4)
			var attempts atomic.Int64
			failing := func(e event.Event) int {
				if e.ID() != tt.failing {
					return http.StatusAccepted
				}
				attempts.Add(1)
				return tt.status
			}
			rig.sink.AnswerWith(failing)
			var all []event.Event
			for i := 0; i < 3; i++ {
				for _, key := range []string{"o-a", "o-bad", "o-b"} {
					all = append(all, storetest.OutboxEvent(fmt.Sprintf("%s/%d", key, i), key))
				}
				all = append(all, storetest.OutboxEvent(fmt.Sprintf("keyless-%d", i), ""))
			}
			rig.enqueue(t, all...)

			n, err := rig.relay.Flush(context.Background())
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(tt.status)) {
				t.Fatalf("flush reported %v, want the failure with its status %d", err, tt.status)
			}
			if want := len(all) - len(tt.heldBack); n != want {
				t.Errorf("sent %d, want %d", n, want)
			}
			if pending := rig.ids(t, false); !slices.Equal(pending, tt.heldBack) {
				t.Errorf("pending %v, want %v", pending, tt.heldBack)
			}
			for _, id := range idsOf(rig.sink.Events()) {
				if slices.Contains(tt.heldBack, id) {
					t.Errorf("%s went out although it waits behind %s", id, tt.failing)
				}
			}
			var lastError string
			if err := rig.db.QueryRow(context.Background(), `SELECT COALESCE(last_error, '') FROM outbox WHERE event_id = ?`, tt.failing).Scan(&lastError); err != nil || !strings.Contains(lastError, fmt.Sprint(tt.status)) {
				t.Errorf("the failed event's last_error %q (%v)", lastError, err)
			}
			logged := rig.logs.String()
			if loud := strings.Contains(logged, "level=ERROR") && strings.Contains(logged, tt.failing); loud != tt.permanent {
				t.Errorf("logged as an error: %v, want %v (only a refusal for good needs a person); log:\n%s", loud, tt.permanent, logged)
			}

			// The next sweep offers a failed event again at once, a refused
			// one only once its backoff is over.
			// A refused event waiting out its backoff is no failure of the
			// sweep that skips it.
			before := attempts.Load()
			_, err = rig.relay.Flush(context.Background())
			again := attempts.Load() - before
			if tt.permanent && (again != 0 || err != nil) {
				t.Errorf("second sweep offered the refused event %d time(s) and reported %v, want none and no error", again, err)
			}
			if !tt.permanent && (again != 1 || err == nil) {
				t.Errorf("second sweep offered the failed event %d time(s) and reported %v, want once and the failure", again, err)
			}

			rig.sink.Reset()
			rig.sink.AnswerWith(nil)
			rig.advance(handler.FirstRefusalBackoff)
			if n, err := rig.relay.Flush(context.Background()); err != nil || n != len(tt.heldBack) {
				t.Fatalf("after the sink took it: sent %d, %v; want %d", n, err, len(tt.heldBack))
			}
			if got := idsOf(rig.sink.Events()); !slices.Equal(got, tt.heldBack) {
				t.Errorf("the held-back events went out as %v, want %v", got, tt.heldBack)
			}
		})
	}
}

// A refused event is offered again after a wait that doubles with each
// refusal, however often the relay sweeps meanwhile.
func TestRelayBacksOffARefusedKey(t *testing.T) {
	rig := newRelayRig(t, 4)
	var attempts atomic.Int64
	rig.sink.AnswerWith(func(event.Event) int { attempts.Add(1); return http.StatusUnprocessableEntity })
	rig.enqueue(t, storetest.OutboxEvent("o-1/0", "o-1"), storetest.OutboxEvent("o-1/1", "o-1"))
	first := handler.FirstRefusalBackoff
	steps := []struct {
		advance      time.Duration
		wantAttempts int64
	}{
		{0, 1}, // refused: wait first
		{0, 1}, // sweeps in between leave it alone
		{first - time.Nanosecond, 1},
		{time.Nanosecond, 2}, // waited first: refused again, wait 2*first
		{first, 2},
		{first, 3}, // waited 2*first: refused again, wait 4*first
		{3 * first, 3},
		{first, 4},
	}
	for i, step := range steps {
		rig.advance(step.advance)
		_, _ = rig.relay.Flush(context.Background())
		if got := attempts.Load(); got != step.wantAttempts {
			t.Fatalf("step %d: %d attempts, want %d", i, got, step.wantAttempts)
		}
	}
	if len(rig.sink.Events()) != 0 {
		t.Fatal("the refused event's successor went out")
	}
}

// A sink that fails every send is most likely down: a sweep gives up after
// `concurrency` failures in a row instead of trying every key.
func TestRelayStopsSweepingWhenTheSinkIsDown(t *testing.T) {
	const concurrency = 4
	rig := newRelayRig(t, concurrency)
	var attempts atomic.Int64
	rig.sink.AnswerWith(func(event.Event) int { attempts.Add(1); return http.StatusServiceUnavailable })
	want := burst(t, rig, 100, 1)
	if _, err := rig.relay.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("flush into a dead sink: %v", err)
	}
	// The failures that stop it plus the sends already in flight then.
	if n := attempts.Load(); n < concurrency || n > 2*concurrency-1 {
		t.Errorf("%d sends into a dead sink, want %d to %d", n, concurrency, 2*concurrency-1)
	}
	if pending := rig.ids(t, false); len(pending) != 100 {
		t.Errorf("%d pending, want 100", len(pending))
	}
	rig.sink.AnswerWith(nil)
	if n, err := rig.relay.Flush(context.Background()); err != nil || n != 100 {
		t.Fatalf("after the sink came back: %d %v", n, err)
	}
	sameOrderPerKey(t, byKey(rig.sink.Events()), want)
}

// A sink that fails at random: after every sweep, exactly what it
// acknowledged is marked sent, and in the end every event went out once,
// each key in order.
func TestRelayMarksOnlyWhatTheSinkAcknowledged(t *testing.T) {
	rig := newRelayRig(t, 8)
	var mu sync.Mutex
	acked := map[string]bool{}
	rig.sink.AnswerWith(func(e event.Event) int {
		jitter(500)
		if rand.IntN(4) == 0 {
			return http.StatusServiceUnavailable
		}
		mu.Lock()
		acked[e.ID()] = true
		mu.Unlock()
		return http.StatusAccepted
	})
	want := burst(t, rig, 20, 5)
	for sweep := 0; len(rig.ids(t, false)) > 0; sweep++ {
		if sweep == 200 {
			t.Fatalf("outbox not empty after %d sweeps: %v", sweep, rig.ids(t, false))
		}
		_, _ = rig.relay.Flush(context.Background())
		mu.Lock()
		var ackedIDs []string
		for id := range acked {
			ackedIDs = append(ackedIDs, id)
		}
		mu.Unlock()
		sort.Strings(ackedIDs)
		marked := rig.ids(t, true)
		sort.Strings(marked)
		if !slices.Equal(marked, ackedIDs) {
			t.Fatalf("sweep %d: marked sent %v, acknowledged %v", sweep, marked, ackedIDs)
		}
	}
	sameOrderPerKey(t, byKey(rig.sink.Events()), want)
}

// Acknowledged events whose mark fails stay pending and go out again, in
// order, on the next sweep: at-least-once, as after a crash between the
// send and the mark.
func TestRelayResendsWhatItCouldNotMark(t *testing.T) {
	if storetest.OnPostgres() {
		t.Skip("breaks the mark with a SQLite trigger")
	}
	rig := newRelayRig(t, 4)
	ctx := context.Background()
	want := burst(t, rig, 10, 3)
	if _, err := rig.db.Exec(ctx, `CREATE TRIGGER outbox_mark_fails BEFORE UPDATE OF sent_at ON outbox
		WHEN NEW.sent_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	n, err := rig.relay.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "not marked sent") || n == 0 {
		t.Fatalf("flush with marks failing: sent %d, %v", n, err)
	}
	if pending := rig.ids(t, false); len(pending) != 30 {
		t.Fatalf("%d pending after marks failed, want all 30", len(pending))
	}
	// What went out before the sweep stopped is, per key, a start of the key's events in order.
	for key, ids := range byKey(rig.sink.Events()) {
		if !slices.Equal(ids, want[key][:len(ids)]) {
			t.Errorf("key %s went out as %v before the sweep stopped", key, ids)
		}
	}
	if _, err := rig.db.Exec(ctx, `DROP TRIGGER outbox_mark_fails`); err != nil {
		t.Fatal(err)
	}
	rig.sink.Reset()
	if n, err := rig.relay.Flush(ctx); err != nil || n != 30 {
		t.Fatalf("after the store healed: sent %d, %v", n, err)
	}
	sameOrderPerKey(t, byKey(rig.sink.Events()), want)
}

// Flush beside Run (the sweep tick, Stop) while handlers commit: sweeps
// take turns, so no key ever has two events in flight and every event goes
// out once, in order.
func TestRelayFlushBesideRun(t *testing.T) {
	rig := newRelayRig(t, 4)
	var flight inFlight
	rig.sink.AnswerWith(func(e event.Event) int {
		defer flight.hold(e)()
		jitter(300)
		return http.StatusAccepted
	})
	runCtx, stopRun := context.WithCancel(context.Background())
	running := make(chan struct{})
	go func() { defer close(running); rig.relay.Run(runCtx, 2*time.Millisecond) }()

	const keys, perKey = 12, 10
	want := map[string][]string{}
	committing := make(chan struct{})
	go func() {
		defer close(committing)
		ctx := context.Background()
		for i := 0; i < perKey; i++ {
			for k := 0; k < keys; k++ {
				key := fmt.Sprintf("o-%d", k)
				id := fmt.Sprintf("%s/%d", key, i)
				want[key] = append(want[key], id)
				if err := rig.db.InTx(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, storetest.OutboxEvent(id, key)) }); err != nil {
					t.Errorf("commit %s: %v", id, err)
					return
				}
				rig.relay.Kick()
			}
		}
	}()
	var flushers sync.WaitGroup
	for range 3 {
		flushers.Go(func() {
			for {
				select {
				case <-committing:
					return
				default:
				}
				if _, err := rig.relay.Flush(context.Background()); err != nil {
					t.Errorf("flush: %v", err)
				}
				jitter(2000)
			}
		})
	}
	flushers.Wait()
	stopRun()
	<-running
	if _, err := rig.relay.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameOrderPerKey(t, byKey(rig.sink.Events()), want)
	if len(flight.overlaps) > 0 {
		t.Errorf("two events of one key in flight at once: %v", flight.overlaps)
	}
	if pending := rig.ids(t, false); len(pending) != 0 {
		t.Errorf("still pending: %v", pending)
	}
}

func TestRelayConcurrencyIsConfigured(t *testing.T) {
	sink := handlertest.NewSink(t)
	for _, value := range []string{"0", "-3", "many"} {
		t.Run(value, func(t *testing.T) {
			t.Setenv("K_SINK", sink.URL)
			t.Setenv("ORDERFLOW_DATABASE_URL", storetest.URL(t, "probe"))
			t.Setenv("ORDERFLOW_RELAY_CONCURRENCY", value)
			app := newProbe().App()
			err := app.Start(context.Background())
			if err == nil {
				_ = app.Stop(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), "ORDERFLOW_RELAY_CONCURRENCY") {
				t.Fatalf("ORDERFLOW_RELAY_CONCURRENCY=%s: %v, want an error naming it", value, err)
			}
		})
	}
}

// Go's runtime would run a function with GOGC=100 for a GOGC it cannot
// read; Start refuses it instead, naming it (shared/gctune).
func TestStartRefusesAMalformedGOGC(t *testing.T) {
	t.Setenv("K_SINK", handlertest.NewSink(t).URL)
	t.Setenv("ORDERFLOW_DATABASE_URL", storetest.URL(t, "probe"))
	t.Setenv("GOGC", "lots")
	app := newProbe().App()
	err := app.Start(context.Background())
	if err == nil {
		_ = app.Stop(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), `GOGC="lots"`) {
		t.Fatalf("GOGC=lots: %v, want an error naming it", err)
	}
}

// lockedBuffer is a log destination safe for the relay's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

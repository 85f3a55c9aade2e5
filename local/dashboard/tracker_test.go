package dashboard

import (
	"strconv"
	"testing"
	"time"

	"orderflow.dev/knlocal/source"
	"orderflow.dev/shared/events"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestTracker(max int) (*Tracker, *clock) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	t := NewTracker(max)
	t.now = c.now
	return t, c
}

func deliver(t *Tracker, order, typ, id string) {
	t.Delivered(source.Outcome{Record: source.Record{EventType: typ, EventID: id, Key: order}})
}

func step(s Snapshot, name string) StepCount {
	for _, c := range s.Steps {
		if c.Name == name {
			return c
		}
	}
	return StepCount{}
}

func TestEachEventPassesItsStepOnce(t *testing.T) {
	tr, _ := newTestTracker(100)
	// order.created goes to inventory, payment and analytics, and may be
	// redelivered: one event, one pass.
	for range 4 {
		deliver(tr, "o1", events.OrderCreated, "e1")
	}
	deliver(tr, "o2", events.OrderCreated, "e2")
	deliver(tr, "o3", events.OrderCreatedV1, "e5") // an older version replayed from the log
	deliver(tr, "o1", "dev.example.unknown", "e3") // not a step
	deliver(tr, "", events.OrderCreated, "e4")     // no order to follow
	s := tr.Snapshot()
	if got := step(s, "created"); got.LastMinute != 3 || got.Waiting != 3 {
		t.Fatalf("created %+v, want 3 passed, 3 waiting", got)
	}
	if s.Followed != 3 {
		t.Fatalf("followed %d, want 3", s.Followed)
	}
}

func TestAnOrderWaitsAtItsLatestStepAndNeverMovesBack(t *testing.T) {
	tr, c := newTestTracker(100)
	deliver(tr, "o1", events.PlaceOrder, "a")
	deliver(tr, "o1", events.OrderCreated, "b")
	deliver(tr, "o1", events.PaymentCompleted, "c")
	deliver(tr, "o1", events.InventoryReserved, "d") // later than the payment it allowed: another topic
	s := tr.Snapshot()
	if step(s, "paid").Waiting != 1 || step(s, "reserved").Waiting != 0 || step(s, "place").Waiting != 0 {
		t.Fatalf("steps %+v, want o1 waiting at paid only", s.Steps)
	}
	deliver(tr, "o1", events.OrderConfirmed, "e")
	deliver(tr, "o1", events.NotificationSent, "f")
	s = tr.Snapshot()
	for _, st := range s.Steps {
		if st.Waiting != 0 {
			t.Fatalf("notified order waits at %s", st.Name)
		}
	}
	// Remembered for late events, then forgotten.
	c.t = c.t.Add(tr.DecidedTTL)
	if s = tr.Snapshot(); s.Followed != 0 {
		t.Fatalf("decided order still followed after its TTL: %d", s.Followed)
	}
}

func TestCountsAreOfTheLastMinute(t *testing.T) {
	tr, c := newTestTracker(100)
	deliver(tr, "o1", events.PlaceOrder, "a")
	c.t = c.t.Add(30 * time.Second)
	deliver(tr, "o2", events.PlaceOrder, "b")
	if got := step(tr.Snapshot(), "place").LastMinute; got != 2 {
		t.Fatalf("place %d in the last minute, want 2", got)
	}
	c.t = c.t.Add(31 * time.Second)
	s := tr.Snapshot()
	if got := step(s, "place").LastMinute; got != 1 {
		t.Fatalf("place %d in the last minute, want 1 (the first is 61 s old)", got)
	}
	if ps := s.PerSecond["place"]; len(ps) != window || ps[window-32] != 1 || ps[window-62] != 1 {
		t.Fatalf("per second %v: want the two orders 31 and 61 s ago", ps)
	}
	if _, ok := s.PerSecond["created"]; ok {
		t.Fatal("per-second series of a step the chart does not draw")
	}
	c.t = c.t.Add(time.Hour)
	if got := step(tr.Snapshot(), "place").LastMinute; got != 0 {
		t.Fatalf("place %d an hour later", got)
	}
}

func TestUndecidedOrdersStall(t *testing.T) {
	tr, c := newTestTracker(100)
	deliver(tr, "slow", events.OrderCreated, "a")
	c.t = c.t.Add(10 * time.Second)
	deliver(tr, "slower", events.InventoryReserved, "b")
	deliver(tr, "done", events.OrderCancelled, "c")
	c.t = c.t.Add(tr.StallAfter)
	s := tr.Snapshot()
	if s.StalledCount != 2 || len(s.Stalled) != 2 || s.Stalled[0].OrderID != "slow" || s.Stalled[0].Step != "created" || s.Stalled[1].OrderID != "slower" {
		t.Fatalf("stalled %d %+v, want slow (longest idle) then slower; a cancelled order is not stalled", s.StalledCount, s.Stalled)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	tr, c := newTestTracker(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		deliver(tr, id, events.OrderCreated, "created-"+id)
	}
	s := tr.Snapshot()
	if s.Followed != 3 || s.Untracked != 1 || step(s, "created").LastMinute != 4 {
		t.Fatalf("followed %d untracked %d passed %d, want 3, 1, 4 (counts go on when following stops)", s.Followed, s.Untracked, step(s, "created").LastMinute)
	}
	// Event ids are kept two minutes at most: after that the same id
	// counts again (a replay hours later is a new pass).
	c.t = c.t.Add(2*time.Minute + time.Second)
	deliver(tr, "a", events.PaymentCompleted, "x")
	c.t = c.t.Add(time.Minute)
	deliver(tr, "a", events.PaymentCompleted, "y")
	if len(tr.seen)+len(tr.prev) > 2 {
		t.Fatalf("%d ids remembered, want at most the last two minutes' 2", len(tr.seen)+len(tr.prev))
	}
}

// What following costs each delivery the plane makes (go test -run XXX
// -bench Tracker ./local/dashboard/): 15 deliveries an order, 11 distinct
// events, at the saga's rates.
func BenchmarkTrackerDelivered(b *testing.B) {
	tr := NewTracker(100_000)
	types := []string{events.PlaceOrder, events.OrderCreated, events.InventoryReserved, events.PaymentCompleted, events.OrderConfirmed, events.NotificationSent}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		order := strconv.Itoa(i / 15)
		typ := types[(i%15)*len(types)/15]
		tr.Delivered(source.Outcome{Record: source.Record{EventType: typ, EventID: typ + "/" + order, Key: "ord-" + order}})
	}
}

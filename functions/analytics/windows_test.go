package function

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"orderflow.dev/shared/events"
)

// record is one delivery of a fact: the fact, its event id and when it
// reached the log.
type record struct {
	f         Fact
	published time.Time
}

func rec(f Fact, id string, published time.Time) record {
	f.ID = id
	return record{f, published}
}

// fold applies records in the given order the way react does: Prefer of
// the stored contribution and the new one, per fact key.
func foldWindows(recs []record) map[string]WindowFact {
	out := map[string]WindowFact{}
	for _, r := range recs {
		FoldWindowFacts(out, WindowFactOf(r.f, r.published))
	}
	return out
}

func windowsOf(recs []record, bound time.Duration) []events.WindowCount {
	return RecentWindows(Tally(slices.Collect(maps.Values(foldWindows(recs))), bound), 60)
}

func TestWindows(t *testing.T) {
	const bound = 2 * time.Minute
	w0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC) // window 10:00
	w1 := w0.Add(time.Minute)                          // window 10:01
	in := func(w time.Time, d time.Duration) time.Time { return w.Add(d) }
	tests := []struct {
		name string
		recs []record
		want []events.WindowCount
	}{
		{"counts and revenue per window, by event time",
			[]record{
				rec(created("a", 3000, in(w0, 10*time.Second)), "e1", in(w0, 11*time.Second)),
				rec(confirmed("a", 3000, in(w0, 50*time.Second)), "e2", in(w0, 51*time.Second)),
				rec(confirmed("b", 1200, in(w1, 5*time.Second)), "e3", in(w1, 6*time.Second)),
				rec(refunded("c", "pay-c", 700, in(w1, 9*time.Second)), "e4", in(w1, 9*time.Second)),
			},
			[]events.WindowCount{
				{Start: w0, End: w1, Counts: map[string]int{events.OrderCreated: 1, events.OrderConfirmed: 1}, RevenueCents: 3000},
				{Start: w1, End: w1.Add(time.Minute), Counts: map[string]int{events.OrderConfirmed: 1, events.PaymentRefunded: 1}, RevenueCents: 1200, RefundedCents: 700},
			}},
		{"a fact re-sent under a new id counts once (the first published)",
			[]record{
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "first", in(w0, 11*time.Second)),
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "resent", in(w0, 40*time.Second)),
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "first", in(w0, 11*time.Second)), // redelivered
			},
			[]events.WindowCount{{Start: w0, End: w1, Counts: map[string]int{events.OrderConfirmed: 1}, RevenueCents: 3000}}},
		{"a late fact inside the bound updates its window",
			[]record{
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "e1", in(w0, 10*time.Second+bound)), // exactly the bound
				rec(created("b", 500, in(w1, time.Second)), "e2", in(w1, 2*time.Second)),
			},
			[]events.WindowCount{
				{Start: w0, End: w1, Counts: map[string]int{events.OrderConfirmed: 1}, RevenueCents: 3000},
				{Start: w1, End: w1.Add(time.Minute), Counts: map[string]int{events.OrderCreated: 1}},
			}},
		{"one past the bound is counted as late in its window, not in its counts or money",
			[]record{
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "e1", in(w0, 10*time.Second+bound+time.Millisecond)),
				rec(created("a", 3000, in(w0, 5*time.Second)), "e2", in(w0, 6*time.Second)),
			},
			[]events.WindowCount{{Start: w0, End: w1, Counts: map[string]int{events.OrderCreated: 1}, LateFacts: 1}}},
		{"a re-send that is late does not make an on-time fact late",
			[]record{
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "late-resend", in(w0, time.Hour)),
				rec(confirmed("a", 3000, in(w0, 10*time.Second)), "original", in(w0, 12*time.Second)),
			},
			[]events.WindowCount{{Start: w0, End: w1, Counts: map[string]int{events.OrderConfirmed: 1}, RevenueCents: 3000}}},
		{"no publish time: on time",
			[]record{rec(created("a", 3000, in(w0, 10*time.Second)), "e1", time.Time{})},
			[]events.WindowCount{{Start: w0, End: w1, Counts: map[string]int{events.OrderCreated: 1}}}},
		{"distinct refunds and notifications of one order are distinct facts",
			[]record{
				rec(refunded("a", "pay-1", 100, in(w0, time.Second)), "e1", in(w0, time.Second)),
				rec(refunded("a", "pay-2", 200, in(w0, 2*time.Second)), "e2", in(w0, 2*time.Second)),
				rec(notified("a", "confirmed", true, in(w0, 3*time.Second)), "e3", in(w0, 3*time.Second)),
				rec(notified("a", "cancelled", true, in(w0, 4*time.Second)), "e4", in(w0, 4*time.Second)),
			},
			[]events.WindowCount{{Start: w0, End: w1, Counts: map[string]int{events.PaymentRefunded: 2, events.NotificationSent: 2}, RefundedCents: 300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windowsOf(tt.recs, bound); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			// The windows are a function of the set: every arrival order
			// gives the same.
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.recs))))
			for range 20 {
				shuffled := slices.Clone(tt.recs)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if got := windowsOf(shuffled, bound); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("arrival order changed the windows: %+v", got)
				}
			}
		})
	}
}

func TestWindowsAreAFunctionOfTheSetOfFacts(t *testing.T) {
	// Many sagas, each fact delivered once to three times, some re-sent
	// under new ids with later publish times, some late: folding them in
	// any order gives the same windows and the same late facts.
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	var recs []record
	for i := range 300 {
		id := "o-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		start := base.Add(time.Duration(rng.IntN(600)) * time.Second)
		facts := []Fact{created(id, int64(100+i), start), reserved(id, start.Add(time.Second)), paid(id, int64(100+i), start.Add(2*time.Second)), confirmed(id, int64(100+i), start.Add(3*time.Second))}
		for j, f := range facts {
			delay := time.Duration(rng.IntN(5)) * time.Second
			if rng.IntN(20) == 0 {
				delay = 10 * time.Minute // held in an outbox
			}
			recs = append(recs, rec(f, id+"-"+string(rune('0'+j)), f.Time.Add(delay)))
			for d := range rng.IntN(3) {
				if d == 0 {
					recs = append(recs, rec(f, id+"-"+string(rune('0'+j)), f.Time.Add(delay))) // redelivered
				} else {
					recs = append(recs, rec(f, id+"-"+string(rune('0'+j))+"-again", f.Time.Add(delay+time.Minute))) // re-sent
				}
			}
		}
	}
	want := windowsOf(recs, 2*time.Minute)
	late, counted := 0, 0
	for _, w := range want {
		late += w.LateFacts
		for _, n := range w.Counts {
			counted += n
		}
	}
	if late == 0 || counted+late != 4*300 {
		t.Fatalf("%d counted + %d late, want 1200 facts with some late", counted, late)
	}
	wantLate := LatestLate(slices.Collect(maps.Values(foldWindows(recs))), 2*time.Minute, 20)
	if len(wantLate) == 0 || len(wantLate) > 20 || !wantLate[0].Time.After(wantLate[len(wantLate)-1].Time) {
		t.Fatalf("latest late facts %+v: want up to 20, newest first", wantLate)
	}
	for range 10 {
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		if got := windowsOf(recs, 2*time.Minute); !reflect.DeepEqual(got, want) {
			t.Fatal("arrival order changed the windows")
		}
		if got := LatestLate(slices.Collect(maps.Values(foldWindows(recs))), 2*time.Minute, 20); !reflect.DeepEqual(got, wantLate) {
			t.Fatal("arrival order changed the late facts")
		}
	}
}

func TestFactKey(t *testing.T) {
	a := confirmed("a", 1, t0)
	b := a
	b.ID, b.Time = "another-id", t0.Add(time.Minute)
	if FactKey(a) != FactKey(b) {
		t.Errorf("one fact under two ids: %q vs %q", FactKey(a), FactKey(b))
	}
	if FactKey(confirmed("a", 1, t0)) == FactKey(cancelled("a", "x", t0)) || FactKey(created("a", 1, t0)) == FactKey(created("b", 1, t0)) {
		t.Error("different facts share a key")
	}
	v2 := created("a", 1, t0)
	v2.Type = "dev.orderflow.order.created.v2"
	if FactKey(v2) != FactKey(created("a", 1, t0)) {
		t.Errorf("another version of one fact: %q vs %q", FactKey(v2), FactKey(created("a", 1, t0)))
	}
	for in, want := range map[string]string{"dev.orderflow.order.created.v1": "dev.orderflow.order.created", "x.v12": "x", "x.v": "x.v", "x.vx": "x.vx", "plain": "plain"} {
		if got := factKind(in); got != want {
			t.Errorf("factKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecentWindowsKeepsTheLatest(t *testing.T) {
	base := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	var rows []WindowTally
	for m := range 70 { // 70 minutes with facts, one silent minute between each
		start := base.Add(time.Duration(2*m) * time.Minute)
		rows = append(rows, WindowTally{Start: start, Type: events.OrderCreated, Facts: m + 1}, WindowTally{Start: start, Type: events.OrderConfirmed, Facts: 1, RevenueCents: 5})
	}
	got := RecentWindows(rows, 60)
	if len(got) != 60 {
		t.Fatalf("%d windows", len(got))
	}
	first, last := got[0], got[59]
	if !first.Start.Equal(base.Add(20*time.Minute)) || !last.Start.Equal(base.Add(138*time.Minute)) {
		t.Fatalf("windows from %v to %v", first.Start, last.Start)
	}
	if !last.End.Equal(last.Start.Add(time.Minute)) || last.Counts[events.OrderCreated] != 70 || last.Counts[events.OrderConfirmed] != 1 || last.RevenueCents != 5 {
		t.Fatalf("last window %+v", last)
	}
	for i := 1; i < len(got); i++ {
		if !got[i-1].Start.Before(got[i].Start) {
			t.Fatalf("not oldest first at %d", i)
		}
	}
	if none := RecentWindows(nil, 60); len(none) != 0 {
		t.Fatalf("no rows: %v", none)
	}
}

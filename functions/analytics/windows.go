package function

import (
	"maps"
	"slices"
	"strings"
	"time"

	"orderflow.dev/shared/events"
)

// Event-time windows, pure. A window is one minute of event time (the
// CloudEvent time: when the fact happened). What it holds is a function
// of the SET of facts, never of their arrival order, so a replay of the
// log, whose topics interleave differently, builds the same windows:
//
//   - Each fact counts once, keyed by its identity (FactKey: the order, the
//     kind of fact, and the payment or notification it is about), not by
//     its CloudEvent id: a fact re-sent under a new id lands on the same
//     key. Of several records of one fact, Prefer picks one by a total
//     order, so which arrived first does not matter.
//   - Lateness is a property of the record, not of the moment it was read:
//     how long after its event time the fact reached the log (the relay's
//     publishedtime stamp). Consumer lag, which replay cannot reproduce,
//     is not lateness: the windows are computed from the log. A fact
//     within the bound counts in its window, however long after the window
//     it arrives; one past it is counted as late and listed, in the window
//     its time falls in, never dropped. The bound is applied when the view
//     is read, so changing it needs no rebuild.

// WindowFact is one fact's contribution to its window.
type WindowFact struct {
	Key           string    `json:"key"`
	OrderID       string    `json:"orderId"`
	Type          string    `json:"type"`
	EventID       string    `json:"eventId"`
	At            time.Time `json:"at"`          // event time
	PublishedAt   time.Time `json:"publishedAt"` // when it reached the log; At when the producer did not say
	RevenueCents  int64     `json:"revenueCents,omitempty"`
	RefundedCents int64     `json:"refundedCents,omitempty"`
}

// FactKey is a fact's identity: the same for every record of it, whatever
// its CloudEvent id. The kind is the type without its version, so a fact
// re-sent as another version of its type is still one fact.
func FactKey(f Fact) string {
	key := events.Key(f.Data) + " " + factKind(f.Type)
	switch d := f.Data.(type) {
	case events.PaymentRefundedData:
		key += " " + d.PaymentID // one order may be refunded per payment
	case events.NotificationSentData:
		key += " " + d.NotificationID
	case events.NotificationFailedData:
		key += " " + d.NotificationID
	}
	return key
}

// factKind drops the ".vN" version suffix of a type name.
func factKind(typ string) string {
	if i := strings.LastIndex(typ, ".v"); i > 0 && strings.Trim(typ[i+2:], "0123456789") == "" && i+2 < len(typ) {
		return typ[:i]
	}
	return typ
}

// WindowFactOf is the contribution of fact f; published is when it reached
// the log, zero when unknown (then it is taken as on time).
func WindowFactOf(f Fact, published time.Time) WindowFact {
	// Milliseconds, as stored: a rebuilt row must equal the live one.
	at := f.Time.UTC().Truncate(time.Millisecond)
	if published.IsZero() {
		published = at
	}
	w := WindowFact{Key: FactKey(f), OrderID: events.Key(f.Data), Type: f.Type, EventID: f.ID, At: at,
		PublishedAt: published.UTC().Truncate(time.Millisecond)}
	switch d := f.Data.(type) {
	case events.OrderConfirmedData:
		w.RevenueCents = d.TotalCents
	case events.PaymentRefundedData:
		w.RefundedCents = d.AmountCents
	}
	return w
}

// Equal reports whether two contributions are the same.
func (w WindowFact) Equal(o WindowFact) bool {
	return w.Key == o.Key && w.OrderID == o.OrderID && w.Type == o.Type && w.EventID == o.EventID &&
		w.At.Equal(o.At) && w.PublishedAt.Equal(o.PublishedAt) && w.RevenueCents == o.RevenueCents && w.RefundedCents == o.RefundedCents
}

// Lateness is how long after its event time the fact reached the log.
func (w WindowFact) Lateness() time.Duration { return max(0, w.PublishedAt.Sub(w.At)) }

// Late reports whether the fact reached the log past the bound.
func (w WindowFact) Late(bound time.Duration) bool { return w.Lateness() > bound }

// Prefer picks, of two records of one fact, the one that counts: the first
// published (the original; a re-send comes after it), then the earlier
// event time, then the smaller event id. A total order, so the pick is
// the same whichever record is folded first.
func Prefer(a, b WindowFact) WindowFact {
	if c := a.PublishedAt.Compare(b.PublishedAt); c != 0 {
		return pick(c < 0, a, b)
	}
	if c := a.At.Compare(b.At); c != 0 {
		return pick(c < 0, a, b)
	}
	return pick(a.EventID <= b.EventID, a, b)
}

func pick(first bool, a, b WindowFact) WindowFact {
	if first {
		return a
	}
	return b
}

// DefaultLateness is ANALYTICS_LATENESS's default (Config), for those who
// fold the facts without the function's configuration (topicview).
const DefaultLateness = 2 * time.Minute

// FoldWindowFacts keeps, per fact key, the record that counts (Prefer), as
// the function's store does; the map is updated in place.
func FoldWindowFacts(into map[string]WindowFact, w WindowFact) {
	if old, ok := into[w.Key]; ok {
		w = Prefer(old, w)
	}
	into[w.Key] = w
}

// LatestLate lists the latest n facts past the bound, newest first (by
// event time, then key), as the view does.
func LatestLate(facts []WindowFact, bound time.Duration, n int) []events.LateFact {
	var late []WindowFact
	for _, f := range facts {
		if f.Late(bound) {
			late = append(late, f)
		}
	}
	slices.SortFunc(late, func(a, b WindowFact) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	out := []events.LateFact{}
	for _, f := range late[:min(n, len(late))] {
		out = append(out, events.LateFact{OrderID: f.OrderID, Type: f.Type, Time: f.At, PublishedAt: f.PublishedAt, LatenessMillis: f.Lateness().Milliseconds()})
	}
	return out
}

// WindowTally is the stored facts of one window and type, split by the
// lateness bound: what the view's query reads.
type WindowTally struct {
	Start         time.Time
	Type          string
	Late          bool
	Facts         int
	RevenueCents  int64
	RefundedCents int64
}

// Tally groups facts as the view's query does; tests and verify use it to
// state what the windows must be.
func Tally(facts []WindowFact, bound time.Duration) []WindowTally {
	type k struct {
		start time.Time
		typ   string
		late  bool
	}
	by := map[k]*WindowTally{}
	for _, f := range facts {
		key := k{WindowStart(f.At), f.Type, f.Late(bound)}
		t := by[key]
		if t == nil {
			t = &WindowTally{Start: key.start, Type: key.typ, Late: key.late}
			by[key] = t
		}
		t.Facts++
		t.RevenueCents += f.RevenueCents
		t.RefundedCents += f.RefundedCents
	}
	out := make([]WindowTally, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
	}
	return out
}

// RecentWindows groups tallies into windows and keeps the latest n, oldest
// first. Minutes without any fact have no window: the list is sparse. Late
// facts are counted apart (LateFacts) and add nothing to counts or money.
func RecentWindows(rows []WindowTally, n int) []events.WindowCount {
	byStart := map[time.Time]*events.WindowCount{}
	for _, r := range rows {
		start := WindowStart(r.Start)
		w := byStart[start]
		if w == nil {
			w = &events.WindowCount{Start: start, End: start.Add(time.Minute), Counts: map[string]int{}}
			byStart[start] = w
		}
		if r.Late {
			w.LateFacts += r.Facts
			continue
		}
		w.Counts[r.Type] += r.Facts
		w.RevenueCents += r.RevenueCents
		w.RefundedCents += r.RefundedCents
	}
	starts := slices.SortedFunc(maps.Keys(byStart), func(a, b time.Time) int { return a.Compare(b) })
	if len(starts) > n {
		starts = starts[len(starts)-n:]
	}
	out := make([]events.WindowCount, 0, len(starts))
	for _, s := range starts {
		out = append(out, *byStart[s])
	}
	return out
}

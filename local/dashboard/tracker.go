package dashboard

import (
	"sort"
	"sync"
	"time"

	"orderflow.dev/knlocal/source"
	"orderflow.dev/shared/events"
)

// A Step is one stage of the saga as the page draws it. Rank orders the
// stages: an order's events travel on several topics, whose partitions are
// not ordered with each other, so an order's step only ever moves up in
// rank (a late inventory.reserved does not move a paid order back).
type Step struct {
	Name  string
	Rank  int
	Types []string
}

// Steps are the saga's stages, in the order the page shows them.
var Steps = []Step{
	{"place", 0, []string{events.PlaceOrder}},
	{"created", 1, []string{events.OrderCreated}},
	{"reserved", 2, []string{events.InventoryReserved}},
	{"rejected", 2, []string{events.InventoryRejected}},
	{"paid", 3, []string{events.PaymentCompleted}},
	{"failed", 3, []string{events.PaymentFailed}},
	{"confirmed", 4, []string{events.OrderConfirmed}},
	{"cancelled", 4, []string{events.OrderCancelled}},
	{"released", 5, []string{events.InventoryReleased}},
	{"refunded", 5, []string{events.PaymentRefunded}},
	{"notified", 6, []string{events.NotificationSent, events.NotificationFailed}},
}

// rankDecided is the rank from which an order has its outcome; rankDone
// the last step, after which nothing waits.
const (
	rankDecided = 4
	rankDone    = 6
)

var chartSteps = map[string]bool{"place": true, "confirmed": true, "cancelled": true}

// window is how many one-second buckets each step keeps: the page shows
// the last minute, and the chart two.
const window = 120

// Tracker is a source.Observer that follows every order through the
// saga: per step, how many distinct events passed it each second, and
// each order's latest step. Memory is bounded: the event ids it dedupes
// by are those of the last one to two minutes, and it follows at most
// MaxOrders orders (the rest are counted as untracked).
type Tracker struct {
	source.NopObserver
	// MaxOrders bounds the orders followed at once; DecidedTTL is how long
	// an order with its outcome is kept for late events (released after
	// notified, say) before it is forgotten; StallAfter is how long an
	// undecided order may go without an event before the page calls it
	// stalled.
	MaxOrders  int
	DecidedTTL time.Duration
	StallAfter time.Duration
	now        func() time.Time

	mu         sync.Mutex
	stepOf     map[string]int // event type -> index in Steps
	seen, prev map[string]struct{}
	rotated    time.Time
	buckets    [][window]int // per step
	bucketSec  int64         // unix second of the newest bucket
	orders     map[string]orderState
	untracked  int
}

type orderState struct {
	step int       // index in Steps
	last time.Time // the order's latest event
}

// NewTracker returns a tracker with room for maxOrders orders.
func NewTracker(maxOrders int) *Tracker {
	t := &Tracker{MaxOrders: maxOrders, DecidedTTL: 2 * time.Minute, StallAfter: 30 * time.Second, now: time.Now,
		stepOf: map[string]int{}, seen: map[string]struct{}{}, prev: map[string]struct{}{},
		buckets: make([][window]int, len(Steps)), orders: map[string]orderState{}}
	for i, s := range Steps {
		for _, typ := range s.Types {
			// An older version still in the log passes the same step.
			for _, v := range events.Accepted(typ) {
				t.stepOf[v] = i
			}
		}
	}
	return t
}

// Delivered counts an event the first time any function accepted it: an
// event goes to several functions (and again on a redelivery), and passes
// its step once. A refused event never passes its step.
func (t *Tracker) Delivered(o source.Outcome) {
	step, ok := t.stepOf[o.EventType]
	if !ok || o.Key == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if !t.firstSight(o.EventID, now) {
		return
	}
	t.advance(now)
	t.buckets[step][window-1]++
	t.follow(o.Key, step, now)
}

// firstSight dedupes by event id in two generations of a minute each, so
// the set never holds more than two minutes of ids.
func (t *Tracker) firstSight(id string, now time.Time) bool {
	if now.Sub(t.rotated) >= time.Minute {
		t.prev, t.seen, t.rotated = t.seen, make(map[string]struct{}, len(t.seen)), now
	}
	if _, ok := t.seen[id]; ok {
		return false
	}
	if _, ok := t.prev[id]; ok {
		return false
	}
	t.seen[id] = struct{}{}
	return true
}

// advance shifts the buckets so the newest is the current second.
func (t *Tracker) advance(now time.Time) {
	sec := now.Unix()
	shift := sec - t.bucketSec
	if shift <= 0 {
		return
	}
	for i := range t.buckets {
		b := &t.buckets[i]
		if shift >= window {
			*b = [window]int{}
			continue
		}
		copy(b[:], b[shift:])
		clear(b[window-int(shift):])
	}
	t.bucketSec = sec
}

func (t *Tracker) follow(order string, step int, now time.Time) {
	cur, ok := t.orders[order]
	if !ok && len(t.orders) >= t.MaxOrders {
		t.sweep(now)
		if len(t.orders) >= t.MaxOrders {
			t.untracked++
			return
		}
	}
	if ok && Steps[step].Rank < Steps[cur.step].Rank {
		step = cur.step // a late event of an earlier step
	}
	t.orders[order] = orderState{step: step, last: now}
}

// sweep forgets orders that have their outcome and were quiet for
// DecidedTTL. Undecided ones stay: they are what the page calls stalled.
func (t *Tracker) sweep(now time.Time) {
	for id, o := range t.orders {
		if Steps[o.step].Rank >= rankDecided && now.Sub(o.last) >= t.DecidedTTL {
			delete(t.orders, id)
		}
	}
}

// StepCount is one step on the page.
type StepCount struct {
	Name string `json:"name"`
	// LastMinute counts the events that passed the step in the last 60
	// seconds; Waiting the orders whose latest step it is now (the
	// notified step ends a saga, so nothing waits there).
	LastMinute int `json:"lastMinute"`
	Waiting    int `json:"waiting"`
}

// Stalled is an undecided order that has not moved for StallAfter.
type Stalled struct {
	OrderID string  `json:"orderId"`
	Step    string  `json:"step"`
	IdleSec float64 `json:"idleSec"`
}

// Snapshot is what the tracker knows now.
type Snapshot struct {
	Steps []StepCount `json:"steps"`
	// PerSecond holds, for the steps the chart draws (place, confirmed,
	// cancelled), the events of each of the last `window` seconds, oldest
	// first; the newest second is still counting.
	PerSecond    map[string][]int `json:"perSecond"`
	Followed     int              `json:"followed"`
	Untracked    int              `json:"untracked"`
	StalledCount int              `json:"stalledCount"`
	Stalled      []Stalled        `json:"stalled"` // the longest idle, at most 10
}

// Snapshot counts the steps and finds the stalled orders; it also
// forgets decided orders past their TTL.
func (t *Tracker) Snapshot() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.advance(now)
	t.sweep(now)
	s := Snapshot{Steps: make([]StepCount, len(Steps)), PerSecond: map[string][]int{}, Followed: len(t.orders), Untracked: t.untracked}
	for i, st := range Steps {
		s.Steps[i].Name = st.Name
		for _, n := range t.buckets[i][window-60:] {
			s.Steps[i].LastMinute += n
		}
		if chartSteps[st.Name] {
			s.PerSecond[st.Name] = append([]int(nil), t.buckets[i][:]...)
		}
	}
	for id, o := range t.orders {
		rank := Steps[o.step].Rank
		if rank < rankDone {
			s.Steps[o.step].Waiting++
		}
		if idle := now.Sub(o.last); rank < rankDecided && idle >= t.StallAfter {
			s.StalledCount++
			s.Stalled = append(s.Stalled, Stalled{OrderID: id, Step: Steps[o.step].Name, IdleSec: idle.Seconds()})
		}
	}
	sort.Slice(s.Stalled, func(i, j int) bool {
		if s.Stalled[i].IdleSec != s.Stalled[j].IdleSec {
			return s.Stalled[i].IdleSec > s.Stalled[j].IdleSec
		}
		return s.Stalled[i].OrderID < s.Stalled[j].OrderID
	})
	if len(s.Stalled) > 10 {
		s.Stalled = s.Stalled[:10]
	}
	return s
}

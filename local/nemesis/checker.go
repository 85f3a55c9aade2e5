package nemesis

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"orderflow.dev/local/check"
)

// Outcome is what the checker reads once the faults have healed and the
// saga has settled (or failed to within its bound). Everything in it is
// read from the run's own stores and topics, not from the runner's
// bookkeeping.
type Outcome struct {
	// Settled is false when the saga did not settle within its bound;
	// SettleBound names the bound.
	Settled     bool
	SettleBound time.Duration
	// Invariants is the saga oracle's report (check.Evaluate: exactly one
	// terminal state, stock conserved and never oversold, charged once,
	// refunded on cancel), with its per-order problems.
	Invariants check.Report
	// Orders is every accepted order's life: when it was placed and when
	// it reached its terminal state (zero if never), as offsets from the
	// run's start, by order id.
	Orders map[string]OrderLife
	// Notifications counts the notifications each terminal order got
	// (sent or failed), by order id.
	Notifications map[string]int
	// OrderStatus and AnalyticsStatus are each order's terminal status as
	// the order function's read model and as analytics' sagas have it
	// ("confirmed", "cancelled", "" for open), by order id.
	OrderStatus, AnalyticsStatus map[string]string
	// AnalyticsByState is analytics' count of orders by state, for when
	// it gives no per-order view (AnalyticsStatus nil: its API answers
	// with counts): then the counts must agree with the read model's.
	AnalyticsByState map[string]int
	// DeadLetters are the dead letters the run left: each must be replayed
	// or explained.
	DeadLetters []DeadLetter
	// Held is the records not yet delivered, by "source/topic/partition".
	Held map[string]int64
	// Backlog is each function's outbox: events committed, not published.
	Backlog map[string]int
}

// OrderLife is one order's placement and end, offsets from the run's start.
type OrderLife struct {
	Placed, Ended time.Duration
}

// DeadLetter is one dead letter and what became of it.
type DeadLetter struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	Type     string `json:"type"`
	OrderID  string `json:"orderId,omitempty"`
	Reason   string `json:"reason"`
	// Replayed: sent again to its destination after the faults healed.
	Replayed bool `json:"replayed"`
	// Explained says why it stays a dead letter by design (a refusal for
	// good of a malformed record the nemesis wrote, say); "" if not.
	Explained string `json:"explained,omitempty"`
}

// Violation is one thing the run broke, with the faults around it.
type Violation struct {
	Check   string  `json:"check"`
	OrderID string  `json:"orderId,omitempty"`
	Detail  string  `json:"detail"`
	Around  []Fault `json:"faultsAround,omitempty"`
}

func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(v.Check + ": ")
	if v.OrderID != "" {
		b.WriteString("order " + v.OrderID + ": ")
	}
	b.WriteString(v.Detail)
	if len(v.Around) > 0 {
		var names []string
		for _, f := range v.Around {
			names = append(names, strings.TrimSpace(f.String()))
		}
		b.WriteString(" [faults around: " + strings.Join(names, "; ") + "]")
	}
	return b.String()
}

// grace is how long an instant fault (a kill, a restart) counts as around
// what happens after it: recovery takes seconds.
const grace = 10 * time.Second

// Check judges an outcome against the schedule that produced it. Each
// violation names its order, when it has one, and the faults active while
// that order lived (or, for a violation of the run as a whole, all of
// them).
func Check(s Schedule, o Outcome) []Violation {
	var out []Violation
	whole := s.Faults
	around := func(id string) []Fault {
		life, ok := o.Orders[id]
		if !ok {
			return whole
		}
		end := life.Ended
		if end == 0 {
			end = 1<<62 - 1 // never ended: everything after it too
		}
		return s.Overlapping(life.Placed, end, grace)
	}
	if !o.Settled {
		out = append(out, Violation{Check: "settled", Detail: fmt.Sprintf("the saga did not settle within %s after the faults healed", o.SettleBound), Around: whole})
	}
	// The oracle's per-order problems start "order <id>: ..."; the others
	// (a SKU's stock) belong to the run.
	if !o.Invariants.OK() {
		for _, p := range o.Invariants.Problems {
			id := orderOfProblem(p)
			v := Violation{Check: "invariants", OrderID: id, Detail: strings.TrimPrefix(p, "order "+id+": "), Around: whole}
			if id != "" {
				v.Around = around(id)
			}
			out = append(out, v)
		}
		if len(o.Invariants.Problems) == 0 {
			out = append(out, Violation{Check: "invariants", Detail: strings.ReplaceAll(o.Invariants.String(), "\n", " "), Around: whole})
		}
	}
	for _, id := range sortedKeys(o.OrderStatus) {
		status := o.OrderStatus[id]
		if status == "" {
			continue // open: the oracle names it
		}
		if n := o.Notifications[id]; n != 1 {
			out = append(out, Violation{Check: "one notification per terminal order", OrderID: id,
				Detail: fmt.Sprintf("%s with %d notification(s)", status, n), Around: around(id)})
		}
		if a := o.AnalyticsStatus[id]; o.AnalyticsStatus != nil && a != status {
			out = append(out, Violation{Check: "analytics agrees with the order read model", OrderID: id,
				Detail: fmt.Sprintf("order says %q, analytics %q", status, a), Around: around(id)})
		}
	}
	for _, id := range sortedKeys(o.AnalyticsStatus) {
		if _, ok := o.OrderStatus[id]; !ok {
			out = append(out, Violation{Check: "analytics agrees with the order read model", OrderID: id,
				Detail: fmt.Sprintf("analytics knows the order (%q), the order read model does not", o.AnalyticsStatus[id]), Around: around(id)})
		}
	}
	if o.AnalyticsStatus == nil {
		out = append(out, analyticsCounts(o, whole)...)
	}
	for _, l := range o.DeadLetters {
		if l.Replayed || l.Explained != "" {
			continue
		}
		out = append(out, Violation{Check: "every dead letter accounted for", OrderID: l.OrderID,
			Detail: fmt.Sprintf("dead letter %s (%s, at %s: %s) neither replayed nor explained", l.ID, l.Type, l.Function, l.Reason), Around: around(l.OrderID)})
	}
	for _, k := range sortedKeys(o.Held) {
		if n := o.Held[k]; n > 0 {
			out = append(out, Violation{Check: "no record held", Detail: fmt.Sprintf("%s holds %d record(s) not delivered", k, n), Around: whole})
		}
	}
	for _, fn := range sortedKeys(o.Backlog) {
		if n := o.Backlog[fn]; n > 0 {
			out = append(out, Violation{Check: "outbox drained", Detail: fmt.Sprintf("%s's outbox holds %d event(s) not published", fn, n), Around: whole})
		}
	}
	return out
}

// analyticsCounts compares analytics' orders by state with the order read
// model's terminal states, count by count.
func analyticsCounts(o Outcome, whole []Fault) []Violation {
	model := map[string]int{}
	for _, status := range o.OrderStatus {
		if status != "" {
			model[status]++
		}
	}
	var out []Violation
	for _, state := range []string{"confirmed", "cancelled"} {
		if a, m := o.AnalyticsByState[state], model[state]; a != m {
			out = append(out, Violation{Check: "analytics agrees with the order read model",
				Detail: fmt.Sprintf("%s: analytics counts %d, the order read model %d", state, a, m), Around: whole})
		}
	}
	return out
}

// orderOfProblem is the order id an oracle problem names, "" if none.
func orderOfProblem(p string) string {
	rest, ok := strings.CutPrefix(p, "order ")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return id
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}

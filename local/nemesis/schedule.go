// Package nemesis draws random fault schedules for a run of the saga, and
// checks what the run left behind, after Jepsen: a generator (a schedule
// from a seed), a nemesis (the faults, injected on time by a runner), a
// checker (the invariants, and the faults around each violation). The
// same seed always draws the same schedule, so a failing run is replayed
// by its seed.
//
// This file is the generator. It knows nothing of how a fault is injected:
// a Schedule is data (JSON), which the runner acts on and the history
// records as it happened.
package nemesis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

const (
	// KillFunction is kill -9 of one process of a function (any replica
	// when it has several); the plane replaces it, as a kubelet would.
	KillFunction Kind = "kill-function"
	// PauseFunction stops a function's process (SIGSTOP) for longer than
	// its deliveries' timeout, then lets it go on (SIGCONT): a hung
	// process, not a dead one.
	PauseFunction Kind = "pause-function"
	// RestartDispatcher restarts one KafkaSource's dispatcher: its
	// consumer group is left and joined again.
	RestartDispatcher Kind = "restart-dispatcher"
	// DuplicateDelivery has every KafkaSource deliver every event twice
	// for a while.
	DuplicateDelivery Kind = "duplicate-delivery"
	// RestartBroker restarts the broker: the embedded one from its data
	// directory, or one node of a three-node Apache Kafka killed (-9) and
	// started again.
	RestartBroker Kind = "restart-broker"
	// StopDatabase stops PostgreSQL (immediate shutdown) and starts it
	// again.
	StopDatabase Kind = "stop-database"
	// RefuseDeadLetters has the dead-letter sinks answer 503 for a while.
	RefuseDeadLetters Kind = "refuse-dead-letters"
	// NetworkLatency, NetworkReset and NetworkPartition act on the link
	// between a function and its database, or between a function and the
	// broker, through a TCP proxy: delay, connections reset, no answers.
	NetworkLatency   Kind = "network-latency"
	NetworkReset     Kind = "network-reset"
	NetworkPartition Kind = "network-partition"
	// PingBurst fires every PingSource now, several times: clock-driven
	// work (outbox sweeps, the stalled-saga check) landing amid the rest.
	PingBurst Kind = "ping-burst"
)

// Link names the two ends a network fault acts between.
type Link string

const (
	// LinkDatabase is a function and its store (a PostgreSQL server).
	LinkDatabase Link = "database"
	// LinkBroker is a function and Kafka, through the KafkaSink receiver
	// it publishes to (its K_SINK): a function on Knative never speaks
	// Kafka's protocol, it POSTs each event to the KafkaSink, which
	// produces it and answers once Kafka has.
	LinkBroker Link = "broker"
)

// Fault is one fault of a schedule: what, on what, from when (offset from
// the run's start) and for how long (0: an instant fault, a kill).
type Fault struct {
	Kind   Kind          `json:"kind"`
	Target string        `json:"target,omitempty"` // a function, a source, a broker node
	Link   Link          `json:"link,omitempty"`   // network faults
	At     time.Duration `json:"atNanos"`
	For    time.Duration `json:"forNanos,omitempty"`
	// Param is the fault's size: the latency added, the pings fired.
	Param int `json:"param,omitempty"`
}

// Ends is when the fault is healed.
func (f Fault) Ends() time.Duration { return f.At + f.For }

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7s %s", f.At.Round(100*time.Millisecond), f.Kind)
	if f.Target != "" {
		b.WriteString(" " + f.Target)
	}
	if f.Link != "" {
		b.WriteString(" (" + string(f.Link) + " link)")
	}
	if f.For > 0 {
		fmt.Fprintf(&b, " for %s", f.For.Round(100*time.Millisecond))
	}
	if f.Param > 0 {
		switch f.Kind {
		case NetworkLatency:
			fmt.Fprintf(&b, ", +%dms", f.Param)
		case PingBurst:
			fmt.Fprintf(&b, ", %d ticks", f.Param)
		}
	}
	return b.String()
}

// Topology is what a schedule may act on.
type Topology struct {
	Functions []string       // every function of the saga
	Replicas  map[string]int // processes per function (1 when absent)
	Sources   []string       // the KafkaSources' names
	// Broker is "embedded", "kafka" (one node) or "cluster" (three).
	Broker string
	// Postgres: the functions' stores are on PostgreSQL (else SQLite).
	Postgres bool
	// DeliveryTimeout is a delivery's timeout: a pause lasts longer.
	DeliveryTimeout time.Duration
	// BrokerLink: network faults may act on each function's broker link
	// (a proxy in front of its K_SINK). Network faults act on database
	// links only when Postgres, and are drawn at all only when there is
	// one link or the other.
	BrokerLink bool
	// Injectable, when set, is every kind the runner can inject on this
	// topology: the generator draws no other (a schedule must never hold
	// a fault nobody injects). Nil: every kind the topology allows.
	Injectable []Kind
}

// Params shape a schedule.
type Params struct {
	// Run is how long orders are placed; faults start inside its first
	// 80 % and are healed by its end.
	Run time.Duration
	// MinFaults and MaxFaults bound how many faults a schedule has.
	MinFaults, MaxFaults int
}

// Schedule is what a seed draws: faults in order of their start.
type Schedule struct {
	Seed   uint64  `json:"seed"`
	Faults []Fault `json:"faults"`
}

// Kinds lists the kinds a topology allows: a broker restart needs a
// broker that can be restarted (every kind here can), a database stop
// needs PostgreSQL (an SQLite file cannot be stopped apart from its
// function), a network fault a link to act on (a database link needs
// PostgreSQL: an SQLite file has no link).
func (t Topology) Kinds() []Kind {
	kinds := []Kind{KillFunction, PauseFunction, RestartDispatcher, DuplicateDelivery, RestartBroker,
		RefuseDeadLetters, NetworkLatency, NetworkReset, NetworkPartition, PingBurst}
	if !t.Postgres && !t.BrokerLink {
		kinds = slices.DeleteFunc(kinds, isNetwork)
	}
	if t.Postgres {
		kinds = append(kinds, StopDatabase)
	}
	if t.Injectable != nil {
		kinds = slices.DeleteFunc(kinds, func(k Kind) bool { return !slices.Contains(t.Injectable, k) })
	}
	return kinds
}

func isNetwork(k Kind) bool { return k == NetworkLatency || k == NetworkReset || k == NetworkPartition }

// Generate draws a schedule from seed: between MinFaults and MaxFaults
// faults of kinds the topology allows, each at a random start, several
// overlapping, every one healed by the end of the run. The same seed and
// inputs always give the same schedule.
func Generate(seed uint64, t Topology, p Params) (Schedule, error) {
	if err := p.validate(); err != nil {
		return Schedule{}, err
	}
	if len(t.Functions) == 0 {
		return Schedule{}, fmt.Errorf("nemesis: a topology without functions")
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x6e656d65736973))
	kinds := t.Kinds()
	if len(kinds) == 0 {
		return Schedule{}, fmt.Errorf("nemesis: the topology allows no kind of fault the runner can inject")
	}
	n := p.MinFaults + rng.IntN(p.MaxFaults-p.MinFaults+1)
	s := Schedule{Seed: seed}
	latest := p.Run * 8 / 10
	for range n {
		k := kinds[rng.IntN(len(kinds))]
		at := time.Duration(rng.Int64N(int64(latest)))
		f := draw(rng, k, t, at, p.Run-at)
		s.Faults = append(s.Faults, f)
	}
	slices.SortStableFunc(s.Faults, func(a, b Fault) int { return cmp.Compare(a.At, b.At) })
	return s, nil
}

func (p Params) validate() error {
	switch {
	case p.Run < 5*time.Second:
		return fmt.Errorf("nemesis: a run of %s is too short for a schedule (at least 5s)", p.Run)
	case p.MinFaults < 1 || p.MaxFaults < p.MinFaults:
		return fmt.Errorf("nemesis: faults per schedule %d..%d: want 1 <= min <= max", p.MinFaults, p.MaxFaults)
	}
	return nil
}

// draw fills in a fault of kind k starting at at, healed within left.
func draw(rng *rand.Rand, k Kind, t Topology, at, left time.Duration) Fault {
	f := Fault{Kind: k, At: at}
	// A window: between 1 s and a third of the run, never past its end.
	window := func(minimum time.Duration) time.Duration {
		d := minimum + time.Duration(rng.Int64N(int64(max(left/3, time.Second))))
		return min(d, left)
	}
	pickFunction := func() string {
		fn := t.Functions[rng.IntN(len(t.Functions))]
		if r := t.Replicas[fn]; r > 1 {
			return fmt.Sprintf("%s/%d", fn, rng.IntN(r))
		}
		return fn
	}
	switch k {
	case KillFunction:
		f.Target = pickFunction()
	case PauseFunction:
		f.Target = pickFunction()
		f.For = min(left, max(t.DeliveryTimeout, time.Second)+time.Duration(rng.Int64N(int64(2*time.Second))))
	case RestartDispatcher:
		if len(t.Sources) > 0 {
			f.Target = t.Sources[rng.IntN(len(t.Sources))]
		}
	case DuplicateDelivery, RefuseDeadLetters:
		f.For = window(time.Second)
	case RestartBroker:
		if t.Broker == "cluster" {
			f.Target = fmt.Sprintf("node-%d", 1+rng.IntN(3))
		}
		// Down for 0.2 to 3 s: a broker process restarted by its
		// supervisor, long enough for every client to notice.
		f.For = min(left, 200*time.Millisecond+time.Duration(rng.Int64N(int64(2800*time.Millisecond))))
	case StopDatabase:
		f.For = window(time.Second)
	case NetworkLatency, NetworkReset, NetworkPartition:
		// A third on the broker link when both are there; else the one
		// there is (Kinds draws no network fault without either).
		f.Link = LinkDatabase
		if rng.IntN(3) == 0 {
			f.Link = LinkBroker
		}
		if f.Link == LinkBroker && !t.BrokerLink {
			f.Link = LinkDatabase
		}
		if f.Link == LinkDatabase && !t.Postgres {
			f.Link = LinkBroker
		}
		// Every replica of a function goes through its one proxy.
		f.Target = t.Functions[rng.IntN(len(t.Functions))]
		f.For = window(500 * time.Millisecond)
		if k == NetworkLatency {
			f.Param = 20 + rng.IntN(480) // ms
		}
	case PingBurst:
		f.Param = 2 + rng.IntN(8)
	}
	return f
}

// Overlapping reports the faults active in [from, to] (an instant fault
// counts for grace after it: its effects last), for naming the faults
// around a violation.
func (s Schedule) Overlapping(from, to, grace time.Duration) []Fault {
	var out []Fault
	for _, f := range s.Faults {
		if f.At <= to && f.Ends()+grace >= from {
			out = append(out, f)
		}
	}
	return out
}

// String lists the schedule, one fault a line.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d fault(s)\n", s.Seed, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

// MarshalIndent is the schedule as JSON, for a history file.
func (s Schedule) MarshalIndent() ([]byte, error) { return json.MarshalIndent(s, "", "  ") }

package nemesis

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"orderflow.dev/local/check"
)

func topology(postgres bool) Topology {
	return Topology{
		Functions: []string{"order", "inventory", "payment", "notify", "analytics"},
		Replicas:  map[string]int{"payment": 3},
		Sources:   []string{"order", "inventory", "payment", "notify", "analytics"},
		Broker:    "embedded", Postgres: postgres, DeliveryTimeout: 2 * time.Second,
	}
}

var params = Params{Run: 30 * time.Second, MinFaults: 3, MaxFaults: 8}

func TestASeedDrawsOneSchedule(t *testing.T) {
	a, err := Generate(42, topology(true), params)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(42, topology(true), params)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 drew two schedules:\n%s\n%s", a, b)
	}
	c, _ := Generate(43, topology(true), params)
	if reflect.DeepEqual(a.Faults, c.Faults) {
		t.Fatalf("seeds 42 and 43 drew the same schedule:\n%s", a)
	}
	raw, err := a.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	var back Schedule
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, a) {
		t.Fatalf("the schedule does not come back from its JSON (%v):\n%s", err, raw)
	}
}

// Over many seeds every kind the topology allows is drawn, faults overlap,
// every fault starts in the first 80 % of the run and heals by its end, a
// pause outlasts a delivery's timeout, and replicas are targeted one by
// one.
func TestSchedulesCoverEveryKindAndHealByTheEnd(t *testing.T) {
	for _, postgres := range []bool{false, true} {
		topo := topology(postgres)
		seen := map[Kind]bool{}
		overlapping, replicaTargeted := 0, false
		for seed := uint64(1); seed <= 300; seed++ {
			s, err := Generate(seed, topo, params)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(s.Faults); n < params.MinFaults || n > params.MaxFaults {
				t.Fatalf("seed %d: %d faults", seed, n)
			}
			for i, f := range s.Faults {
				seen[f.Kind] = true
				if f.At < 0 || f.At > params.Run*8/10 || f.Ends() > params.Run {
					t.Fatalf("seed %d: %s outside the run of %s", seed, f, params.Run)
				}
				if f.Kind == PauseFunction && f.For < topo.DeliveryTimeout && f.Ends() < params.Run {
					t.Fatalf("seed %d: %s shorter than the delivery timeout %s", seed, f, topo.DeliveryTimeout)
				}
				if f.Kind == StopDatabase && !postgres {
					t.Fatalf("seed %d: a database stop on SQLite", seed)
				}
				if strings.HasPrefix(f.Target, "payment/") {
					replicaTargeted = true
				}
				if i > 0 && f.At < s.Faults[i-1].Ends() {
					overlapping++
				}
			}
		}
		for _, k := range topo.Kinds() {
			if !seen[k] {
				t.Errorf("postgres=%v: 300 seeds never drew %s", postgres, k)
			}
		}
		if overlapping == 0 {
			t.Error("no schedule had overlapping faults")
		}
		if !replicaTargeted {
			t.Error("no kill or pause named one of payment's three replicas")
		}
	}
}

func TestBadParamsAreRefusedByName(t *testing.T) {
	for _, p := range []Params{{Run: time.Second, MinFaults: 1, MaxFaults: 2}, {Run: time.Minute, MinFaults: 0, MaxFaults: 2}, {Run: time.Minute, MinFaults: 3, MaxFaults: 2}} {
		if _, err := Generate(1, topology(false), p); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if _, err := Generate(1, Topology{}, params); err == nil || !strings.Contains(err.Error(), "without functions") {
		t.Errorf("an empty topology: %v", err)
	}
}

func TestCheckNamesEachViolationWithTheFaultsAroundIt(t *testing.T) {
	s := Schedule{Seed: 7, Faults: []Fault{
		{Kind: KillFunction, Target: "payment", At: 2 * time.Second},
		{Kind: StopDatabase, At: 20 * time.Second, For: 3 * time.Second},
	}}
	healthy := Outcome{
		Settled:         true,
		Orders:          map[string]OrderLife{"o1": {Placed: time.Second, Ended: 3 * time.Second}, "o2": {Placed: 21 * time.Second, Ended: 25 * time.Second}},
		Notifications:   map[string]int{"o1": 1, "o2": 1},
		OrderStatus:     map[string]string{"o1": "confirmed", "o2": "cancelled"},
		AnalyticsStatus: map[string]string{"o1": "confirmed", "o2": "cancelled"},
		DeadLetters:     []DeadLetter{{ID: "d1", OrderID: "o2", Replayed: true}, {ID: "d2", Explained: "a record the nemesis wrote to be refused"}},
		Held:            map[string]int64{"order/orderflow.commands/0": 0},
		Backlog:         map[string]int{"order": 0},
	}
	if v := Check(s, healthy); len(v) != 0 {
		t.Fatalf("a healthy outcome: %v", v)
	}
	broken := healthy
	broken.Settled = false
	broken.Invariants = check.Report{Lost: 1, Problems: []string{"order o1: created but reached no terminal state"}}
	broken.Notifications = map[string]int{"o1": 1, "o2": 2}
	broken.AnalyticsStatus = map[string]string{"o1": "confirmed", "o2": "confirmed", "o3": "cancelled"}
	broken.DeadLetters = []DeadLetter{{ID: "d3", OrderID: "o2", Function: "payment", Type: "t", Reason: "503"}}
	broken.Held = map[string]int64{"order/orderflow.commands/0": 4}
	broken.Backlog = map[string]int{"order": 2}
	got := Check(s, broken)
	want := map[string]bool{"settled": false, "invariants": false, "one notification per terminal order": false,
		"analytics agrees with the order read model": false, "every dead letter accounted for": false, "no record held": false, "outbox drained": false}
	for _, v := range got {
		want[v.Check] = true
		switch {
		case v.OrderID == "o1" && (len(v.Around) != 1 || v.Around[0].Kind != KillFunction):
			t.Errorf("o1 lived around the kill only: %s", v)
		case v.OrderID == "o2" && (len(v.Around) != 1 || v.Around[0].Kind != StopDatabase):
			t.Errorf("o2 lived around the database stop only: %s", v)
		}
		if v.String() == "" || !strings.Contains(v.String(), v.Check) {
			t.Errorf("violation text %q", v)
		}
	}
	for c, found := range want {
		if !found {
			t.Errorf("no %q violation in %v", c, got)
		}
	}
}

// Without a per-order view from analytics, its counts by state are held
// against the read model's.
func TestAnalyticsCountsAgainstTheReadModel(t *testing.T) {
	s := Schedule{Seed: 1, Faults: []Fault{{Kind: PingBurst, At: time.Second, Param: 3}}}
	o := Outcome{Settled: true, OrderStatus: map[string]string{"o1": "confirmed", "o2": "cancelled", "o3": "confirmed"},
		Notifications: map[string]int{"o1": 1, "o2": 1, "o3": 1}, AnalyticsByState: map[string]int{"confirmed": 2, "cancelled": 1, "pending": 0}}
	if v := Check(s, o); len(v) != 0 {
		t.Fatalf("agreeing counts: %v", v)
	}
	o.AnalyticsByState = map[string]int{"confirmed": 3, "cancelled": 0}
	v := Check(s, o)
	if len(v) != 2 || !strings.Contains(v[0].Detail, "confirmed: analytics counts 3, the order read model 2") || len(v[0].Around) != 1 {
		t.Fatalf("disagreeing counts: %v", v)
	}
}

// A topology's injectable kinds bound what the generator draws; none at
// all is refused.
func TestOnlyInjectableKindsAreDrawn(t *testing.T) {
	topo := topology(true)
	topo.Injectable = []Kind{KillFunction, PingBurst, StopDatabase, NetworkLatency}
	topo.Postgres = false // so StopDatabase is not allowed however injectable
	for seed := uint64(1); seed <= 100; seed++ {
		s, err := Generate(seed, topo, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			if f.Kind != KillFunction && f.Kind != PingBurst && f.Kind != NetworkLatency {
				t.Fatalf("seed %d drew %s, which the topology cannot inject", seed, f)
			}
		}
	}
	topo.Injectable = []Kind{}
	if _, err := Generate(1, topo, params); err == nil || !strings.Contains(err.Error(), "no kind of fault") {
		t.Errorf("no injectable kind: %v", err)
	}
}

// With a broker link, network faults are drawn on it, each naming the
// function whose K_SINK it acts on: on SQLite only there (no database
// link), beside the database links on PostgreSQL. Without either link no
// network fault is drawn at all.
func TestBrokerLinkFaultsAreDrawnWhenThereIsOne(t *testing.T) {
	network := []Kind{NetworkLatency, NetworkReset, NetworkPartition}
	for _, postgres := range []bool{false, true} {
		topo := topology(postgres)
		topo.BrokerLink = true
		topo.Injectable = append(slices.Clone(network), KillFunction)
		links := map[Link]int{}
		for seed := uint64(1); seed <= 100; seed++ {
			s, err := Generate(seed, topo, params)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range s.Faults {
				if !slices.Contains(network, f.Kind) {
					continue
				}
				links[f.Link]++
				if !slices.Contains(topo.Functions, f.Target) || f.For <= 0 || !strings.Contains(f.String(), "("+string(f.Link)+" link)") {
					t.Fatalf("postgres=%v, seed %d drew %s", postgres, seed, f)
				}
			}
		}
		switch {
		case links[LinkBroker] == 0:
			t.Errorf("postgres=%v: 100 seeds drew no fault on the broker link: %v", postgres, links)
		case postgres && links[LinkDatabase] == 0:
			t.Errorf("on PostgreSQL 100 seeds drew no fault on a database link: %v", links)
		case !postgres && links[LinkDatabase] > 0:
			t.Errorf("on SQLite %d faults were drawn on a database link, which it has not", links[LinkDatabase])
		}
	}
	topo := topology(false)
	topo.Injectable = append(slices.Clone(network), KillFunction)
	if kinds := topo.Kinds(); !slices.Equal(kinds, []Kind{KillFunction}) {
		t.Errorf("neither link: kinds %v, want kill-function alone", kinds)
	}
}

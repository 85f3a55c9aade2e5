package serving

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func kpa(scale Scale) *KPA {
	return &KPA{Scale: scale.WithDefaults(), Windows: KnativeWindows}
}

func TestKPADecides(t *testing.T) {
	s := Scale{Min: 0, Max: 10, Target: 10, Utilization: 100} // 10 in flight per replica
	aged := KnativeWindows.Stable
	tests := []struct {
		name  string
		scale Scale
		obs   Observation
		want  int
		panic bool
	}{
		{"steady at target", s, Observation{StableAvg: 20, PanicAv: 20, Ready: 2, Since: aged, LastActive: t0}, 2, false},
		{"more load: more replicas, rounded up", s, Observation{StableAvg: 31, PanicAv: 31, Ready: 3, Since: aged, LastActive: t0}, 4, false},
		{"a burst panics: the panic window wins", s, Observation{StableAvg: 12, PanicAv: 60, Ready: 2, Since: aged, LastActive: t0}, 6, true},
		{"max-scale bounds it", s, Observation{StableAvg: 500, PanicAv: 500, Ready: 5, Since: aged, LastActive: t0}, 10, true},
		{"less load: down, at most halving", s, Observation{StableAvg: 5, PanicAv: 5, Ready: 8, Since: aged, LastActive: t0}, 4, false},
		{"young service holds its replicas", s, Observation{StableAvg: 5, PanicAv: 5, Ready: 3, Since: 10 * time.Second, LastActive: t0}, 3, false},
		{"idle within the grace keeps one", s, Observation{Ready: 1, Since: aged, LastActive: t0.Add(-70 * time.Second)}, 1, false},
		{"idle past stable window and grace: zero", s, Observation{Ready: 1, Since: aged, LastActive: t0.Add(-91 * time.Second)}, 0, false},
		{"min-scale keeps replicas up", Scale{Min: 2, Max: 10, Target: 10, Utilization: 100}, Observation{Ready: 2, Since: aged, LastActive: t0.Add(-time.Hour)}, 2, false},
		{"at zero, held requests ask for one", s, Observation{StableAvg: 1, PanicAv: 1, Ready: 0, Since: aged, LastActive: t0}, 1, false},
		{"utilization aims below the target", Scale{Max: 10, Target: 10, Utilization: 50}, Observation{StableAvg: 10, PanicAv: 10, Ready: 1, Since: aged, LastActive: t0}, 2, true},
		{"rps metric", Scale{Max: 10, Metric: MetricRPS, Target: 50, Utilization: 100}, Observation{StableAvg: 120, PanicAv: 120, Ready: 3, Since: aged, LastActive: t0}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.obs.Now = t0
			d := kpa(tt.scale).Decide(tt.obs)
			if d.Desired != tt.want || d.Panic != tt.panic {
				t.Fatalf("desired %d panic %v (%s), want %d panic %v", d.Desired, d.Panic, d.Why, tt.want, tt.panic)
			}
			if d.Why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// In panic the count only goes up, and panic ends a stable window after
// the last tick over the threshold.
func TestKPAPanicHoldsUntilAStableWindowPasses(t *testing.T) {
	k := kpa(Scale{Max: 20, Target: 10, Utilization: 100})
	obs := func(at time.Duration, stable, panic float64, ready int) Decision {
		return k.Decide(Observation{Now: t0.Add(at), StableAvg: stable, PanicAv: panic, Ready: ready, Since: time.Hour, LastActive: t0.Add(at)})
	}
	if d := obs(0, 10, 80, 2); !d.Panic || d.Desired != 8 {
		t.Fatalf("burst: %+v", d)
	}
	if d := obs(10*time.Second, 10, 10, 8); !d.Panic || d.Desired != 8 {
		t.Fatalf("load gone, still panicking: %+v", d)
	}
	if d := obs(61*time.Second, 10, 10, 8); d.Panic || d.Desired != 4 {
		t.Fatalf("a stable window later: %+v (want out of panic, halving to 4)", d)
	}
}

func TestKPAScaleDownDelay(t *testing.T) {
	k := kpa(Scale{Max: 20, Target: 10, Utilization: 100})
	k.Windows.ScaleDownDelay = 30 * time.Second
	obs := func(at time.Duration, avg float64, ready int) int {
		return k.Decide(Observation{Now: t0.Add(at), StableAvg: avg, PanicAv: avg, Ready: ready, Since: time.Hour, LastActive: t0.Add(at)}).Desired
	}
	if n := obs(0, 40, 4); n != 4 {
		t.Fatalf("at load: %d", n)
	}
	if n := obs(10*time.Second, 20, 4); n != 4 {
		t.Fatalf("within the delay: %d, want 4 kept", n)
	}
	if n := obs(41*time.Second, 20, 4); n != 2 {
		t.Fatalf("after the delay: %d, want 2", n)
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	for _, s := range []Scale{{Min: -1}, {Max: -2}, {Min: 3, Max: 2}, {Metric: "cpu"}, {Target: 0.001}, {Utilization: 120}} {
		full := s
		if full.Metric == "" {
			full.Metric = MetricConcurrency
		}
		if full.Target == 0 {
			full.Target = DefaultTarget
		}
		if full.Utilization == 0 {
			full.Utilization = DefaultUtilization
		}
		if err := full.Validate(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if err := (Scale{}).WithDefaults().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	w := KnativeWindows
	w.Panic = 2 * w.Stable
	if err := w.Validate(); err == nil {
		t.Error("a panic window longer than the stable one: no error")
	}
	if err := KnativeWindows.Validate(); err != nil {
		t.Errorf("Knative's windows: %v", err)
	}
}

func TestParseScaleFlag(t *testing.T) {
	for _, c := range []struct {
		in, name string
		want     Scale
		bad      string
	}{
		{in: "payment=1:4", name: "payment", want: Scale{Min: 1, Max: 4}},
		{in: "*=4", name: "*", want: Scale{Min: 4, Max: 4}},
		{in: "notify=0:0", name: "notify", want: Scale{Min: 0, Max: 0}},
		{in: "payment", bad: "want FUNCTION=MIN:MAX"},
		{in: "=1:2", bad: "want FUNCTION=MIN:MAX"},
		{in: "payment=", bad: "want FUNCTION=MIN:MAX"},
		{in: "payment=a:2", bad: "whole numbers"},
		{in: "payment=1:x", bad: "whole numbers"},
		{in: "payment=-1:2", bad: "must not be negative"},
		{in: "payment=3:2", bad: "at least scale.min"},
	} {
		name, got, err := ParseScaleFlag(c.in)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%q: %v, want an error saying %q", c.in, err, c.bad)
			}
			continue
		}
		if err != nil || name != c.name || got != c.want {
			t.Errorf("%q: %s %+v %v, want %s %+v", c.in, name, got, err, c.name, c.want)
		}
	}
}

// Package serving runs a function the way Knative Serving runs a Service:
// as many replicas as the load asks for, between the function's scale
// bounds, behind one address; none while idle unless min-scale says
// otherwise; and an activator that holds a request to a function at zero
// while a replica starts, so that nothing is refused for being early.
//
// kpa.go is the autoscaler's decision, after Knative's KPA
// (knative.dev/serving pkg/autoscaler/scaling/autoscaler.go): the average
// concurrency (or requests per second) over a stable window and over a
// shorter panic window, each divided by the target per replica; panic mode
// when the panic window asks for twice the replicas ready, which scales up
// at once and never down until a stable window passes without panic; the
// rates bound how fast it moves. It is pure: the service feeds it the
// observations and applies its answer.
package serving

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// Scale is a function's autoscaling settings, as func.yaml's
// deploy.options.scale gives them and `func deploy` writes them into the
// revision's autoscaling.knative.dev annotations.
type Scale struct {
	// Min and Max bound the replicas (min-scale, max-scale). Max 0 is
	// unbounded, as in Knative.
	Min, Max int
	// Metric is "concurrency" (requests in flight per replica) or "rps"
	// (requests per second per replica).
	Metric string
	// Target per replica (autoscaling.knative.dev/target) and the share of
	// it the autoscaler aims at (target-utilization-percentage).
	Target, Utilization float64
}

// Knative's defaults (config-autoscaler): a target of 100 concurrent
// requests per replica, 70 % of it aimed at.
const (
	DefaultTarget      = 100
	DefaultUtilization = 70
	MetricConcurrency  = "concurrency"
	MetricRPS          = "rps"
)

// WithDefaults fills what func.yaml left out with Knative's defaults.
func (s Scale) WithDefaults() Scale {
	if s.Metric == "" {
		s.Metric = MetricConcurrency
	}
	if s.Target == 0 {
		s.Target = DefaultTarget
	}
	if s.Utilization == 0 {
		s.Utilization = DefaultUtilization
	}
	return s
}

// Validate checks the settings as func does before a deploy, naming the
// field.
func (s Scale) Validate() error {
	switch {
	case s.Min < 0:
		return fmt.Errorf("scale.min %d: must not be negative", s.Min)
	case s.Max < 0:
		return fmt.Errorf("scale.max %d: must not be negative", s.Max)
	case s.Max > 0 && s.Max < s.Min:
		return fmt.Errorf("scale.max %d: must be at least scale.min (%d)", s.Max, s.Min)
	case s.Metric != MetricConcurrency && s.Metric != MetricRPS:
		return fmt.Errorf("scale.metric %q: want %s or %s", s.Metric, MetricConcurrency, MetricRPS)
	case s.Target < 0.01:
		return fmt.Errorf("scale.target %g: must be at least 0.01", s.Target)
	case s.Utilization < 1 || s.Utilization > 100:
		return fmt.Errorf("scale.utilization %g: want 1 to 100 (percent)", s.Utilization)
	}
	return nil
}

// PerReplica is what one replica is meant to carry.
func (s Scale) PerReplica() float64 { return s.Target * s.Utilization / 100 }

// Windows is the autoscaler's timing, Knative's config-autoscaler;
// configurable so tests run in seconds.
type Windows struct {
	Stable time.Duration // stable-window (60s)
	Panic  time.Duration // panic-window-percentage of it (10 %: 6s)
	// PanicThreshold: panic when the panic window asks for this many
	// times the replicas ready (panic-threshold-percentage 200 %).
	PanicThreshold float64
	// MaxScaleUpRate and MaxScaleDownRate bound a step: at most this many
	// times the ready replicas, at least ready / down rate (1000, 2).
	MaxScaleUpRate, MaxScaleDownRate float64
	// ScaleDownDelay holds a scale-down until the lower count has been
	// wanted this long (scale-down-delay, 0).
	ScaleDownDelay time.Duration
	// ScaleToZeroGrace is how long a function stays at one replica after
	// the stable window saw no traffic, before it goes to zero
	// (scale-to-zero-grace-period, 30s).
	ScaleToZeroGrace time.Duration
	// Tick is how often the autoscaler decides (2s).
	Tick time.Duration
}

// KnativeWindows are Knative's defaults.
var KnativeWindows = Windows{Stable: 60 * time.Second, Panic: 6 * time.Second, PanicThreshold: 2,
	MaxScaleUpRate: 1000, MaxScaleDownRate: 2, ScaleToZeroGrace: 30 * time.Second, Tick: 2 * time.Second}

// Validate names what is wrong with the windows.
func (w Windows) Validate() error {
	switch {
	case w.Tick <= 0:
		return fmt.Errorf("autoscaler tick %s: must be positive", w.Tick)
	case w.Stable < w.Tick:
		return fmt.Errorf("stable window %s: must be at least the tick (%s)", w.Stable, w.Tick)
	case w.Panic <= 0 || w.Panic > w.Stable:
		return fmt.Errorf("panic window %s: must be positive and at most the stable window (%s)", w.Panic, w.Stable)
	case w.PanicThreshold < 1:
		return fmt.Errorf("panic threshold %g: must be at least 1 (times the ready replicas)", w.PanicThreshold)
	case w.MaxScaleUpRate <= 1 || w.MaxScaleDownRate <= 1:
		return fmt.Errorf("scale rates %g up, %g down: both must be above 1", w.MaxScaleUpRate, w.MaxScaleDownRate)
	case w.ScaleDownDelay < 0 || w.ScaleToZeroGrace < 0:
		return fmt.Errorf("scale-down delay %s, scale-to-zero grace %s: must not be negative", w.ScaleDownDelay, w.ScaleToZeroGrace)
	}
	return nil
}

// Observation is what the autoscaler sees at a tick: the metric averaged
// over each window, and the replicas ready now.
type Observation struct {
	Now                time.Time
	StableAvg, PanicAv float64
	Ready              int
	// Since is how long the stable window has been observed: a service
	// younger than its window has no verdict to scale down on.
	Since time.Duration
	// LastActive is the last time the metric was above zero.
	LastActive time.Time
}

// KPA is the autoscaler's state between ticks.
type KPA struct {
	Scale   Scale
	Windows Windows
	// panicking since (zero: not), and the most replicas panic asked for.
	panicSince   time.Time
	maxPanicPods int
	// recent holds what was wanted lately, for the scale-down delay.
	recent []wanted
}

type wanted struct {
	at    time.Time
	count int
}

// Decision is a tick's answer.
type Decision struct {
	Desired int
	Panic   bool
	// Why says in words what decided it, for the log and the dashboard.
	Why string
}

// Decide computes the replicas wanted now. It applies the rates, the panic
// rule, the scale-down delay, the scale-to-zero grace and the bounds.
func (k *KPA) Decide(o Observation) Decision {
	per := k.Scale.PerReplica()
	ready := max(o.Ready, 1) // as Knative: the rates act on at least one
	stable := int(math.Ceil(o.StableAvg / per))
	panic := int(math.Ceil(o.PanicAv / per))
	up := int(math.Ceil(k.Windows.MaxScaleUpRate * float64(ready)))
	down := int(math.Floor(float64(ready) / k.Windows.MaxScaleDownRate))
	stable = clamp(stable, down, up)
	panic = clamp(panic, down, up)

	over := float64(panic)/float64(ready) >= k.Windows.PanicThreshold && o.Ready > 0
	switch {
	case over:
		if k.panicSince.IsZero() {
			k.panicSince = o.Now
		}
	case !k.panicSince.IsZero() && o.Now.Sub(k.panicSince) >= k.Windows.Stable:
		k.panicSince, k.maxPanicPods = time.Time{}, 0
	}
	d := Decision{Desired: stable, Why: fmt.Sprintf("stable %.2f / %.2f per replica", o.StableAvg, per)}
	if !k.panicSince.IsZero() {
		// In panic the count only goes up.
		k.maxPanicPods = max(k.maxPanicPods, panic, stable, o.Ready)
		d = Decision{Desired: k.maxPanicPods, Panic: true, Why: fmt.Sprintf("panic: %.2f over %s / %.2f per replica", o.PanicAv, k.Windows.Panic, per)}
	}
	// A young service has not seen a whole window: it does not scale down.
	if o.Since < k.Windows.Stable && d.Desired < o.Ready {
		d.Desired, d.Why = o.Ready, "holding: the stable window is not full yet"
	}
	// Scale-down delay: the highest count wanted within the delay wins.
	if k.Windows.ScaleDownDelay > 0 {
		k.recent = append(k.recent, wanted{o.Now, d.Desired})
		cut := 0
		for cut < len(k.recent) && o.Now.Sub(k.recent[cut].at) > k.Windows.ScaleDownDelay {
			cut++
		}
		k.recent = k.recent[cut:]
		for _, w := range k.recent {
			if w.count > d.Desired {
				d.Desired, d.Why = w.count, fmt.Sprintf("scale-down delay %s: %d wanted within it", k.Windows.ScaleDownDelay, w.count)
			}
		}
	}
	// To zero only after the grace since the last activity.
	if d.Desired == 0 && o.Ready > 0 && o.Now.Sub(o.LastActive) < k.Windows.Stable+k.Windows.ScaleToZeroGrace {
		d.Desired, d.Why = 1, "idle, within the stable window and the scale-to-zero grace"
	}
	if d.Desired < k.Scale.Min {
		d.Desired, d.Why = k.Scale.Min, fmt.Sprintf("min-scale %d", k.Scale.Min)
	}
	if k.Scale.Max > 0 && d.Desired > k.Scale.Max {
		d.Desired, d.Why = k.Scale.Max, fmt.Sprintf("max-scale %d (%s)", k.Scale.Max, d.Why)
	}
	return d
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

// ScaleOf is func.yaml's deploy.options.scale as the autoscaler takes it;
// what it leaves out stays zero (WithDefaults gives Knative's).
func ScaleOf(f manifests.FuncScale) Scale {
	var s Scale
	if f.Min != nil {
		s.Min = int(*f.Min)
	}
	if f.Max != nil {
		s.Max = int(*f.Max)
	}
	if f.Metric != nil {
		s.Metric = *f.Metric
	}
	if f.Target != nil {
		s.Target = *f.Target
	}
	if f.Utilization != nil {
		s.Utilization = *f.Utilization
	}
	return s
}

// ParseScaleFlag reads NAME=MIN:MAX (or NAME=N for MIN=MAX=N, MAX 0
// unbounded), the form of `up --scale`; NAME "*" is every function.
func ParseScaleFlag(v string) (string, Scale, error) {
	name, bounds, ok := strings.Cut(v, "=")
	if !ok || name == "" || bounds == "" {
		return "", Scale{}, fmt.Errorf("%q: want FUNCTION=MIN:MAX or FUNCTION=N (FUNCTION * for every one)", v)
	}
	lo, hi, ranged := strings.Cut(bounds, ":")
	if !ranged {
		hi = lo
	}
	minS, err1 := strconv.Atoi(lo)
	maxS, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil {
		return "", Scale{}, fmt.Errorf("%q: MIN and MAX must be whole numbers", v)
	}
	s := Scale{Min: minS, Max: maxS}
	if err := s.WithDefaults().Validate(); err != nil {
		return "", Scale{}, fmt.Errorf("%q: %w", v, err)
	}
	return name, s, nil
}

// WindowsOf are Knative's windows scaled to a stable window of stable:
// the panic window a tenth of it, the scale-to-zero grace half of it, a
// decision every tenth (at most Knative's 2s).
func WindowsOf(stable time.Duration) Windows {
	w := KnativeWindows
	w.Stable, w.Panic, w.ScaleToZeroGrace = stable, stable/10, stable/2
	w.Tick = min(KnativeWindows.Tick, stable/10)
	return w
}

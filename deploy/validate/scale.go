package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/autoscaling"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"sigs.k8s.io/yaml"

	"orderflow.dev/knlocal/manifests"
)

// Scale settings: each func.yaml's deploy.options.scale, which `func
// deploy` (knative.dev/func v0.49.2, pkg/knative/deployer.go
// setServiceOptions) writes into the revision's autoscaling.knative.dev
// annotations, checked as func and Knative's webhook check them and then
// against the topology that feeds the function (docs/scaling.md).

// EnvironmentLabel names the environment an overlay renders; the scale of
// a func.yaml, one file for every environment, is sized for the one
// labelled ProdEnvironment (knative/overlays/prod). Dev's single
// partitions simply never give a function work for more than one replica.
const (
	EnvironmentLabel = "orderflow.dev/environment"
	ProdEnvironment  = "prod"
)

// ColdStartAllowance is how long a delivery to a function at zero must be
// able to wait before the dead-letter sink would take it: a pod scheduled,
// the function's image pulled when the node does not hold it (tens of
// megabytes: seconds in a cluster, tens of seconds from a slow registry),
// the Go binary started and its readiness probe passed. Knative's
// activator holds the request meanwhile; the KafkaSource's own timeout
// and retries run around it, and an event dead-lettered for arriving
// early is an event the saga did not handle.
const ColdStartAllowance = 60 * time.Second

// FuncScale is a func.yaml's deploy.options.scale as func reads it
// (pkg/functions ScaleOptions), and what was wrong reading it.
type FuncScale struct {
	manifests.FuncScale
	Present bool // the block is in the file
	// Annotations are the autoscaling.knative.dev/* entries of
	// deploy.annotations, which func deploy also puts on the revision
	// (a window, a scale-down delay, ...).
	Annotations map[string]string
	// Problems name their field from the file's root.
	Problems []manifests.FieldProblem
}

// The deploy.options of func v0.49.2 (pkg/functions Options, ScaleOptions).
// func reads func.yaml leniently: a key it does not know (maxScale, a
// misspelt scale) is dropped without a word and the revision gets
// Knative's defaults, so here every unknown key is an error.
type wireOptions struct {
	Scale     *wireScale      `json:"scale"`
	Resources json.RawMessage `json:"resources"`
}

type wireScale struct {
	Min         *int64   `json:"min"`
	Max         *int64   `json:"max"`
	Metric      *string  `json:"metric"`
	Target      *float64 `json:"target"`
	Utilization *float64 `json:"utilization"`
}

const scaleField = "deploy.options.scale"

// ReadScale reads deploy.options.scale from a func.yaml's contents.
func ReadScale(data []byte) FuncScale {
	var out FuncScale
	var doc struct {
		Deploy struct {
			Options     json.RawMessage   `json:"options"`
			Annotations map[string]string `json:"annotations"`
		} `json:"deploy"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		out.Problems = append(out.Problems, manifests.FieldProblem{Field: "deploy", Msg: err.Error()})
		return out
	}
	for k, v := range doc.Deploy.Annotations {
		if strings.HasPrefix(k, autoscaling.GroupName+"/") {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	if len(doc.Deploy.Options) == 0 || string(doc.Deploy.Options) == "null" {
		return out
	}
	var w wireOptions
	for _, p := range manifests.DecodeStrict(doc.Deploy.Options, &w) {
		field := "deploy.options"
		if p.Field != "" {
			field += "." + p.Field
		}
		out.Problems = append(out.Problems, manifests.FieldProblem{Field: field, Msg: p.Msg})
	}
	if len(out.Problems) > 0 || w.Scale == nil {
		return out
	}
	out.Present = true
	out.FuncScale = manifests.FuncScale{Min: w.Scale.Min, Max: w.Scale.Max, Metric: w.Scale.Metric, Target: w.Scale.Target, Utilization: w.Scale.Utilization}
	return out
}

// The annotation each scale field becomes, with the other spellings
// Knative reads for it (kmap.KeyPriority): func deploy sets or removes
// the first, so a deploy.annotations entry under any of them fights it.
var scaleAnnotations = map[string][]string{
	scaleField + ".min":         autoscaling.MinScaleAnnotation,
	scaleField + ".max":         autoscaling.MaxScaleAnnotation,
	scaleField + ".metric":      autoscaling.MetricAnnotation,
	scaleField + ".target":      autoscaling.TargetAnnotation,
	scaleField + ".utilization": autoscaling.TargetUtilizationPercentageAnnotation,
}

// fieldOf is the func.yaml field an annotation comes from.
func fieldOf(key string) string {
	for field, keys := range scaleAnnotations {
		if slices.Contains(keys, key) {
			return field
		}
	}
	return "deploy.annotations[" + key + "]"
}

// Annotations are the autoscaling annotations `func deploy` writes on the
// revision template: deploy.annotations' own, then the scale's, formatted
// as func formats them (%d for the bounds, %f for target and
// utilization); a field left out writes none, and Knative's default
// applies.
func Annotations(sc FuncScale) map[string]string {
	a := maps.Clone(sc.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	s := sc.FuncScale
	if s.Min != nil {
		a[autoscaling.MinScaleAnnotationKey] = fmt.Sprintf("%d", *s.Min)
	}
	if s.Max != nil {
		a[autoscaling.MaxScaleAnnotationKey] = fmt.Sprintf("%d", *s.Max)
	}
	if s.Metric != nil {
		a[autoscaling.MetricAnnotationKey] = *s.Metric
	}
	if s.Target != nil {
		a[autoscaling.TargetAnnotationKey] = fmt.Sprintf("%f", *s.Target)
	}
	if s.Utilization != nil {
		a[autoscaling.TargetUtilizationPercentageKey] = fmt.Sprintf("%f", *s.Utilization)
	}
	return a
}

// knativeDefaults is config-autoscaler as Knative ships it (an empty
// ConfigMap): the class (KPA), the windows and the default targets.
var knativeDefaults = sync.OnceValue(func() *autoscalerconfig.Config {
	cfg, err := asconfig.NewConfigFromMap(map[string]string{})
	if err != nil {
		panic("Knative's own autoscaler defaults do not load: " + err.Error()) // a broken dependency, not input
	}
	return cfg
})

// ScaleRules checks sc as `func deploy` and then Knative's webhook would:
// no deploy.annotations entry that func overwrites from the scale; the
// annotations func writes, validated by Knative Serving's own
// autoscaling.ValidateAnnotations against the default config-autoscaler;
// and func's own check (pkg/functions validateOptions), stricter in one
// place: with both bounds given, max must not be below min even when it
// is 0, which Knative reads as unbounded. Both bounds must be stated: they
// are the decisions (scale to zero or not; how far out) the rest of the
// checks reason about.
func ScaleRules(sc FuncScale) []manifests.FieldProblem {
	var probs []manifests.FieldProblem
	fail := func(field, format string, a ...any) {
		probs = append(probs, manifests.FieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	for _, k := range slices.Sorted(maps.Keys(sc.Annotations)) {
		if f := fieldOf(k); f != "deploy.annotations["+k+"]" {
			fail("deploy.annotations["+k+"]", "set %s instead: func deploy writes or removes this annotation from it", f)
		}
	}
	if len(probs) > 0 {
		return probs
	}
	s := sc.FuncScale
	anns := Annotations(sc)
	fe := autoscaling.ValidateAnnotations(context.Background(), knativeDefaults(), anns)
	for _, e := range fe.Filter(apis.ErrorLevel).WrappedErrors() {
		field := scaleField
		if len(e.Paths) > 0 {
			field = fieldOf(e.Paths[0])
		}
		msg := e.Message
		if e.Details != "" {
			msg += " (" + e.Details + ")"
		}
		fail(field, "%s: Knative's webhook refuses the annotations func deploy writes (%s)", msg, annotationList(anns, e.Paths))
	}
	if s.Min != nil && s.Max != nil && *s.Max == 0 && *s.Min > 0 {
		fail(scaleField+".max", "0 with min %d: func deploy refuses a max below min, even 0 (which Knative reads as unbounded); leave max out or give a bound", *s.Min)
	}
	if s.Min == nil {
		fail(scaleField+".min", "missing: state whether the function may scale to zero (0) or keeps replicas warm (1 or more); left out, Knative scales it to zero")
	}
	if s.Max == nil {
		fail(scaleField+".max", "missing: state the most replicas; left out, Knative puts no bound on them")
	}
	return probs
}

func annotationList(anns map[string]string, keys []string) string {
	var out []string
	for _, k := range keys {
		if v, ok := anns[k]; ok {
			out = append(out, fmt.Sprintf("%s=%q", k, v))
		}
	}
	return strings.Join(out, ", ")
}

// Patience is the longest a delivery keeps an event from the dead-letter
// sink while its destination does not answer in time: every attempt runs
// to its timeout, and the backoff before each retry (delay*2^n or delay*n,
// the dispatcher's schedule, knlocal/source.Backoff) is waited out.
func Patience(d manifests.Delivery) time.Duration {
	r := float64(d.Retry)
	var backoff float64
	if d.BackoffPolicy == manifests.BackoffLinear {
		backoff = float64(d.BackoffDelay) * r * (r + 1) / 2
	} else {
		backoff = float64(d.BackoffDelay) * (math.Exp2(r+1) - 2)
	}
	total := backoff + float64(d.Timeout)*(r+1)
	if total >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(total)
}

// feed is what delivers to one function in one render.
type feed struct {
	sources []*sourceDecl
	pings   []*pingDecl
}

// scaleSettings checks every function's scale: as func and Knative read
// it, against what delivers to it (a function that may scale to zero must
// have sources that wait for it to start), and, in the production render,
// against what can reach it (no more replicas than deliveries in flight;
// no scale to zero that its ticks would never allow).
func (c *checker) scaleSettings(sourceFor map[string][]*sourceDecl, pingFor map[string][]*pingDecl) {
	for _, name := range c.fnNames() {
		fn := c.fns[name]
		fail := func(field, format string, a ...any) {
			c.probs = append(c.probs, Problem{Where: fn.File, Field: field, Msg: fmt.Sprintf(format, a...)})
		}
		sc := fn.Scale
		for _, p := range sc.Problems {
			fail(p.Field, "%s", p.Msg)
		}
		if len(sc.Problems) > 0 {
			continue
		}
		if !sc.Present {
			fail(scaleField, "missing: without it func deploy leaves the revision to Knative's defaults (scale to zero, no upper bound, 100 requests per replica); docs/scaling.md says how to choose")
			continue
		}
		rules := ScaleRules(sc)
		for _, p := range rules {
			fail(p.Field, "%s", p.Msg)
		}
		if len(rules) > 0 {
			continue
		}
		f := feed{sources: sourceFor[name], pings: pingFor[name]}
		if *sc.Min == 0 {
			c.coldStart(fn, f)
		}
		if f.prod() {
			c.inFlight(fn, f)
			if *sc.Min == 0 {
				c.ticksLetItSleep(fn, f)
			}
		}
	}
}

func (f feed) prod() bool {
	return slices.ContainsFunc(f.sources, func(sd *sourceDecl) bool { return sd.s.Labels[EnvironmentLabel] == ProdEnvironment })
}

// coldStart: a function that may be at zero gets its events through the
// activator, which holds each until a replica is ready. The KafkaSource's
// dispatcher times the request out meanwhile and retries; if all its
// retries pass before the replica is up, the event is dead-lettered for
// nothing but being early.
func (c *checker) coldStart(fn Function, f feed) {
	for _, sd := range f.sources {
		if sd.refused {
			continue
		}
		// Read as the plane reads it: agree_test.go holds that to what
		// Knative's control plane makes of it.
		src, probs, _ := manifests.ReadSource(sd.obj)
		c.problems(sd.obj, probs)
		if len(probs) > 0 {
			continue
		}
		d := src.Delivery
		if p := Patience(d); p < ColdStartAllowance {
			c.fail(sd.obj, "spec.delivery", "%s has min scale 0 (%s), but this delivery gives up after %s (%d retries, %s backoff from %s, timeout %s per attempt), less than the %s a cold start may take: an event arriving while %s is at zero would be dead-lettered; raise retry or backoffDelay, or give %s min 1",
				fn.Name, fn.File, p, d.Retry, d.BackoffPolicy, d.BackoffDelay, d.Timeout, ColdStartAllowance, fn.Name, fn.Name)
		}
	}
}

// inFlight: with ordering ordered, a KafkaSource has one event in flight
// per partition of each topic it reads, whatever its consumers; a
// PingSource adds its tick. Under the concurrency metric the autoscaler
// asks for ceil(in flight / (target x utilization)) replicas at most, and a
// replica beyond the deliveries in flight never has one to carry, so a max
// above that bound is never reached, or reached only to sit idle holding
// its database connections: it overstates what the function can use,
// hides that partitions, not replicas, bound its throughput, and inflates
// the connection budget computed from it. A failure, not a warning: the
// fix is one number in the func.yaml, or more partitions.
func (c *checker) inFlight(fn Function, f feed) {
	sc := fn.Scale
	total := len(f.pings)
	var parts []string
	for _, sd := range f.sources {
		if o := sd.s.Spec.Ordering; o != nil && string(*o) == manifests.OrderingUnordered {
			return // unordered: no bound from partitions
		}
		for _, t := range sd.s.Spec.Topics {
			td, ok := c.topics[t]
			if !ok || td.t.Spec.Partitions == nil {
				return // reported elsewhere; no bound to compare with
			}
			n := int(*td.t.Spec.Partitions)
			total += n
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	if total == 0 {
		return
	}
	sort.Strings(parts)
	why := fmt.Sprintf("at most %d deliveries to %s are in flight in this render (its KafkaSource delivers ordered, one per partition: %s; %d PingSource tick(s))",
		total, fn.Name, strings.Join(parts, ", "), len(f.pings))
	bound, per := total, ""
	if metric(sc.FuncScale) == autoscaling.Concurrency {
		carry := perReplica(sc.FuncScale)
		if b := int(math.Ceil(float64(total) / carry)); b < bound {
			bound = b
			per = fmt.Sprintf(", and at %g per replica (target x utilization) the autoscaler never asks for more than %d replicas", carry, b)
		}
	}
	switch max := *sc.Max; {
	case max == 0:
		c.probs = append(c.probs, Problem{Where: fn.File, Field: scaleField + ".max",
			Msg: fmt.Sprintf("0 (unbounded): %s%s; give max %d or less", why, per, bound)})
	case max > int64(bound):
		c.probs = append(c.probs, Problem{Where: fn.File, Field: scaleField + ".max",
			Msg: fmt.Sprintf("%d: %s%s, so replicas past %d would never carry one; lower max to %d, or give the topics more partitions", max, why, per, bound, bound)})
	}
}

// metric is the one the autoscaler scales on: concurrency unless given.
func metric(s manifests.FuncScale) string {
	if s.Metric == nil {
		return autoscaling.Concurrency
	}
	return *s.Metric
}

// perReplica is what one replica is meant to carry: target x utilization,
// Knative's defaults for what is left out.
func perReplica(s manifests.FuncScale) float64 {
	cfg := knativeDefaults()
	target, util := cfg.ContainerConcurrencyTargetDefault, cfg.ContainerConcurrencyTargetFraction*100
	if s.Target != nil {
		target = *s.Target
	}
	if s.Utilization != nil {
		util = *s.Utilization
	}
	return target * util / 100
}

// ticksLetItSleep: Knative takes a revision to zero only after a whole
// stable window without a request and then its scale-to-zero grace
// period. PingSource ticks are requests: if they never leave a gap that
// long, min 0 states a scale to zero that never happens (and the stated
// settings are what the connection budget and the cost are planned on).
func (c *checker) ticksLetItSleep(fn Function, f feed) {
	if len(f.pings) == 0 {
		return
	}
	cfg := knativeDefaults()
	window, retention := cfg.StableWindow, cfg.ScaleToZeroPodRetentionPeriod
	anns := Annotations(fn.Scale)
	if _, v, ok := autoscaling.WindowAnnotation.Get(anns); ok {
		window, _ = time.ParseDuration(v) // ScaleRules has validated it
	}
	if _, v, ok := autoscaling.ScaleToZeroPodRetentionPeriodAnnotation.Get(anns); ok {
		retention, _ = time.ParseDuration(v)
	}
	// The last replica goes after the grace period, or after the
	// retention period when that is longer.
	need := window + max(cfg.ScaleToZeroGracePeriod, retention)
	var names []string
	var times []time.Time
	// A week from a fixed Monday covers every five-field schedule's
	// pattern but the monthly ones, which leave gaps of days anyway.
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(0, 0, 7)
	for _, pd := range f.pings {
		sched, err := manifests.ParseSchedule(pd.p.Spec.Schedule, pd.p.Spec.Timezone)
		if err != nil {
			return // admission reported it
		}
		names = append(names, fmt.Sprintf("%s %q", pd.p.Name, pd.p.Spec.Schedule))
		for t := sched.Next(from); t.Before(until); t = sched.Next(t) {
			times = append(times, t)
		}
	}
	longest := LongestGap(times, from, until)
	if longest <= need {
		c.probs = append(c.probs, Problem{Where: fn.File, Field: scaleField + ".min",
			Msg: fmt.Sprintf("0, but in this render %s is never left without a tick for more than %s (%s), and Knative takes a revision to zero only after %s without a request (stable window %s, then scale-to-zero grace %s or pod retention %s): it would never be at zero; tick it less often (knative/overlays/prod) or give it min 1",
				fn.Name, longest, strings.Join(names, ", "), need, window, cfg.ScaleToZeroGracePeriod, retention)})
	}
}

// LongestGap is the longest time between consecutive times (in any order)
// within [from, until), the ends counted as bounds.
func LongestGap(times []time.Time, from, until time.Time) time.Duration {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	longest, prev := time.Duration(0), from
	for _, t := range ts {
		longest = max(longest, t.Sub(prev))
		prev = t
	}
	return max(longest, until.Sub(prev))
}

package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// withScale is the tree's functions with one func.yaml's scale block
// replaced by block (YAML under deploy.options, "" for none).
func withScale(t *testing.T, fn, block string) []Function {
	t.Helper()
	return withDeploy(t, fn, "", block)
}

// withDeploy is withScale with deploy.annotations (YAML under deploy) too.
func withDeploy(t *testing.T, fn, annotations, block string) []Function {
	t.Helper()
	fns, err := LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "functions", fn, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "\n  options:\n")
	if i < 0 {
		t.Fatalf("functions/%s/func.yaml has no deploy.options block", fn)
	}
	text = text[:i+1] + annotations
	if block != "" {
		text += "  options:\n" + block
	}
	for k := range fns {
		if fns[k].Name == fn {
			fns[k].Scale = ReadScale([]byte(text))
		}
	}
	return fns
}

func scaleBlock(min, max, metric, target, utilization string) string {
	var b strings.Builder
	b.WriteString("    scale:\n")
	for _, kv := range [][2]string{{"min", min}, {"max", max}, {"metric", metric}, {"target", target}, {"utilization", utilization}} {
		if kv[1] != "" {
			b.WriteString("      " + kv[0] + ": " + kv[1] + "\n")
		}
	}
	return b.String()
}

// problemsOf checks a render against fns and keeps the problems that
// mention any of about.
func problemsOf(objs []manifests.Object, fns []Function, about ...string) []string {
	var out []string
	for _, p := range Check(objs, fns) {
		for _, a := range about {
			if strings.Contains(p.String(), a) {
				out = append(out, p.String())
				break
			}
		}
	}
	return out
}

func expectProblem(t *testing.T, got []string, want []string) {
	t.Helper()
	for _, p := range got {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(p, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem says all of %q; got:\n  %s", want, strings.Join(got, "\n  "))
}

// A scale block func or Knative would refuse, or one func would read as
// something else than written, fails naming the file and the field.
func TestScaleSettingsAsFuncAndKnativeReadThem(t *testing.T) {
	objs, _ := render(t, "knative/overlays/dev", nil)
	const file = "functions/notify/func.yaml: "
	full := scaleBlock("0", "2", "concurrency", "10", "70")
	tests := []struct {
		name, annotations, block string
		want                     []string
	}{
		{"no scale block", "", "", []string{file + "deploy.options.scale: missing", "Knative's defaults"}},
		{"a scale annotation beside the scale", "  annotations:\n    autoscaling.knative.dev/min-scale: \"3\"\n", full,
			[]string{file + "deploy.annotations[autoscaling.knative.dev/min-scale]: set deploy.options.scale.min instead"}},
		{"an older spelling of one", "  annotations:\n    autoscaling.knative.dev/maxScale: \"9\"\n", full,
			[]string{file + "deploy.annotations[autoscaling.knative.dev/maxScale]: set deploy.options.scale.max instead"}},
		{"a window Knative refuses", "  annotations:\n    autoscaling.knative.dev/window: 2s\n", full,
			[]string{file + "deploy.annotations[autoscaling.knative.dev/window]: expected 6s <= 2s <= 1h0m0s"}},
		{"negative min", "", scaleBlock("-1", "2", "concurrency", "10", "70"), []string{file + "deploy.options.scale.min: ", "expected 0 <= -1", `autoscaling.knative.dev/min-scale="-1"`}},
		{"negative max", "", scaleBlock("0", "-2", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: ", "expected 0 <= -2"}},
		{"max below min", "", scaleBlock("3", "2", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: ", "max-scale=2 is less than min-scale=3"}},
		{"max 0 below min: func refuses it", "", scaleBlock("2", "0", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: 0 with min 2", "func deploy refuses"}},
		{"max past int32", "", scaleBlock("0", "3000000000", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: ", "3000000000"}},
		{"metric cpu", "", scaleBlock("0", "2", "cpu", "10", "70"), []string{file + "deploy.options.scale.metric: ", "invalid value: cpu"}},
		{"metric in capitals", "", scaleBlock("0", "2", "Concurrency", "10", "70"), []string{file + "deploy.options.scale.metric: ", "Concurrency"}},
		{"target 0", "", scaleBlock("0", "2", "concurrency", "0", "70"), []string{file + "deploy.options.scale.target: ", "should be at least 0.01"}},
		{"target below 0.01", "", scaleBlock("0", "2", "concurrency", "0.001", "70"), []string{file + "deploy.options.scale.target: ", "at least 0.01"}},
		{"utilization 0", "", scaleBlock("0", "2", "concurrency", "10", "0"), []string{file + "deploy.options.scale.utilization: ", "expected 1 <= 0.000000 <= 100"}},
		{"utilization 101", "", scaleBlock("0", "2", "concurrency", "10", "101"), []string{file + "deploy.options.scale.utilization: ", "<= 100"}},
		{"min left out", "", scaleBlock("", "2", "concurrency", "10", "70"), []string{file + "deploy.options.scale.min: missing"}},
		{"max left out", "", scaleBlock("0", "", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: missing", "no bound"}},
		{"a key func does not know", "", scaleBlock("0", "2", "concurrency", "10", "70") + "      minScale: 1\n", []string{file + "deploy.options.scale.minScale: unknown field"}},
		{"a misspelt scale", "", "    scaling:\n      min: 1\n", []string{file + "deploy.options.scaling: unknown field"}},
		{"max as a string", "", scaleBlock("0", `"2"`, "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: cannot be string"}},
		{"max not whole", "", scaleBlock("0", "1.5", "concurrency", "10", "70"), []string{file + "deploy.options.scale.max: cannot be number 1.5"}},
		{"scale not a map", "", "    scale: 3\n", []string{file + "deploy.options.scale: cannot be number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblem(t, problemsOf(objs, withDeploy(t, "notify", tt.annotations, tt.block), "functions/notify/func.yaml"), tt.want)
		})
	}
	// The tree's own settings, and a block with only the bounds (Knative's
	// defaults for the rest), pass.
	if got := problemsOf(objs, withScale(t, "notify", scaleBlock("1", "1", "", "", "")), "func.yaml"); len(got) > 0 {
		t.Errorf("bounds alone: %v", got)
	}
}

// In the production render max is held to what can reach the function:
// one delivery in flight per partition of the topics it reads (ordered),
// one per PingSource, at target x utilization per replica.
func TestScaleMaxWithinDeliveriesInFlight(t *testing.T) {
	prod, _ := render(t, "knative/overlays/prod", nil)
	const file = "functions/notify/func.yaml: deploy.options.scale.max: "
	tests := []struct {
		name  string
		objs  []manifests.Object
		block string
		want  []string // nil: passes
	}{
		{"max past what 13 in flight at 7 each use", prod, scaleBlock("1", "3", "concurrency", "10", "70"),
			[]string{file + "3: at most 13 deliveries to notify are in flight", "orderflow.orders 12", "1 PingSource", "never asks for more than 2 replicas", "lower max to 2"}},
		{"max past the deliveries in flight", prod, scaleBlock("1", "40", "concurrency", "1", "100"),
			[]string{file + "40: at most 13 deliveries", "lower max to 13"}},
		{"unbounded", prod, scaleBlock("0", "0", "concurrency", "10", "70"), []string{file + "0 (unbounded)", "give max 2 or less"}},
		{"rps: bounded by the deliveries in flight", prod, scaleBlock("1", "14", "rps", "5", "70"), []string{file + "14: at most 13 deliveries"}},
		{"rps at the bound", prod, scaleBlock("1", "13", "rps", "5", "70"), nil},
		{"a smaller target uses more replicas", prod, scaleBlock("1", "7", "concurrency", "2", "100"), nil},
		{"more partitions make room", renderWith(t, "knative/overlays/prod", edit(t, "knative/overlays/prod/kustomization.yaml", "value: 12", "value: 24")),
			scaleBlock("1", "4", "concurrency", "10", "70"), nil},
		{"unordered delivery has no bound from partitions", renderWith(t, "knative/overlays/prod", edit(t, "knative/base/notify.yaml", "ordering: ordered", "ordering: unordered")),
			scaleBlock("1", "40", "concurrency", "10", "70"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(tt.objs, withScale(t, "notify", tt.block), "functions/notify/func.yaml")
			if tt.want == nil {
				if len(got) > 0 {
					t.Errorf("want none, got %v", got)
				}
				return
			}
			expectProblem(t, got, tt.want)
		})
	}
	// func.yaml is sized for production: dev's single partitions never use
	// more than one replica, and say nothing against a larger max.
	dev, _ := render(t, "knative/overlays/dev", nil)
	if got := problemsOf(dev, withScale(t, "notify", scaleBlock("1", "40", "concurrency", "10", "70")), "func.yaml"); len(got) > 0 {
		t.Errorf("dev: %v", got)
	}
}

func renderWith(t *testing.T, dir string, override map[string]string) []manifests.Object {
	t.Helper()
	objs, _ := render(t, dir, override)
	return objs
}

// A function that may be at zero needs a delivery that outwaits a cold
// start; one that may not, does not.
func TestScaleToZeroNeedsPatientDelivery(t *testing.T) {
	impatient := renderWith(t, "knative/base", edit(t, "knative/base/notify.yaml", "retry: 5", "retry: 1"))
	got := problemsOf(impatient, withScale(t, "notify", scaleBlock("0", "2", "concurrency", "10", "70")), `KafkaSource "notify"`)
	expectProblem(t, got, []string{`knative/base/notify.yaml: KafkaSource "notify": spec.delivery: notify has min scale 0`,
		"gives up after 20.4s (1 retries, exponential backoff from 200ms, timeout 10s per attempt)", "less than the 1m0s a cold start may take"})
	short := renderWith(t, "knative/base", edit(t, "knative/base/notify.yaml", "timeout: PT10S", "timeout: PT1S"))
	expectProblem(t, problemsOf(short, withScale(t, "notify", scaleBlock("0", "2", "concurrency", "10", "70")), `KafkaSource "notify"`),
		[]string{"spec.delivery: notify has min scale 0", "gives up after 18.4s"})
	if got := problemsOf(impatient, withScale(t, "notify", scaleBlock("1", "2", "concurrency", "10", "70")), `KafkaSource "notify"`); len(got) > 0 {
		t.Errorf("min 1 never waits for a cold start: %v", got)
	}
}

// In the production render, min 0 must be reachable: the ticks leave the
// function alone longer than Knative's stable window plus grace period.
func TestScaleToZeroNeedsQuietTicks(t *testing.T) {
	overlay := "knative/overlays/prod/kustomization.yaml"
	minutely := renderWith(t, "knative/overlays/prod", edit(t, overlay, `value: "*/5 * * * *"`, `value: "* * * * *"`))
	expectProblem(t, problemsOf(minutely, withScale(t, "notify", scaleBlock("0", "2", "concurrency", "10", "70")), "func.yaml"),
		[]string{"functions/notify/func.yaml: deploy.options.scale.min: 0, but in this render notify is never left without a tick for more than 1m0s",
			`notify-outbox-sweep "* * * * *"`, "only after 1m30s without a request", "never be at zero"})
	// A shorter stable window (deploy.annotations) lets minutely ticks
	// leave room for zero: 20s + 30s grace < 60s.
	shortWindow := withScale(t, "notify", scaleBlock("0", "2", "concurrency", "10", "70"))
	for i := range shortWindow {
		if shortWindow[i].Name == "notify" {
			shortWindow[i].Scale.Annotations = map[string]string{"autoscaling.knative.dev/window": "20s"}
		}
	}
	if got := problemsOf(minutely, shortWindow, "notify/func.yaml"); len(got) > 0 {
		t.Errorf("window 20s with minutely ticks: %v", got)
	}
	every2 := renderWith(t, "knative/overlays/prod", edit(t, overlay, `value: "*/5 * * * *"`, `value: "*/2 * * * *"`))
	if got := problemsOf(every2, withScale(t, "notify", scaleBlock("0", "2", "concurrency", "10", "70")), "notify/func.yaml"); len(got) > 0 {
		t.Errorf("ticks every 2 minutes leave it 2 minutes to reach zero: %v", got)
	}
	prod, _ := render(t, "knative/overlays/prod", nil)
	if got := problemsOf(prod, withScale(t, "order", scaleBlock("0", "6", "concurrency", "10", "70")), "order/func.yaml"); len(got) == 0 {
		t.Error("order at min 0 with its minutely outbox sweep: no problem")
	}
}

func TestPatience(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		d    manifests.Delivery
		want time.Duration
	}{
		{manifests.Delivery{Retry: 0, BackoffPolicy: manifests.BackoffExponential, BackoffDelay: 200 * ms, Timeout: 10 * time.Second}, 10 * time.Second},
		// base: 0.4+0.8+1.6+3.2+6.4 s of backoff, six attempts of 10 s.
		{manifests.Delivery{Retry: 5, BackoffPolicy: manifests.BackoffExponential, BackoffDelay: 200 * ms, Timeout: 10 * time.Second}, 72400 * ms},
		// prod: 1+2+...+128 s of backoff (8 retries from 0.5 s), nine attempts of 10 s.
		{manifests.Delivery{Retry: 8, BackoffPolicy: manifests.BackoffExponential, BackoffDelay: 500 * ms, Timeout: 10 * time.Second}, 345 * time.Second},
		{manifests.Delivery{Retry: 3, BackoffPolicy: manifests.BackoffLinear, BackoffDelay: time.Second, Timeout: 2 * time.Second}, 14 * time.Second},
		{manifests.Delivery{Retry: 1 << 20, BackoffPolicy: manifests.BackoffExponential, BackoffDelay: time.Second, Timeout: time.Second}, time.Duration(1<<63 - 1)},
	} {
		if got := Patience(tt.d); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestLongestGap(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 1, 5, 0, m, 0, 0, time.UTC) }
	for _, tt := range []struct {
		times []time.Time
		want  time.Duration
	}{
		{nil, 60 * time.Minute},
		{[]time.Time{at(30)}, 30 * time.Minute},
		{[]time.Time{at(50), at(10), at(20)}, 30 * time.Minute},
		{[]time.Time{at(1), at(2), at(59)}, 57 * time.Minute},
	} {
		if got := LongestGap(tt.times, at(0), at(60)); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.times, got, tt.want)
		}
	}
}

// The annotations are those func deploy writes (its %d and %f).
func TestAnnotationsAsFuncWritesThem(t *testing.T) {
	s := ReadScale([]byte("deploy:\n  options:\n" + scaleBlock("1", "6", "concurrency", "10", "70")))
	got := Annotations(s)
	want := map[string]string{"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "6",
		"autoscaling.knative.dev/metric": "concurrency", "autoscaling.knative.dev/target": "10.000000",
		"autoscaling.knative.dev/target-utilization-percentage": "70.000000"}
	if len(got) != len(want) {
		t.Errorf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
}

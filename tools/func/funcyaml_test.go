package tools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fn "knative.dev/func/pkg/functions"
)

// func itself (knative.dev/func v0.49.2, the version scripts/func-build.sh
// builds with) reads each function's deploy.options.scale as written and
// accepts it: the annotations func deploy writes come from these values.
// Each func.yaml is read from a copy: func writes .gitignore and .func
// into a function folder it opens.
func TestFuncReadsEachScale(t *testing.T) {
	files, err := filepath.Glob("../../functions/*/func.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no functions/*/func.yaml: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file))
		t.Run(name, func(t *testing.T) {
			f := load(t, mustRead(t, file))
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			s := f.Deploy.Options.Scale
			if s == nil || s.Min == nil || s.Max == nil || s.Metric == nil || s.Target == nil || s.Utilization == nil {
				t.Fatalf("func reads no full deploy.options.scale from %s: %+v", file, s)
			}
			t.Logf("min %d, max %d, metric %s, target %g, utilization %g", *s.Min, *s.Max, *s.Metric, *s.Target, *s.Utilization)
		})
	}
}

// What deploy/validate holds against func's reading: func refuses max 0
// below min although Knative reads 0 as unbounded, and it drops a key it
// does not know without a word (so deploy/validate refuses unknown keys).
func TestFuncScaleReading(t *testing.T) {
	head := "specVersion: 0.36.0\nname: probe\nruntime: go\ndeploy:\n  options:\n    scale:\n"
	f := load(t, []byte(head+"      min: 2\n      max: 0\n"))
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "scale.max") {
		t.Errorf("min 2, max 0: func says %v, want a refusal naming scale.max", err)
	}
	f = load(t, []byte(head+"      minScale: 3\n      max: 4\n"))
	if err := f.Validate(); err != nil || f.Deploy.Options.Scale.Min != nil {
		t.Errorf("minScale: func says %v and reads min %v, want it dropped silently", err, f.Deploy.Options.Scale.Min)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func load(t *testing.T, funcYAML []byte) fn.Function {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fn.FunctionFile), funcYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fn.NewFunction(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

package validate

import (
	"strings"
	"testing"
)

// Every function is cluster-local on a cluster: a func.yaml without the
// label, or with another value, fails naming the file and the label.
func TestFunctionsMustBeClusterLocal(t *testing.T) {
	fns, err := LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if f.Labels[VisibilityLabel] != ClusterLocal {
			t.Errorf("%s: %s = %q", f.File, VisibilityLabel, f.Labels[VisibilityLabel])
		}
	}
	objs := renderAt(t, root, "knative/overlays/prod")
	if probs := Check(objs, fns); len(probs) != 0 {
		t.Fatalf("the tree as it is: %v", probs)
	}
	for _, value := range []string{"", "external"} {
		changed := append([]Function(nil), fns...)
		changed[0].Labels = map[string]string{VisibilityLabel: value}
		if value == "" {
			changed[0].Labels = map[string]string{}
		}
		var found bool
		for _, p := range Check(objs, changed) {
			if p.Where == changed[0].File && p.Field == "deploy.labels" && strings.Contains(p.Msg, VisibilityLabel) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s with %s=%q passes", changed[0].File, VisibilityLabel, value)
		}
	}
}

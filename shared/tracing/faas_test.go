package tracing

import "testing"

// On Knative the revision is the function's version; elsewhere there is
// none to give. Each process is an instance of its own.
func TestFaaSResource(t *testing.T) {
	for _, tt := range []struct {
		revision string
		want     map[string]string
	}{
		{"order-00003", map[string]string{"faas.name": "order", "faas.instance": "pod-7/1", "faas.version": "order-00003"}},
		{"", map[string]string{"faas.name": "order", "faas.instance": "pod-7/1"}},
	} {
		got := map[string]string{}
		for _, kv := range faasResource("order", tt.revision, "pod-7", 1) {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		if len(got) != len(tt.want) {
			t.Errorf("K_REVISION %q: %v, want %v", tt.revision, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("K_REVISION %q: %s = %q, want %q", tt.revision, k, got[k], v)
			}
		}
	}
}

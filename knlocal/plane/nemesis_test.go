package plane

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"orderflow.dev/knlocal/manifests"
)

// The dead-letter refusal answers 503 on the dead-letter sinks' paths only,
// and only while it is on.
func TestDeadLetterRefusal(t *testing.T) {
	set := &manifests.Set{Sources: []manifests.KafkaSource{
		{Name: "a", Delivery: manifests.Delivery{DeadLetterSink: &manifests.Destination{Ref: &manifests.KReference{Kind: manifests.KindKafkaSink, Name: "dlq", Namespace: "ns"}}}},
		{Name: "b", Delivery: manifests.Delivery{DeadLetterSink: &manifests.Destination{Ref: &manifests.KReference{Kind: manifests.KindService, Name: "letters", Namespace: "ns"}}}},
		{Name: "c"},
	}}
	paths := deadLetterPaths(set)
	if len(paths) != 1 || !paths["/ns/dlq"] {
		t.Fatalf("dead-letter paths %v, want only /ns/dlq", paths)
	}
	r := &deadLetterRefusal{paths: paths, next: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })}
	status := func(path string) int {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, nil))
		return w.Code
	}
	if got := status("/ns/dlq"); got != http.StatusAccepted {
		t.Errorf("off: dead-letter sink answered %d, want 202", got)
	}
	r.on.Store(true)
	if got, other := status("/ns/dlq"), status("/ns/orders"); got != http.StatusServiceUnavailable || other != http.StatusAccepted {
		t.Errorf("on: dead-letter sink %d (want 503), another sink %d (want 202)", got, other)
	}
	r.on.Store(false)
	if got := status("/ns/dlq"); got != http.StatusAccepted {
		t.Errorf("off again: dead-letter sink answered %d, want 202", got)
	}
}

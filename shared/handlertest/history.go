package handlertest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// The committed logs of shared/events/testdata (see its README.md): the
// facts the tree before order.created.v2 published for six orders, and
// the same facts with each order.created as v2 (same ids, times and
// extensions). Tests replay them to prove a log holding both versions
// gives the same state as a log of v2 only.
const (
	V1Log = "v1-log.jsonl"
	V2Log = "v2-log.jsonl"
)

// ReadLog reads one of the committed logs: structured CloudEvents, one a
// line, in the order they were published.
func ReadLog(t testing.TB, name string) []event.Event {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("handlertest: cannot locate its own source to find the committed logs")
	}
	path := filepath.Join(filepath.Dir(self), "..", "events", "testdata", name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// MixLogs takes two logs of the same facts in the same order (V1Log and
// V2Log) and returns one whose every record comes from a when fromA says
// so for its order (the partition key), else from b.
func MixLogs(t testing.TB, a, b []event.Event, fromA func(orderID string) bool) []event.Event {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("mixing logs of %d and %d records", len(a), len(b))
	}
	out := make([]event.Event, len(a))
	for i := range a {
		if a[i].ID() != b[i].ID() {
			t.Fatalf("record %d: %s in one log, %s in the other", i+1, a[i].ID(), b[i].ID())
		}
		out[i] = b[i]
		if fromA(ce.String(a[i], ce.PartitionKey)) {
			out[i] = a[i]
		}
	}
	return out
}

// Replay delivers, in order, every record of log whose catalog entry names
// the function among its consumers, asserting each is accepted, and
// returns what the function published meanwhile.
func (h *Harness) Replay(t testing.TB, log []event.Event) []event.Event {
	t.Helper()
	name := h.F.App().Name()
	var out []event.Event
	for _, e := range log {
		if spec, ok := events.Lookup(e.Type()); !ok || !slices.Contains(spec.ConsumedBy, name) {
			continue
		}
		if r := h.Send(t, e); r.Status != http.StatusOK {
			t.Fatalf("%s: %s %s: %d %s", name, e.Type(), e.ID(), r.Status, r.Body)
		}
		out = append(out, h.Flush(t)...)
	}
	return out
}

// Published reduces events to what two runs can hold equal: each one's
// type and data (ids and times are new on every run).
func Published(out []event.Event) []string {
	facts := make([]string, len(out))
	for i, e := range out {
		facts[i] = e.Type() + " " + string(e.Data())
	}
	return facts
}

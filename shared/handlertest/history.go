package handlertest

import (
	"net/http"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/eventlog"
)

// The committed logs of shared/events/testdata (package eventlog).
const (
	V1Log = eventlog.V1
	V2Log = eventlog.V2
)

// ReadLog reads one of the committed logs.
func ReadLog(t testing.TB, name string) []event.Event {
	t.Helper()
	path, err := eventlog.Committed(name)
	if err == nil {
		var log []event.Event
		if log, err = eventlog.ReadFile(path); err == nil {
			return log
		}
	}
	t.Fatal(err)
	return nil
}

// MixLogs is eventlog.Mix, failing the test on logs that do not match.
func MixLogs(t testing.TB, a, b []event.Event, fromA func(orderID string) bool) []event.Event {
	t.Helper()
	out, err := eventlog.Mix(a, b, fromA)
	if err != nil {
		t.Fatal(err)
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
		if spec, ok := events.Lookup(e.Type()); !ok || !spec.ConsumedByFunction(name) {
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

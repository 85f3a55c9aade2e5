package events_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/eventlog"
)

// readCommitted reads a committed log. (Not handlertest.ReadLog: this
// module's own test would then pull the store's drivers into the checksums
// of every module that imports events.)
func readCommitted(t *testing.T, name string) []event.Event {
	t.Helper()
	path, err := eventlog.Committed(name)
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// The v1 log is what the tree before v2 published for six orders
// (testdata/README.md). Every record still decodes; each order.created.v1
// upcasts to a valid v2 value, the very one the v2 log holds for it, and
// every other record is the same in both logs.
func TestTheV1LogDecodesAndUpcasts(t *testing.T) {
	v1log, v2log := readCommitted(t, eventlog.V1), readCommitted(t, eventlog.V2)
	if len(v1log) != len(v2log) || len(v1log) < 20 {
		t.Fatalf("%d v1 records, %d v2", len(v1log), len(v2log))
	}
	outcomes := map[string]int{}
	created := 0
	for i, e := range v1log {
		spec, ok := events.Lookup(e.Type())
		if !ok || e.DataSchema() != spec.SchemaURI() || e.Validate() != nil {
			t.Fatalf("record %d: %s with dataschema %s", i+1, e.Type(), e.DataSchema())
		}
		if strings.HasSuffix(e.Type(), ".v2") {
			t.Fatalf("record %d: the v1 log holds a %s", i+1, e.Type())
		}
		got, err := events.Decode(e.Type(), e.Data())
		if err != nil {
			t.Fatalf("record %d (%s): %v", i+1, e.Type(), err)
		}
		twin := v2log[i]
		want, err := events.Decode(twin.Type(), twin.Data())
		if err != nil || twin.ID() != e.ID() || twin.Time() != e.Time() {
			t.Fatalf("v2 record %d (%s %s): %v", i+1, twin.Type(), twin.ID(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d: %s decodes to %+v, its v2 twin to %+v", i+1, e.Type(), got, want)
		}
		switch e.Type() {
		case events.OrderCreatedV1:
			created++
			if twin.Type() != events.OrderCreated || twin.DataSchema() != events.MustLookup(events.OrderCreated).SchemaURI() {
				t.Fatalf("record %d: twin is %s (%s)", i+1, twin.Type(), twin.DataSchema())
			}
			// The upcast value is one a v2 producer could have emitted.
			raw, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := events.Decode(events.OrderCreated, raw); err != nil {
				t.Fatalf("record %d upcasts to an invalid %s: %v", i+1, events.OrderCreated, err)
			}
		case events.OrderConfirmed:
			outcomes["confirmed"]++
		case events.OrderCancelled:
			outcomes["cancelled:"+got.(*events.OrderCancelledData).Reason]++
		default:
			if twin.Type() != e.Type() || string(twin.Data()) != string(e.Data()) {
				t.Fatalf("record %d: %s differs in the v2 log", i+1, e.Type())
			}
		}
	}
	want := map[string]int{"confirmed": 3, "cancelled:" + events.ReasonPaymentDeclined: 1, "cancelled:" + events.ReasonOutOfStock: 1, "cancelled:" + events.ReasonUnknownSKU: 1}
	if created != 6 || !reflect.DeepEqual(outcomes, want) {
		t.Fatalf("%d order.created.v1, outcomes %v; want 6 and %v", created, outcomes, want)
	}
}

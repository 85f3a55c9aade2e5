package function

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// The logs every test here replays: the committed v1 log (what the tree
// before order.created.v2 published for six orders), the same facts with
// order.created in v2, and mixes of the two. Each must give the same
// projections as the v2 log.
func versionedLogs(t *testing.T) (v2only []event.Event, logs map[string][]event.Event) {
	v1, v2 := handlertest.ReadLog(t, handlertest.V1Log), handlertest.ReadLog(t, handlertest.V2Log)
	reversed := slices.Clone(v1)
	slices.Reverse(reversed)
	return v2, map[string][]event.Event{
		"v2 only":                             v2,
		"v1 only":                             v1,
		"confirmed orders in v1, the rest v2": handlertest.MixLogs(t, v1, v2, func(id string) bool { return strings.HasPrefix(id, "v1-confirmed") }),
		"cancelled orders in v1, the rest v2": handlertest.MixLogs(t, v1, v2, func(id string) bool { return !strings.HasPrefix(id, "v1-confirmed") }),
		"v1, in reverse order":                reversed,
	}
}

// factOf is the Fact the function's edge hands the projection for e: the
// payload decoded and upcast, under the type its route was registered for
// (the current version), at the event's time.
func factOf(t *testing.T, e event.Event) Fact {
	t.Helper()
	data, err := events.Decode(e.Type(), e.Data())
	if err != nil {
		t.Fatalf("%s %s: %v", e.Type(), e.ID(), err)
	}
	return Fact{Type: events.Current(e.Type()), Time: eventTime(e), Data: reflect.ValueOf(data).Elem().Interface()}
}

func foldLog(t *testing.T, log []event.Event) map[string]Saga {
	sagas := map[string]Saga{}
	for _, e := range log {
		f := factOf(t, e)
		id := events.Key(f.Data)
		sagas[id] = Project(sagas[id], f)
	}
	return sagas
}

func TestALogOfBothVersionsProjectsLikeV2Only(t *testing.T) {
	v2, logs := versionedLogs(t)
	want := foldLog(t, v2)
	states := map[State]int{}
	for _, s := range want {
		states[s.State]++
		if s.CreatedAt.IsZero() || s.LastType == events.OrderCreatedV1 {
			t.Fatalf("v2 log projects %+v", s)
		}
	}
	if len(want) != 6 || states[StateConfirmed] != 3 || states[StateCancelled] != 3 {
		t.Fatalf("the v2 log projects %d sagas, %v", len(want), states)
	}
	for name, log := range logs {
		t.Run(name, func(t *testing.T) {
			if got := foldLog(t, log); !reflect.DeepEqual(got, want) {
				t.Fatalf("projections differ from the v2 log's\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// The same through the function's edge, store and view: each log into a
// fresh analytics function.
func TestALogOfBothVersionsGivesTheSameView(t *testing.T) {
	v2, logs := versionedLogs(t)
	viewOf := func(t *testing.T, log []event.Event) events.AnalyticsViewData {
		h := handlertest.Start(t, New(), nil)
		for _, e := range log {
			if r := h.Send(t, e); r.Status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", e.Type(), e.ID(), r.Status, r.Body)
			}
		}
		return view(t, h)
	}
	want := viewOf(t, v2)
	var revenue int64
	for _, e := range v2 {
		if e.Type() == events.OrderConfirmed {
			var d events.OrderConfirmedData
			if err := e.DataAs(&d); err != nil {
				t.Fatal(err)
			}
			revenue += d.TotalCents
		}
	}
	if want.OrdersByState["confirmed"] != 3 || want.OrdersByState["cancelled"] != 3 || want.RevenueCents != revenue || want.EventsSeen != len(v2) {
		t.Fatalf("the v2 log's view: %+v", want)
	}
	wantJSON, _ := json.Marshal(want)
	for name, log := range logs {
		t.Run(name, func(t *testing.T) {
			got := viewOf(t, log)
			for _, w := range got.Windows {
				if w.Counts[events.OrderCreatedV1] != 0 {
					t.Fatalf("window %s counts %s apart from %s", w.Start, events.OrderCreatedV1, events.OrderCreated)
				}
			}
			if gotJSON, _ := json.Marshal(got); string(gotJSON) != string(wantJSON) {
				t.Fatalf("view differs from the v2 log's\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

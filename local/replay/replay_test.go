package replay

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/shared/store/storetest"
)

func TestPlanReadsTheManifests(t *testing.T) {
	set, err := manifests.Load(filepath.Join("..", "..", "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fn     string
		topics []string
		groups map[string][]string
	}{
		// order's own facts first: its model holds them, its source does not read them.
		{"order", []string{"orderflow.orders", "orderflow.commands", "orderflow.inventory", "orderflow.payments"},
			map[string][]string{"orderflow-order": {"orderflow.commands", "orderflow.inventory", "orderflow.payments"}}},
		{"analytics", []string{"orderflow.orders", "orderflow.inventory", "orderflow.payments", "orderflow.notifications"},
			map[string][]string{"orderflow-analytics": {"orderflow.orders", "orderflow.inventory", "orderflow.payments", "orderflow.notifications"}}},
	}
	for _, tt := range tests {
		fn, err := Lookup(tt.fn)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := PlanFor(set, fn)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(plan.Topics, tt.topics) || !reflect.DeepEqual(plan.Groups, tt.groups) {
			t.Errorf("%s: topics %v groups %v, want %v %v", tt.fn, plan.Topics, plan.Groups, tt.topics, tt.groups)
		}
	}
	if _, err := Lookup("inventory"); err == nil || !strings.Contains(err.Error(), "analytics, order") {
		t.Errorf("Lookup(inventory): %v, want the list of functions replay rebuilds", err)
	}
	// A function no KafkaSource delivers to cannot be planned.
	if _, err := PlanFor(set, Function{Name: "nobody"}); err == nil || !strings.Contains(err.Error(), "no KafkaSource delivers to Service") {
		t.Errorf("PlanFor(nobody): %v", err)
	}
}

func TestCompare(t *testing.T) {
	live := map[string]map[string]string{
		"o-1": {"state": "confirmed", "revenue": "100"},
		"o-2": {"state": "cancelled"},
		"o-3": {"state": "pending"}, // in flight
		"o-4": {"state": "confirmed"},
	}
	rebuilt := map[string]map[string]string{
		"o-1": {"state": "confirmed", "revenue": "101"},
		"o-2": {"state": "cancelled", "reason": "timeout"},
		"o-3": {"state": "confirmed"},
		"o-5": {"state": "pending"},
	}
	got, compared := Compare(live, rebuilt, map[string]bool{"o-3": true})
	want := []Difference{
		{OrderID: "o-1", Field: "revenue", Live: "100", Rebuilt: "101"},
		{OrderID: "o-2", Field: "reason", Rebuilt: "timeout"},
		{OrderID: "o-4", Field: "state", Live: "confirmed"},
		{OrderID: "o-5", Field: "state", Rebuilt: "pending"},
	}
	if !reflect.DeepEqual(got, want) || compared != 4 {
		t.Fatalf("got %v (%d compared)\nwant %v (4)", got, compared, want)
	}
	if s := got[1].String(); s != "o-2 reason: live (absent), rebuilt timeout" {
		t.Errorf("String() = %q", s)
	}
	if same, n := Compare(live, live, nil); len(same) != 0 || n != 4 {
		t.Errorf("a model against itself: %v, %d", same, n)
	}
}

func TestProgressLines(t *testing.T) {
	p := newProgress("order", []string{"a", "b"}, Offsets{"a": {0, 5}, "b": {2}}, Offsets{"a": {3, 9}, "b": {2}})
	p.done("a", 0)
	p.done("a", 1)
	var out bytes.Buffer
	p.print(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "replay order: 2/7 records after") ||
		strings.TrimSpace(lines[1]) != "a 2/7 [0:1/3 1:1/4]" || strings.TrimSpace(lines[2]) != "b 0/0 [0:0/0]" {
		t.Fatalf("progress:\n%s", out.String())
	}
}

func TestReplayRefusesAStoreThatIsNotFresh(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, "not-fresh")
	fn, _ := Lookup("order")
	if err := ensureFresh(ctx, db, fn); err != nil {
		t.Fatalf("an empty store: %v", err)
	}
	if err := fn.NewApp().PrepareStore(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := ensureFresh(ctx, db, fn); err == nil || !strings.Contains(err.Error(), "already holds order's tables") {
		t.Fatalf("a store holding order's tables: %v", err)
	}
}

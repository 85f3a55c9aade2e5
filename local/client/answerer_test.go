package client

import (
	"context"
	"strings"
	"testing"

	"orderflow.dev/shared/events"
)

// Every query of the catalog has the one function that answers it, and
// nothing else is a query.
func TestAnswererIsTheCatalogs(t *testing.T) {
	queries := 0
	for _, s := range events.All() {
		name, err := Answerer(s.Type)
		if s.Kind != events.KindQuery {
			if err == nil || !strings.Contains(err.Error(), "not a query") {
				t.Errorf("%s (a %s): %q, %v; want an error saying it is not a query", s.Type, s.Kind, name, err)
			}
			continue
		}
		queries++
		if err != nil || name == "" || name != s.ConsumedBy[0] {
			t.Errorf("%s: %q, %v; want its one consumer %v", s.Type, name, err, s.ConsumedBy)
		}
	}
	if queries == 0 {
		t.Fatal("no query in the catalog")
	}
	if _, err := Answerer("dev.orderflow.nope.query.v1"); err == nil || !strings.Contains(err.Error(), "not in the event catalog") {
		t.Errorf("unknown type: %v", err)
	}
}

// A topology without the answering function says which one it lacks,
// before any request.
func TestQueryFunctionNamesTheMissingFunction(t *testing.T) {
	c, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := Answerer(events.OrderQuery)
	err = c.QueryFunction(context.Background(), map[string]string{"someone-else": "http://127.0.0.1:1"}, events.OrderQuery, events.OrderQueryData{OrderID: "o-1"}, &events.OrderViewData{})
	if err == nil || !strings.Contains(err.Error(), "answered by the "+name+" function, which this topology does not run") {
		t.Fatalf("%v", err)
	}
}

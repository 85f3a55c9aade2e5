package handler

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// lookup sends each event either down the reaction path or to a direct
// answer; the direct answers are tried here without a store.
func TestLookup(t *testing.T) {
	a := New("probe")
	On(a, events.PlaceOrder, func(context.Context, *store.Tx, In[events.PlaceOrderData]) ([]saga.Emit, error) { return nil, nil })
	OnTick(a, events.TaskStalledSagas, func(context.Context, *store.Tx) ([]saga.Emit, error) { return nil, nil })
	OnQuery(a, events.OrderQuery, events.OrderView, func(context.Context, *store.DB, In[events.OrderQueryData]) (any, error) {
		return events.OrderViewData{OrderID: "o-1"}, nil
	})
	a.Ignore(events.OrderCreated)

	ev := func(typ string, data any) event.Event {
		e := event.New()
		e.SetID("1")
		e.SetSource("/test")
		e.SetType(typ)
		if data != nil {
			if err := e.SetData(event.ApplicationJSON, data); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	tests := []struct {
		name  string
		e     event.Event
		react bool   // down the reaction path; else answered directly
		reply string // the type of the direct answer's reply, if any
		field string // and the field its refusal names
		code  int    // and its status (200 if none)
	}{
		{"saga event", ev(events.PlaceOrder, nil), true, "", "", 0},
		{"tick naming a task", ev(events.Tick, events.TickData{Task: events.TaskStalledSagas}), true, "", "", 0},
		{"tick sweeping the outbox", ev(events.Tick, events.TickData{Task: events.TaskOutboxSweep}), false, "", "", http.StatusOK},
		{"tick naming a task the function lacks", ev(events.Tick, events.TickData{Task: "compact"}), false, events.Error, "task", http.StatusBadRequest},
		{"tick with no task", ev(events.Tick, map[string]string{}), false, events.Error, "task", http.StatusBadRequest},
		{"query", ev(events.OrderQuery, events.OrderQueryData{OrderID: "o-1"}), false, events.OrderView, "", http.StatusOK},
		{"query breaking its schema", ev(events.OrderQuery, map[string]int{"orderId": 1}), false, events.Error, "orderId", http.StatusBadRequest},
		{"ignored type", ev(events.OrderCreated, nil), false, "", "", http.StatusOK},
		{"known type it does not handle", ev(events.PaymentFailed, nil), false, events.Error, "type", http.StatusBadRequest},
		{"unknown type", ev("com.example.other.v1", nil), false, events.Error, "type", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			react, answer := a.lookup(tt.e)
			if (react != nil) != tt.react || (answer != nil) == tt.react {
				t.Fatalf("lookup: reaction %t, direct answer %t; want reaction %t", react != nil, answer != nil, tt.react)
			}
			if answer == nil {
				return
			}
			reply, result := answer(context.Background(), tt.e)
			code := http.StatusOK
			var res *cehttp.Result
			if errors.As(result, &res) {
				code = res.StatusCode
			}
			if code != tt.code {
				t.Fatalf("answered %d (%v), want %d", code, result, tt.code)
			}
			switch {
			case tt.reply == "" && reply != nil:
				t.Fatalf("replied %s, want no reply", reply.Type())
			case tt.reply != "" && (reply == nil || reply.Type() != tt.reply):
				t.Fatalf("replied %v, want a %s", reply, tt.reply)
			case tt.reply == events.Error:
				var body events.ErrorData
				if err := reply.DataAs(&body); err != nil || body.Field != tt.field || body.Status != tt.code || body.Function != "probe" {
					t.Fatalf("error body %s, want field %q and status %d", reply.Data(), tt.field, tt.code)
				}
			}
		})
	}
}

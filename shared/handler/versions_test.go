package handler_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// createdConsumer reacts to order.created as inventory or payment do, and
// remembers what its reaction saw.
type createdConsumer struct {
	handler.Lifecycle
	mu   sync.Mutex
	seen []handler.In[events.OrderCreatedData]
	emit []saga.Emit // what the next reaction emits
}

func newCreatedConsumer() *createdConsumer {
	app := handler.New("consumer", handler.Publishes())
	c := &createdConsumer{Lifecycle: app.Lifecycle()}
	handler.On(app, events.OrderCreated, func(_ context.Context, _ *store.Tx, in handler.In[events.OrderCreatedData]) ([]saga.Emit, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.seen = append(c.seen, in)
		return c.emit, nil
	})
	return c
}

var createdV1 = events.OrderCreatedV1Data{OrderID: "o-1", CustomerID: "c", Email: "c@x.org", Currency: "EUR", PaymentToken: "t",
	Lines: []events.PricedLine{{SKU: "sku-a", Quantity: 2, UnitPriceCents: 500}}, TotalCents: 1000}

var createdV2 = events.OrderCreatedData{OrderID: "o-2", CustomerID: "c", Email: "c@x.org", Currency: "EUR", PaymentToken: "t",
	Lines: []events.PricedLine{{SKU: "sku-a", Quantity: 2, UnitPriceCents: 500}}, SubtotalCents: 1000, TaxCents: 190, TotalCents: 1190, ShippingCountry: "DE"}

// One reaction takes both versions; it sees the v2 shape either way, and
// each version is held to its own schema and its own dataschema URI.
func TestBothVersionsReachTheOneReaction(t *testing.T) {
	c := newCreatedConsumer()
	h := handlertest.Start(t, c, nil)
	uri := func(typ string) string { return events.MustLookup(typ).SchemaURI() }
	tests := []struct {
		name, typ string
		data      any
		schema    string
		status    int
		field     string // the refusal names it
		want      events.OrderCreatedData
	}{
		{"v2", events.OrderCreated, createdV2, uri(events.OrderCreated), 200, "", createdV2},
		{"v1, upcast", events.OrderCreatedV1, createdV1, uri(events.OrderCreatedV1), 200, "", events.OrderCreatedData{OrderID: "o-1",
			CustomerID: "c", Email: "c@x.org", Currency: "EUR", PaymentToken: "t", Lines: createdV1.Lines,
			SubtotalCents: 1000, TotalCents: 1000, ShippingCountry: events.UnknownCountry}},
		{"v1 without dataschema", events.OrderCreatedV1, createdV1, "", 200, "", events.OrderCreatedData{OrderID: "o-1",
			CustomerID: "c", Email: "c@x.org", Currency: "EUR", PaymentToken: "t", Lines: createdV1.Lines,
			SubtotalCents: 1000, TotalCents: 1000, ShippingCountry: events.UnknownCountry}},
		{"v1 claiming the v2 schema", events.OrderCreatedV1, createdV1, uri(events.OrderCreated), 400, "dataschema", events.OrderCreatedData{}},
		{"v2 claiming the v1 schema", events.OrderCreated, createdV2, uri(events.OrderCreatedV1), 400, "dataschema", events.OrderCreatedData{}},
		{"v1 data labelled v2", events.OrderCreated, createdV1, uri(events.OrderCreated), 400, "subtotalCents", events.OrderCreatedData{}},
		{"v1 broken by v1's own schema", events.OrderCreatedV1, events.OrderCreatedV1Data{OrderID: "o-3"}, "", 400, "currency", events.OrderCreatedData{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.mu.Lock()
			c.seen = nil
			c.mu.Unlock()
			e := handlertest.Event(t, tt.typ, tt.data, nil)
			e.SetDataSchema(tt.schema)
			r := h.Send(t, e)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if tt.status != 200 {
				if r.Error().Field != tt.field || len(c.seen) != 0 {
					t.Fatalf("refusal names %q, want %q; reaction ran %d time(s)", r.Error().Field, tt.field, len(c.seen))
				}
				return
			}
			if len(c.seen) != 1 {
				t.Fatalf("reaction ran %d time(s)", len(c.seen))
			}
			in := c.seen[0]
			if in.Event.Type() != tt.typ {
				t.Errorf("the reaction's event is a %s, want the %s that arrived", in.Event.Type(), tt.typ)
			}
			if got := in.Data; got.OrderID != tt.want.OrderID || got.SubtotalCents != tt.want.SubtotalCents || got.TaxCents != tt.want.TaxCents ||
				got.TotalCents != tt.want.TotalCents || got.ShippingCountry != tt.want.ShippingCountry || len(got.Lines) != len(tt.want.Lines) {
				t.Errorf("reaction saw %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Ignoring a type ignores its older versions; reacting to one routes them.
func TestOlderVersionsFollowTheCurrentOne(t *testing.T) {
	c := newCreatedConsumer()
	if !c.App().HasRoute(events.OrderCreatedV1) || c.App().Refuses(events.OrderCreatedV1) {
		t.Fatal("order.created.v1 is not routed with order.created")
	}
	ig := handler.New("ignorer")
	ig.Ignore(events.OrderCreated)
	if !ig.Ignores(events.OrderCreatedV1) {
		t.Fatal("ignoring order.created does not ignore its v1")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "superseded") {
			t.Fatalf("routing a superseded version: %v, want a panic naming it", r)
		}
	}()
	handler.On(handler.New("old"), events.OrderCreatedV1, func(context.Context, *store.Tx, handler.In[events.OrderCreatedV1Data]) ([]saga.Emit, error) {
		return nil, nil
	})
}

// Producers emit the current version only: a reaction that emits an
// older one fails its transaction (500, retried) rather than publishing it.
func TestEmittingASupersededVersionFails(t *testing.T) {
	c := newCreatedConsumer()
	h := handlertest.Start(t, c, nil)
	c.mu.Lock()
	c.emit = []saga.Emit{{Type: events.OrderCreatedV1, Data: createdV1}}
	c.mu.Unlock()
	r := h.Send(t, handlertest.Event(t, events.OrderCreated, createdV2, nil))
	if r.Status != 500 || !strings.Contains(string(r.Body), "superseded") {
		t.Fatalf("status %d %s, want 500 naming the superseded version", r.Status, r.Body)
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("published %d event(s)", len(out))
	}
}

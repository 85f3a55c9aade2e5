package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// Replay applies a record as a delivery would, and refuses to decide.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	a := New("probe", WithMigrations(`CREATE TABLE probe_seen (id TEXT NOT NULL)`),
		WithProjections(store.Projection{Name: "seen", Version: 3, Tables: []string{"probe_seen"}}))
	On(a, events.InventoryReserved, func(ctx context.Context, tx *store.Tx, in In[events.InventoryReservedData]) ([]saga.Emit, error) {
		_, err := tx.Exec(ctx, `INSERT INTO probe_seen (id) VALUES (?)`, in.Data.OrderID)
		return nil, err
	})
	On(a, events.PaymentCompleted, func(context.Context, *store.Tx, In[events.PaymentCompletedData]) ([]saga.Emit, error) {
		return []saga.Emit{{Type: events.OrderConfirmed, Data: events.OrderConfirmedData{OrderID: "o-1"}}}, nil
	})
	OnQuery(a, events.OrderQuery, events.OrderView, func(context.Context, *store.DB, In[events.OrderQueryData]) (any, error) { return nil, nil })
	a.Ignore(events.OrderCreated)

	db := storetest.Open(t, "probe")
	if err := a.PrepareStore(ctx, db); err != nil {
		t.Fatal(err)
	}
	if v, known, err := db.ProjectionVersion(ctx, "probe", "seen"); err != nil || !known || v != 3 {
		t.Fatalf("a fresh store records the code's projection version: %d %v %v", v, known, err)
	}
	ev := func(id, typ string, data any) event.Event {
		e := event.New()
		e.SetID(id)
		e.SetSource("/test")
		e.SetType(typ)
		if err := e.SetData(event.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		return e
	}
	reserved := events.InventoryReservedData{OrderID: "o-1", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}
	tests := []struct {
		name string
		e    event.Event
		want ReplayOutcome
	}{
		{"a fact it reacts to", ev("1", events.InventoryReserved, reserved), ReplayApplied},
		{"the same record again", ev("1", events.InventoryReserved, reserved), ReplayDuplicate},
		{"the same fact under a new id: the reaction's own business", ev("2", events.InventoryReserved, reserved), ReplayApplied},
		{"a payload breaking its schema", ev("3", events.InventoryReserved, map[string]int{"orderId": 1}), ReplayRefused},
		{"an ignored type", ev("4", events.OrderCreated, map[string]string{}), ReplayIgnored},
		{"a query", ev("5", events.OrderQuery, events.OrderQueryData{OrderID: "o-1"}), ReplayIgnored},
		{"a tick", ev("6", events.Tick, events.TickData{Task: events.TaskOutboxSweep}), ReplayIgnored},
		{"a type it does not handle", ev("7", events.PaymentFailed, map[string]string{}), ReplayRefused},
		{"an unknown type", ev("8", "com.example.other.v1", map[string]string{}), ReplayRefused},
	}
	for _, tt := range tests {
		var got ReplayOutcome
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			got, err = a.Replay(ctx, tx, tt.e)
			return err
		})
		if err != nil || got != tt.want {
			t.Errorf("%s: %q %v, want %q", tt.name, got, err, tt.want)
		}
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM probe_seen`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the reaction ran %d times (%v), want 2", n, err)
	}
	// A reaction that emits would decide anew: replay refuses it, and its
	// transaction leaves nothing behind.
	err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := a.Replay(ctx, tx, ev("9", events.PaymentCompleted, events.PaymentCompletedData{OrderID: "o-1", PaymentID: "p", AmountCents: 1, Currency: "EUR"}))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "must not decide") {
		t.Fatalf("an emitting reaction replayed: %v", err)
	}
}

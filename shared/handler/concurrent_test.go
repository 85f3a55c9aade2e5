package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// newClaimer is a probe whose reaction claims the order id under a unique
// key, so that of two place-order commands for one order (two event ids)
// delivered at once, the second loses a unique-key race.
func newClaimer() *probe {
	app := handler.New("claimer", handler.Publishes(),
		handler.WithMigrations(`CREATE TABLE claims (order_id TEXT PRIMARY KEY)`))
	p := &probe{Lifecycle: app.Lifecycle()}
	handler.On(app, events.PlaceOrder, func(ctx context.Context, tx *store.Tx, in handler.In[events.PlaceOrderData]) ([]saga.Emit, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO claims (order_id) VALUES (?)`, in.Data.OrderID); err != nil {
			return nil, err
		}
		return []saga.Emit{{Type: events.OrderCreated, Data: events.OrderCreatedData{OrderID: in.Data.OrderID}}}, nil
	})
	app.Ignore(events.OrderCreated)
	return p
}

// Deliveries handled at once (on SQLite, in shared transactions) keep their
// own outcomes: of each order's two commands one is handled and one lost
// the race (409, retried), and only the handled ones left their processed
// id and their event.
func TestConcurrentDeliveriesKeepTheirOwnOutcomes(t *testing.T) {
	h := handlertest.Start(t, newClaimer(), nil)
	const orders = 24
	statuses := make([][2]int, orders)
	var all sync.WaitGroup
	for o := range orders {
		for attempt := range 2 {
			e := handlertest.Event(t, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", o)), nil)
			all.Add(1)
			go func() {
				defer all.Done()
				status, err := h.SendWithTimeout(e, 30*time.Second)
				if err != nil {
					t.Error(err)
				}
				statuses[o][attempt] = status
			}()
		}
	}
	all.Wait()
	for o, s := range statuses {
		if !(s == [2]int{http.StatusOK, http.StatusConflict} || s == [2]int{http.StatusConflict, http.StatusOK}) {
			t.Errorf("o-%d: answered %v, want one 200 and one 409", o, s)
		}
	}
	created := map[string]int{}
	for _, e := range h.Flush(t) {
		var d events.OrderCreatedData
		if err := e.DataAs(&d); err != nil {
			t.Fatal(err)
		}
		created[d.OrderID]++
	}
	for o := range orders {
		if n := created[fmt.Sprintf("o-%d", o)]; n != 1 {
			t.Errorf("o-%d: %d order.created event(s), want 1", o, n)
		}
	}
	var processed int
	if err := h.F.App().DB().QueryRow(context.Background(), `SELECT COUNT(*) FROM processed_events WHERE consumer = 'claimer'`).Scan(&processed); err != nil || processed != orders {
		t.Errorf("%d processed ids (%v), want %d", processed, err, orders)
	}
}

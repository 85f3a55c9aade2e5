package handler_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// A step's parts run in one order, each on what the one before gave, and
// the first error stops the rest, returned as it is.
func TestStepRunsItsPartsInOrder(t *testing.T) {
	errLoad, errDecide, errAct, errSave := errors.New("load"), errors.New("decide"), errors.New("act"), errors.New("save")
	tests := []struct {
		name      string
		failAt    error
		noAct     bool
		wantCalls string
		wantEmits []saga.Emit
	}{
		{"every part", nil, false, "load(k) decide(1) act(k,1,2) save(k,1,3)", []saga.Emit{{Type: "3"}}},
		{"no side effect", nil, true, "load(k) decide(1) save(k,1,2)", []saga.Emit{{Type: "2"}}},
		{"load fails: nothing else runs", errLoad, false, "load(k)", nil},
		{"decide refuses: no side effect, nothing saved", errDecide, false, "load(k) decide(1)", nil},
		{"side effect fails: nothing saved", errAct, false, "load(k) decide(1) act(k,1,2)", nil},
		{"save fails: nothing emitted", errSave, false, "load(k) decide(1) act(k,1,2) save(k,1,3)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			failIf := func(err error) error {
				if tt.failAt == err {
					return err
				}
				return nil
			}
			step := handler.Step[string, int, int]{
				Load: func(_ context.Context, _ *store.Tx, key string) (int, error) {
					calls = append(calls, "load("+key+")")
					return 1, failIf(errLoad)
				},
				Act: func(_ context.Context, key string, s, d int) (int, error) {
					calls = append(calls, "act("+key+","+strconv.Itoa(s)+","+strconv.Itoa(d)+")")
					return d + 1, failIf(errAct)
				},
				Save: func(_ context.Context, _ *store.Tx, key string, prev, d int) error {
					calls = append(calls, "save("+key+","+strconv.Itoa(prev)+","+strconv.Itoa(d)+")")
					return failIf(errSave)
				},
				Emits: func(d int) []saga.Emit { return []saga.Emit{{Type: strconv.Itoa(d)}} },
			}
			if tt.noAct {
				step.Act = nil
			}
			emits, err := step.Run(context.Background(), nil, "k", func(s int) (int, error) {
				calls = append(calls, "decide("+strconv.Itoa(s)+")")
				return s + 1, failIf(errDecide)
			})
			if err != tt.failAt { // the very error, not a wrapping of it
				t.Fatalf("error %v, want %v", err, tt.failAt)
			}
			if got := strings.Join(calls, " "); got != tt.wantCalls {
				t.Fatalf("calls %q, want %q", got, tt.wantCalls)
			}
			if !reflect.DeepEqual(emits, tt.wantEmits) {
				t.Fatalf("emits %v, want %v", emits, tt.wantEmits)
			}
		})
	}
}

// counter is a function whose one step counts place-order commands per
// order in a table of its own, with a side effect that counts its calls.
type counter struct {
	handler.Lifecycle
	acted atomic.Int64
}

func newCounter() *counter {
	app := handler.New("counter", handler.Publishes(), handler.WithMigrations(
		`CREATE TABLE counts (order_id TEXT PRIMARY KEY, n BIGINT NOT NULL)`))
	c := &counter{Lifecycle: app.Lifecycle()}
	step := handler.Step[string, int64, int64]{
		Load: func(ctx context.Context, tx *store.Tx, id string) (int64, error) {
			if err := tx.Lock(ctx, "counter/"+id); err != nil {
				return 0, err
			}
			var n int64
			err := tx.QueryRow(ctx, `SELECT n FROM counts WHERE order_id = ?`, id).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, nil
			}
			return n, err
		},
		Act: func(_ context.Context, _ string, _, d int64) (int64, error) {
			c.acted.Add(1)
			return d, nil
		},
		Save: func(ctx context.Context, tx *store.Tx, id string, _, n int64) error {
			_, err := tx.Exec(ctx, `INSERT INTO counts (order_id, n) VALUES (?, ?)
				ON CONFLICT (order_id) DO UPDATE SET n = excluded.n`, id, n)
			return err
		},
		Emits: func(int64) []saga.Emit { return nil },
	}
	handler.On(app, events.PlaceOrder, func(ctx context.Context, tx *store.Tx, in handler.In[events.PlaceOrderData]) ([]saga.Emit, error) {
		return step.Run(ctx, tx, in.Data.OrderID, func(n int64) (int64, error) { return n + 1, nil })
	})
	return c
}

// A redelivery never reaches the side effect: on PostgreSQL its processed
// id travels with Load's first read, which fails, and Run hands that error
// to the edge as it is, which answers a duplicate. The function is
// restarted in between, so that its cache of recent ids does not answer
// first.
func TestStepActsOnceOnARedelivery(t *testing.T) {
	first := newCounter()
	h := handlertest.Start(t, first, nil)
	e := handlertest.Event(t, events.PlaceOrder, placeData("o-1"), nil)
	if r := h.Send(t, e); r.Status != http.StatusOK {
		t.Fatalf("first delivery: %d %s", r.Status, r.Body)
	}
	if err := first.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	again := newCounter()
	h2 := handlertest.Start(t, again, map[string]string{"ORDERFLOW_DATABASE_URL": h.DBURL})
	if r := h2.Send(t, e); r.Status != http.StatusOK {
		t.Fatalf("redelivery: %d %s", r.Status, r.Body)
	}
	if n := again.acted.Load(); n != 0 {
		t.Fatalf("the redelivery made the side effect %d time(s)", n)
	}
	// A new event about the same order is a new delivery: it acts.
	if r := h2.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-1"), nil)); r.Status != http.StatusOK {
		t.Fatalf("new event: %d %s", r.Status, r.Body)
	}
	if n := again.acted.Load(); n != 1 {
		t.Fatalf("a new event made the side effect %d time(s), want 1", n)
	}
}

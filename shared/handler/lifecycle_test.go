package handler_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	fn "knative.dev/func-go/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
)

// ownStart is a function with a Start of its own, as inventory and payment
// have, beside the Lifecycle's other methods.
type ownStart struct {
	handler.Lifecycle
	started bool
}

func (f *ownStart) Start(ctx context.Context, cfg map[string]string) error {
	f.started = true
	return f.Lifecycle.Start(ctx, cfg)
}

// func-go finds a function's optional methods by interface assertion on
// the instance New returned; those a Function gets from the Lifecycle it
// embeds must be found there too.
func TestFuncGoFindsTheLifecycle(t *testing.T) {
	for name, f := range map[string]any{
		"embedded":      newProbe(),
		"own Start":     &ownStart{Lifecycle: handler.New("own").Lifecycle()},
		"by value, too": struct{ handler.Lifecycle }{handler.New("value").Lifecycle()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := f.(fn.Handler); !ok {
				t.Error("not a Handler")
			}
			if _, ok := f.(fn.Starter); !ok {
				t.Error("not a Starter")
			}
			if _, ok := f.(fn.Stopper); !ok {
				t.Error("not a Stopper")
			}
			if _, ok := f.(fn.ReadinessReporter); !ok {
				t.Error("not a ReadinessReporter")
			}
			if _, ok := f.(fn.LivenessReporter); !ok {
				t.Error("not a LivenessReporter")
			}
		})
	}
}

// Served by func-go, the promoted methods answer: not ready until started,
// then ready; deliveries reach the edge.
func TestLifecycleServedByFuncGo(t *testing.T) {
	f := &ownStart{Lifecycle: handler.New("own").Lifecycle()}
	srv := httptest.NewServer(fn.New(f).Handler)
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/health/readiness"); code != http.StatusServiceUnavailable {
		t.Fatalf("readiness before Start: %d, want 503", code)
	}
	if code := get("/health/liveness"); code != http.StatusOK {
		t.Fatalf("liveness: %d", code)
	}
	h := handlertest.Start(t, f, nil)
	if !f.started {
		t.Fatal("the function's own Start did not run")
	}
	if code := get("/health/readiness"); code != http.StatusOK {
		t.Fatalf("readiness after Start: %d, want 200", code)
	}
	// The function handles nothing, so a saga event is refused by the edge.
	if r := h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData("o-1"), nil)); r.Status != http.StatusBadRequest || r.Error().Function != "own" {
		t.Fatalf("delivery: %d %s", r.Status, r.Body)
	}
}

package plane

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"orderflow.dev/local/client"
	"orderflow.dev/shared/events"
)

// Webhook is the plane's stand-in for a customer-notification provider: the
// notify function's webhook channel POSTs here, a real HTTP call.
type Webhook struct {
	mu       sync.Mutex
	received int
	keys     map[string]int // Idempotency-Key -> deliveries
	recent   []json.RawMessage
	failWith int // non-zero: answer this status instead (tests, demos of failure)
}

func newWebhook() *Webhook { return &Webhook{keys: map[string]int{}} }

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST a notification", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		http.Error(rw, "body must be a JSON notification", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	if w.failWith != 0 {
		status := w.failWith
		w.mu.Unlock()
		http.Error(rw, "webhook told to fail", status)
		return
	}
	w.received++
	w.keys[r.Header.Get("Idempotency-Key")]++
	w.recent = append(w.recent, body)
	if len(w.recent) > 50 {
		w.recent = w.recent[len(w.recent)-50:]
	}
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// FailWith makes the webhook answer status to every notification (0: accept
// again), to show what a customer-notification outage does.
func (w *Webhook) FailWith(status int) {
	w.mu.Lock()
	w.failWith = status
	w.mu.Unlock()
}

// WebhookStats counts what the webhook received.
type WebhookStats struct {
	Received int               `json:"received"`
	Distinct int               `json:"distinct"`
	Recent   []json.RawMessage `json:"recent"`
}

// Stats returns the counts.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WebhookStats{Received: w.received, Distinct: len(w.keys), Recent: append([]json.RawMessage(nil), w.recent...)}
}

// apiHandler serves what a person wants to look at with curl: func-go only
// routes CloudEvents POSTs to a function, so these GETs ask the functions
// with query events and return the JSON of the reply.
func (p *Plane) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/webhook", p.Webhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/endpoints", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Endpoints()) })
	mux.HandleFunc("GET /api/notifications", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Webhook.Stats()) })
	mux.HandleFunc("GET /api/sources", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.SourceStats()) })
	mux.HandleFunc("GET /api/deadletters/unsent", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Unsent()) })
	mux.HandleFunc("GET /api/analytics", p.query("analytics", events.AnalyticsQuery, func(*http.Request) any { return events.AnalyticsQueryData{} }, func() any { return &events.AnalyticsViewData{} }))
	mux.HandleFunc("GET /api/stock", p.query("inventory", events.InventoryQuery, func(*http.Request) any { return events.InventoryQueryData{} }, func() any { return &events.InventoryViewData{} }))
	mux.HandleFunc("GET /api/orders/{id}", p.query("order", events.OrderQuery, func(r *http.Request) any { return events.OrderQueryData{OrderID: r.PathValue("id")} }, func() any { return &events.OrderViewData{} }))
	return mux
}

func (p *Plane) query(fn, typ string, q func(*http.Request) any, newOut func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := newOut()
		c, err := client.New(10 * time.Second)
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			err = c.Query(ctx, p.FunctionURL(fn), typ, q(r), out)
		}
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

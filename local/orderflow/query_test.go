package orderflow

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"orderflow.dev/shared/events"
)

// A bad order id in /api/orders/{id} is the caller's 400, naming the
// field, before any function is asked (it was a 502 of the function's
// refusal, and for a NUL of the header the id could not be sent in).
func TestOrdersAPIRefusesABadIDItself(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", query[events.OrderViewData](nil, events.OrderQuery, func(r *http.Request) any { return events.OrderQueryData{OrderID: r.PathValue("id")} }))
	for _, id := range []string{"..%2F..%2Fetc", "a%00b", strings.Repeat("a", 200), "-leading-dash", "%20"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/orders/"+id, nil))
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || body["field"] != "orderId" || body["error"] == "" {
			t.Errorf("/api/orders/%s: %d %s, want 400 naming orderId", id, rec.Code, rec.Body)
		}
	}
}

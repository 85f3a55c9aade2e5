package orderflow_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"orderflow.dev/local/orderflow"
	"orderflow.dev/shared/events"
)

// Every dataschema URI of the catalog can be read from the plane's API.
func TestSchemasAreServed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /schemas/{file}", orderflow.ServeSchema) // as Wire mounts it on the plane's API
	for _, typ := range []string{events.PlaceOrder, events.OrderCancelled, events.SagaStalled} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/schemas/"+typ+".json", nil))
		var schema struct {
			ID string `json:"$id"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &schema) != nil {
			t.Fatalf("%s: %d %s", typ, rec.Code, rec.Body)
		}
		if spec, _ := events.Lookup(typ); schema.ID != spec.SchemaURI() {
			t.Errorf("%s: $id %q, want the dataschema %q", typ, schema.ID, spec.SchemaURI())
		}
	}
	for _, bad := range []string{"/schemas/dev.orderflow.order.place.v9.json", "/schemas/dev.orderflow.order.place.v1", "/schemas/..%2f..%2fetc%2fpasswd"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bad, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", bad, rec.Code)
		}
	}
}

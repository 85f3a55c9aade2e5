package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"orderflow.dev/shared/saga"
)

// Each failure is answered with the status that makes Knative's dispatcher
// do the right thing: retry (409, 5xx) or dead-letter (other 4xx).
func TestRefusalOf(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		field  string
		msg    string // prefix
	}{
		{"invalid content: no retry", saga.Invalid("lines[0].sku", "bad %s", "sku"), http.StatusBadRequest, "lines[0].sku", "bad sku"},
		{"business rule: no retry", saga.Unprocessable("orderId", "taken"), http.StatusUnprocessableEntity, "orderId", "taken"},
		{"not yet: retry", saga.Retry("later"), http.StatusServiceUnavailable, "", "later"},
		{"lost a race: retry", saga.Conflict("again"), http.StatusConflict, "", "again"},
		{"a wrapped refusal keeps its kind", fmt.Errorf("saving: %w", saga.Conflict("again")), http.StatusConflict, "", "again"},
		{"a kind the edge does not know: retry", &saga.Refusal{Kind: "later-maybe", Msg: "?"}, http.StatusInternalServerError, "", "?"},
		{"the edge's own answer as it is", &httpRefusal{status: http.StatusRequestEntityTooLarge, Refusal: &saga.Refusal{Field: "data", Msg: "big"}}, http.StatusRequestEntityTooLarge, "data", "big"},
		{"unique key taken: retry", errors.New("UNIQUE constraint failed: claims.order_id"), http.StatusConflict, "", "concurrent update; retry: UNIQUE"},
		{"timed out: retry", fmt.Errorf("query: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "", "timed out: "},
		{"cancelled: retry", context.Canceled, http.StatusServiceUnavailable, "", "timed out: "},
		{"unexpected failure: retry", errors.New("disk on fire"), http.StatusInternalServerError, "", "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := refusalOf(tt.err)
			if r.status != tt.status || r.Field != tt.field || !strings.HasPrefix(r.Msg, tt.msg) {
				t.Fatalf("refusalOf(%v) = %+v, want status %d, field %q, message starting %q", tt.err, r, tt.status, tt.field, tt.msg)
			}
		})
	}
	if r := refusalOf(errors.New(strings.Repeat("x", 2000))); len(r.Msg) > 510 {
		t.Fatalf("a long error is answered whole (%d bytes)", len(r.Msg))
	}
}

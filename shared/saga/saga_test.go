package saga_test

import (
	"errors"
	"fmt"
	"testing"

	"orderflow.dev/shared/saga"
)

func TestRefusals(t *testing.T) {
	tests := []struct {
		name      string
		refusal   *saga.Refusal
		kind      saga.Kind
		field     string
		errorText string
	}{
		{"invalid", saga.Invalid("lines[0].sku", "SKU %q twice", "a"), saga.KindInvalid, "lines[0].sku", `lines[0].sku: SKU "a" twice`},
		{"unprocessable", saga.Unprocessable("orderId", "order %s exists", "o-1"), saga.KindUnprocessable, "orderId", "orderId: order o-1 exists"},
		{"retry", saga.Retry("order %s is not known yet", "o-1"), saga.KindRetry, "", "order o-1 is not known yet"},
		{"conflict", saga.Conflict("version %d taken", 3), saga.KindConflict, "", "version 3 taken"},
		{"invalid without a field", saga.Invalid("", "bad"), saga.KindInvalid, "", "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refusal.Kind != tt.kind || tt.refusal.Field != tt.field || tt.refusal.Error() != tt.errorText {
				t.Fatalf("got %+v (%q), want kind %s, field %q, error %q", tt.refusal, tt.refusal.Error(), tt.kind, tt.field, tt.errorText)
			}
			// A step may wrap its refusal; the edge still finds it.
			wrapped := fmt.Errorf("step: %w", tt.refusal)
			var r *saga.Refusal
			if !errors.As(wrapped, &r) || r != tt.refusal || saga.KindOf(wrapped) != tt.kind {
				t.Fatalf("a wrapped refusal is not found: %v (kind %q)", r, saga.KindOf(wrapped))
			}
		})
	}
}

func TestKindOfAnythingElse(t *testing.T) {
	for _, err := range []error{nil, errors.New("disk on fire")} {
		if k := saga.KindOf(err); k != "" {
			t.Errorf("KindOf(%v) = %q, want none", err, k)
		}
	}
}

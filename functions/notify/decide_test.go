package function

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

var (
	confirmedData = events.OrderConfirmedData{OrderID: "o-1", Email: "c@example.org", TotalCents: 4505, Currency: "EUR", PaymentID: "pay-9"}
	cancelledData = events.OrderCancelledData{OrderID: "o-2", Email: "d@example.org", Reason: events.ReasonOutOfStock, Detail: "sku-tee: 2 left",
		Lines: []events.Line{{SKU: "sku-tee", Quantity: 3}}}
)

func TestCompose(t *testing.T) {
	withReason := func(r string) events.OrderCancelledData { d := cancelledData; d.Reason = r; return d }
	tests := []struct {
		name       string
		n          Notification
		wantID     string
		wantTo     string
		wantIn     []string // in subject + body
		wantNotIn  []string
		wantOutcme string
	}{
		{"confirmed names the amount and the payment", ComposeConfirmed(confirmedData), "ntf-o-1-confirmed", "c@example.org",
			[]string{"o-1", "confirmed", "45.05 EUR", "pay-9"}, nil, OutcomeConfirmed},
		{"out of stock, without the operator detail", ComposeCancelled(cancelledData), "ntf-o-2-cancelled", "d@example.org",
			[]string{"o-2", "cancelled", "out of stock", "refunded"}, []string{"2 left", "out_of_stock"}, OutcomeCancelled},
		{"payment declined", ComposeCancelled(withReason(events.ReasonPaymentDeclined)), "ntf-o-2-cancelled", "d@example.org",
			[]string{"payment was declined"}, nil, OutcomeCancelled},
		{"unknown sku", ComposeCancelled(withReason(events.ReasonUnknownSKU)), "ntf-o-2-cancelled", "d@example.org",
			[]string{"no longer sold"}, nil, OutcomeCancelled},
		{"saga timeout", ComposeCancelled(withReason(events.ReasonTimeout)), "ntf-o-2-cancelled", "d@example.org",
			[]string{"in time"}, nil, OutcomeCancelled},
		{"a reason this build does not know is shown as is", ComposeCancelled(withReason("fraud_suspected")), "ntf-o-2-cancelled", "d@example.org",
			[]string{"fraud_suspected"}, nil, OutcomeCancelled},
		{"no email leaves To empty", ComposeConfirmed(events.OrderConfirmedData{OrderID: "o-3", TotalCents: 5, Currency: "EUR", PaymentID: "p"}), "ntf-o-3-confirmed", "",
			[]string{"0.05 EUR"}, nil, OutcomeConfirmed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.n.ID != tt.wantID || tt.n.To != tt.wantTo || tt.n.Outcome != tt.wantOutcme {
				t.Fatalf("notification %+v", tt.n)
			}
			text := tt.n.Subject + "\n" + tt.n.Body
			for _, s := range tt.wantIn {
				if !strings.Contains(text, s) {
					t.Errorf("%q not in %q", s, text)
				}
			}
			for _, s := range tt.wantNotIn {
				if strings.Contains(text, s) {
					t.Errorf("%q should not be in %q", s, text)
				}
			}
		})
	}
}

func TestNotificationIDIsTheSameForEveryDeliveryOfAnOutcome(t *testing.T) {
	a, b := ComposeConfirmed(confirmedData), ComposeConfirmed(confirmedData)
	if a.ID != b.ID || a.ID == ComposeCancelled(events.OrderCancelledData{OrderID: "o-1"}).ID {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
}

func TestDecideSend(t *testing.T) {
	n := ComposeConfirmed(confirmedData)
	noEmail := n
	noEmail.To = ""
	tests := []struct {
		name        string
		prior       Status
		n           Notification
		wantDeliver bool
		wantStatus  Status
		wantEmit    string
	}{
		{"first time: deliver", StatusNone, n, true, StatusNone, ""},
		{"already sent: nothing", StatusSent, n, false, StatusNone, ""},
		{"already failed for good: nothing, not even a retry", StatusFailed, n, false, StatusNone, ""},
		{"no address: failed without asking the channel", StatusNone, noEmail, false, StatusFailed, events.NotificationFailed},
		{"no address but already recorded: nothing", StatusFailed, noEmail, false, StatusNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideSend(tt.prior, tt.n, "webhook")
			if d.Deliver != tt.wantDeliver || d.Status != tt.wantStatus {
				t.Fatalf("decision %+v", d)
			}
			if tt.wantEmit == "" {
				if len(d.Emits) != 0 {
					t.Fatalf("emitted %v", d.Emits)
				}
				return
			}
			if len(d.Emits) != 1 || d.Emits[0].Type != tt.wantEmit {
				t.Fatalf("emitted %v", d.Emits)
			}
			f := d.Emits[0].Data.(events.NotificationFailedData)
			if !strings.Contains(f.Reason, "no email") || f.NotificationID != tt.n.ID || f.Channel != "webhook" || d.Reason != f.Reason {
				t.Fatalf("failed %+v (decision reason %q)", f, d.Reason)
			}
		})
	}
}

func TestDecideDelivered(t *testing.T) {
	n := ComposeCancelled(cancelledData)
	refused := &PermanentError{Reason: "webhook answered 400 Bad Request: unknown mailbox"}
	tests := []struct {
		name       string
		err        error
		wantStatus Status
		wantEmit   string
		wantKind   saga.Kind
	}{
		{"accepted: sent", nil, StatusSent, events.NotificationSent, ""},
		{"refused for good: failed with the reason", refused, StatusFailed, events.NotificationFailed, ""},
		{"refused for good, wrapped", fmt.Errorf("deliver: %w", refused), StatusFailed, events.NotificationFailed, ""},
		{"network error: retry", errors.New("connection refused"), StatusNone, "", saga.KindRetry},
		{"timeout: retry", context.DeadlineExceeded, StatusNone, "", saga.KindRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecideDelivered(n, "webhook", tt.err)
			if kind := saga.KindOf(err); kind != tt.wantKind {
				t.Fatalf("kind %q, want %q (%v)", kind, tt.wantKind, err)
			}
			if d.Status != tt.wantStatus {
				t.Fatalf("status %q, want %q", d.Status, tt.wantStatus)
			}
			if tt.wantEmit == "" {
				if len(d.Emits) != 0 {
					t.Fatalf("emitted %v", d.Emits)
				}
				return
			}
			if len(d.Emits) != 1 || d.Emits[0].Type != tt.wantEmit {
				t.Fatalf("emitted %v", d.Emits)
			}
			switch data := d.Emits[0].Data.(type) {
			case events.NotificationSentData:
				if data.Recipient != "d@example.org" || data.Outcome != OutcomeCancelled || data.NotificationID != n.ID || data.OrderID != "o-2" {
					t.Fatalf("sent %+v", data)
				}
			case events.NotificationFailedData:
				if data.Reason != refused.Reason || d.Reason != refused.Reason || data.Outcome != OutcomeCancelled {
					t.Fatalf("failed %+v", data)
				}
			}
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	want := map[int]Verdict{
		200: Delivered, 201: Delivered, 202: Delivered, 204: Delivered,
		400: Permanent, 401: Permanent, 403: Permanent, 404: Permanent, 410: Permanent, 422: Permanent,
		301: Permanent, 302: Permanent, 307: Permanent,
		408: Transient, 429: Transient, 500: Transient, 502: Transient, 503: Transient, 504: Transient,
	}
	for code, v := range want {
		if got := ClassifyStatus(code); got != v {
			t.Errorf("%d: %v, want %v", code, got, v)
		}
	}
}

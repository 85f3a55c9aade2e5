package function

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// webhook is a real HTTP receiver that answers from a script and records
// every request it got.
type webhook struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int // one per request; the last one repeats
	got     []received
}

type received struct {
	key, contentType string
	n                Notification
}

func newWebhook(t *testing.T, answers ...int) *webhook {
	w := &webhook{answers: answers}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil || r.Method != http.MethodPost {
			http.Error(rw, "want a POST of a notification", http.StatusTeapot)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, received{key: r.Header.Get("Idempotency-Key"), contentType: r.Header.Get("Content-Type"), n: n})
		status := w.answers[0]
		if len(w.answers) > 1 {
			w.answers = w.answers[1:]
		}
		w.mu.Unlock()
		rw.WriteHeader(status)
		if status >= 400 {
			_, _ = rw.Write([]byte("mailbox does not exist"))
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) requests() []received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]received(nil), w.got...)
}

func startWebhook(t *testing.T, url string, extra map[string]string) *handlertest.Harness {
	env := map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": url}
	for k, v := range extra {
		env[k] = v
	}
	return handlertest.Start(t, New(), env)
}

func confirmedEvt(t *testing.T, id string) event.Event {
	return handlertest.Event(t, events.OrderConfirmed, events.OrderConfirmedData{
		OrderID: id, Email: id + "@example.org", TotalCents: 3000, Currency: "EUR", PaymentID: "pay-" + id}, nil)
}

func TestWebhookDeliversAndReportsSent(t *testing.T) {
	hook := newWebhook(t, http.StatusAccepted)
	h := startWebhook(t, hook.URL, nil)
	in := confirmedEvt(t, "o-1")
	if r := h.Send(t, in); r.Status != http.StatusOK {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	got := hook.requests()
	if len(got) != 1 {
		t.Fatalf("webhook got %d requests", len(got))
	}
	if got[0].key != "ntf-o-1-confirmed" || got[0].contentType != "application/json" {
		t.Fatalf("headers: key %q content-type %q", got[0].key, got[0].contentType)
	}
	if n := got[0].n; n.ID != "ntf-o-1-confirmed" || n.To != "o-1@example.org" || n.Outcome != "confirmed" || !strings.Contains(n.Body, "30.00 EUR") {
		t.Fatalf("body %+v", n)
	}
	out := h.Flush(t)
	if len(out) != 1 || out[0].Type() != events.NotificationSent {
		t.Fatalf("published %v", out)
	}
	var sent events.NotificationSentData
	if err := out[0].DataAs(&sent); err != nil {
		t.Fatal(err)
	}
	if sent.Channel != "webhook" || sent.Recipient != "o-1@example.org" || sent.NotificationID != "ntf-o-1-confirmed" || sent.Outcome != "confirmed" {
		t.Fatalf("sent %+v", sent)
	}
	if ce.String(out[0], ce.CausationID) != in.ID() || ce.String(out[0], ce.PartitionKey) != "o-1" {
		t.Fatalf("extensions %v", out[0].Extensions())
	}
}

func TestDuplicateDeliverySendsOnePost(t *testing.T) {
	hook := newWebhook(t, http.StatusOK)
	h := startWebhook(t, hook.URL, nil)
	in := confirmedEvt(t, "o-dup")
	h.Send(t, in)
	h.Send(t, in)                       // redelivery: same id
	h.Send(t, confirmedEvt(t, "o-dup")) // the outcome re-sent under a new id
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("webhook got %d requests, want 1", n)
	}
	if out := h.Flush(t); len(out) != 1 || out[0].Type() != events.NotificationSent {
		t.Fatalf("published %v", out)
	}
}

func TestPermanentRefusalReportsFailedWithoutRetry(t *testing.T) {
	hook := newWebhook(t, http.StatusBadRequest)
	h := startWebhook(t, hook.URL, nil)
	in := handlertest.Event(t, events.OrderCancelled, events.OrderCancelledData{
		OrderID: "o-bad", Email: "nobody@example.org", Reason: events.ReasonPaymentDeclined, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}, nil)
	// 200: the event was handled; the refusal is a fact to report, and
	// retrying would get the same answer.
	if r := h.Send(t, in); r.Status != http.StatusOK {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	out := h.Flush(t)
	if len(out) != 1 || out[0].Type() != events.NotificationFailed {
		t.Fatalf("published %v", out)
	}
	var failed events.NotificationFailedData
	if err := out[0].DataAs(&failed); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(failed.Reason, "400") || !strings.Contains(failed.Reason, "mailbox does not exist") || failed.Outcome != "cancelled" {
		t.Fatalf("failed %+v", failed)
	}
	// The same outcome again does not ask the webhook a second time.
	h.Send(t, handlertest.Event(t, events.OrderCancelled, events.OrderCancelledData{
		OrderID: "o-bad", Email: "nobody@example.org", Reason: events.ReasonPaymentDeclined, Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}, nil))
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("webhook got %d requests, want 1", n)
	}
	if again := h.Flush(t); len(again) != 0 {
		t.Fatalf("published %v", again)
	}
}

func TestTransientFailureIsRetriedThenSent(t *testing.T) {
	for _, first := range []int{http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusRequestTimeout} {
		t.Run(http.StatusText(first), func(t *testing.T) {
			hook := newWebhook(t, first, http.StatusOK)
			h := startWebhook(t, hook.URL, nil)
			in := confirmedEvt(t, "o-flaky")
			r := h.Send(t, in)
			if r.Status != http.StatusServiceUnavailable {
				t.Fatalf("first delivery: %d %s, want 503", r.Status, r.Body)
			}
			if e := r.Error(); !strings.Contains(e.Error, "ntf-o-flaky-confirmed") || e.Function != "notify" {
				t.Fatalf("error body %s", r.Body)
			}
			if out := h.Flush(t); len(out) != 0 {
				t.Fatalf("a transient failure published %v", out)
			}
			// The dispatcher redelivers the same event (same id): the
			// rolled-back attempt left no processed mark, so it runs again.
			if r := h.Send(t, in); r.Status != http.StatusOK {
				t.Fatalf("redelivery: %d %s", r.Status, r.Body)
			}
			got := hook.requests()
			if len(got) != 2 || got[0].key != got[1].key {
				t.Fatalf("webhook got %+v", got)
			}
			if out := h.Flush(t); len(out) != 1 || out[0].Type() != events.NotificationSent {
				t.Fatalf("published %v", out)
			}
		})
	}
}

func TestUnreachableOrSlowWebhookIsRetried(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers before the client gives up
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })

	for name, url := range map[string]string{"connection refused": closed.URL + "/hook?token=s3cret", "timeout": slow.URL + "/hook?token=s3cret"} {
		t.Run(name, func(t *testing.T) {
			h := startWebhook(t, url, map[string]string{"NOTIFY_WEBHOOK_TIMEOUT": "200ms"})
			r := h.Send(t, confirmedEvt(t, "o-"+strings.ReplaceAll(name, " ", "-")))
			if r.Status != http.StatusServiceUnavailable {
				t.Fatalf("status %d %s, want 503", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), "s3cret") {
				t.Fatalf("the webhook token leaked into the answer: %s", r.Body)
			}
			if out := h.Flush(t); len(out) != 0 {
				t.Fatalf("published %v", out)
			}
		})
	}
}

func TestLogChannelWritesOneJSONLine(t *testing.T) {
	f := New()
	var stdout bytes.Buffer
	f.stdout = &stdout
	h := handlertest.Start(t, f, map[string]string{"NOTIFY_CHANNEL": "log"})
	in := handlertest.Event(t, events.OrderCancelled, events.OrderCancelledData{
		OrderID: "o-log", Email: "l@example.org", Reason: events.ReasonOutOfStock, Lines: []events.Line{{SKU: "sku-mug", Quantity: 1}}}, nil)
	h.Send(t, in)
	h.Send(t, in)
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout %q, want one line", stdout.String())
	}
	var n Notification
	if err := json.Unmarshal([]byte(lines[0]), &n); err != nil || n.ID != "ntf-o-log-cancelled" || n.To != "l@example.org" {
		t.Fatalf("line %q: %+v %v", lines[0], n, err)
	}
	out := h.Flush(t)
	var sent events.NotificationSentData
	if len(out) != 1 || out[0].DataAs(&sent) != nil || sent.Channel != "log" {
		t.Fatalf("published %v", out)
	}
}

func TestNoEmailIsAFailureWithoutDelivery(t *testing.T) {
	hook := newWebhook(t, http.StatusOK)
	h := startWebhook(t, hook.URL, nil)
	h.Send(t, handlertest.Event(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: "o-anon", TotalCents: 100, Currency: "EUR", PaymentID: "p"}, nil))
	if n := len(hook.requests()); n != 0 {
		t.Fatalf("webhook got %d requests", n)
	}
	if out := h.Flush(t); len(out) != 1 || out[0].Type() != events.NotificationFailed {
		t.Fatalf("published %v", out)
	}
}

func TestOtherOrderEventsAreIgnored(t *testing.T) {
	hook := newWebhook(t, http.StatusOK)
	h := startWebhook(t, hook.URL, nil)
	place := events.PlaceOrderData{OrderID: "o-i", CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "t", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}
	created := events.OrderCreatedData{OrderID: "o-i", CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "t",
		Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 100}}, SubtotalCents: 100, TaxCents: 19, TotalCents: 119, ShippingCountry: "DE"}
	createdV1 := events.OrderCreatedV1Data{OrderID: "o-i", CustomerID: "c", Email: "c@example.org", Currency: "EUR", PaymentToken: "t",
		Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100}
	for typ, data := range map[string]any{events.PlaceOrder: place, events.OrderCreated: created, events.OrderCreatedV1: createdV1} {
		if r := h.Send(t, handlertest.Event(t, typ, data, nil)); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", typ, r.Status, r.Body)
		}
	}
	// A type from another topic is a wiring mistake: refused, not ignored.
	r := h.Send(t, handlertest.Event(t, events.PaymentFailed, events.PaymentFailedData{OrderID: "o-i", AmountCents: 1, Currency: "EUR", Reason: "x"}, nil))
	if r.Status != http.StatusBadRequest || r.Error().Field != "type" {
		t.Fatalf("payment.failed: %d %s", r.Status, r.Body)
	}
	if len(hook.requests()) != 0 {
		t.Fatalf("webhook called")
	}
	if out := h.Flush(t); len(out) != 0 {
		t.Fatalf("published %v", out)
	}
}

func TestBadChannelConfigNamesTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"unknown channel", map[string]string{"NOTIFY_CHANNEL": "sms"}, "NOTIFY_CHANNEL"},
		{"webhook without URL", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": ""}, "NOTIFY_WEBHOOK_URL"},
		{"webhook with a relative URL", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "/hooks/orders"}, "NOTIFY_WEBHOOK_URL"},
		{"webhook with another scheme", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "ftp://example.org/x"}, "NOTIFY_WEBHOOK_URL"},
		{"timeout not a duration", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "http://example.org", "NOTIFY_WEBHOOK_TIMEOUT": "soon"}, "NOTIFY_WEBHOOK_TIMEOUT"},
		{"timeout zero", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "http://example.org", "NOTIFY_WEBHOOK_TIMEOUT": "0s"}, "NOTIFY_WEBHOOK_TIMEOUT"},
		{"timeout no send can meet", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "http://example.org", "NOTIFY_WEBHOOK_TIMEOUT": "1ns"}, "NOTIFY_WEBHOOK_TIMEOUT=1ns: want at least 10ms"},
		// Neither shows the secret it carries (the error is logged).
		{"webhook URL that does not parse", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "https://hooks:s3cret@[::1/x?token=s3cret"}, "NOTIFY_WEBHOOK_URL"},
		{"webhook URL without a host", map[string]string{"NOTIFY_CHANNEL": "webhook", "NOTIFY_WEBHOOK_URL": "https:///x?token=s3cret"}, "NOTIFY_WEBHOOK_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := New()
			err := f.Start(context.Background(), nil)
			if err == nil {
				_ = f.Stop(context.Background())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Fatalf("err %v does not name %s", err, tt.wantVar)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err %v shows the secret", err)
			}
		})
	}
}

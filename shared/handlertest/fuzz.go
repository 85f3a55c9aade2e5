package handlertest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"orderflow.dev/shared/events"
)

// FuzzDelivery fuzzes what a dispatcher (or anyone) can POST to a
// function: a binary-mode CloudEvent whose type, content type and body
// vary, or, when the content type is application/cloudevents+json, a
// structured event that is all body. Whatever comes in, the function must
// not panic, must not answer 500 (bad input is never the function's own
// failure), and every refusal must be JSON that says what is wrong and
// names the field. The seeds are the catalog's types with valid and broken
// payloads; `go test -fuzz FuzzDelivery` explores from there and the
// committed corpus under testdata/fuzz replays what it found.
func FuzzDelivery(f *testing.F, fn Function, types ...string) {
	for _, typ := range types {
		f.Add("application/json", typ, []byte(`{}`))
		f.Add("application/json", typ, []byte(`{"orderId":"o-1","lines":[{"sku":"sku-tee","quantity":-1}]}`))
		f.Add("text/plain", typ, []byte(`hello`))
		f.Add("application/json", typ, []byte(`{"orderId":`))
	}
	f.Add("application/cloudevents+json", "", []byte(`{"specversion":"1.0","id":"1","source":"/f","type":"dev.orderflow.order.place.v1","data":{}}`))
	f.Add("application/cloudevents+json", "", []byte(`{"specversion":"2.0"}`))
	// sdk-go's structured reader panics on this one (ce.ToEvent recovers).
	f.Add("application/cloudevents+json", "", []byte(`{"specversion":"1.0","id":"1","source":"/f","type":"t","data_base64":5}`))
	f.Add("application/cloudevents+json; charset=utf-8", "", []byte(`{"specversion":"1.0","id":"1","source":"","type":"t","time":"x"}`))
	f.Add("", "", []byte(``))
	h := Start(f, fn, map[string]string{"ORDERFLOW_LOG_LEVEL": "error"})
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, contentType, ceType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if ceType != "" {
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Id", "fuzz-"+strconv.FormatInt(n.Add(1), 10))
			req.Header.Set("Ce-Source", "/fuzz")
			req.Header.Set("Ce-Type", ceType)
		}
		rec := httptest.NewRecorder()
		h.F.Handle(rec, req) // a panic fails the fuzz run
		status := rec.Code
		switch {
		case status >= 200 && status < 300:
			return
		case status == http.StatusInternalServerError:
			t.Fatalf("500 for input type=%q content-type=%q body=%q: %s", ceType, contentType, body, rec.Body)
		case status == http.StatusServiceUnavailable || status == http.StatusConflict:
			// A retry answer is fine for input that depends on state the
			// function has not seen yet (an event before its order).
			return
		}
		var e events.ErrorData
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%d with a body that is not the JSON error: %q", status, rec.Body)
		}
		if e.Error == "" || e.Field == "" || e.Status != status {
			t.Fatalf("refusal %d does not name the field: %s (input type=%q content-type=%q body=%q)", status, rec.Body, ceType, contentType, body)
		}
	})
}

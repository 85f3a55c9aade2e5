package dlq

import (
	"encoding/base64"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/local/kafkalog"
)

func letter(ext map[string]string) Letter {
	e := event.New()
	e.SetID("1")
	e.SetType("dev.orderflow.order.place.v1")
	e.SetSource("/cli")
	e.SetExtension("partitionkey", "o-9")
	for k, v := range ext {
		e.SetExtension(k, v)
	}
	l, _ := FromRecord(kafkalog.Record{Topic: "orderflow.dlq.order", Event: &e})
	return l
}

func TestReason(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name        string
		ext         map[string]string
		reason, fld string
	}{
		{"function's JSON error", map[string]string{ExtErrorDest: "http://order", ExtErrorCode: "422",
			ExtErrorData: b64(`{"error":"unknown SKU \"x\"","field":"lines[0].sku","status":422}`)}, `lines[0].sku: unknown SKU "x"`, "lines[0].sku"},
		{"plain body", map[string]string{ExtErrorDest: "http://order", ExtErrorCode: "500", ExtErrorData: b64("boom\nagain")}, "HTTP 500: boom again", ""},
		{"no response", map[string]string{ExtErrorDest: "http://order"}, "no response from http://order", ""},
		{"status only", map[string]string{ExtErrorDest: "http://order", ExtErrorCode: "404"}, "HTTP 404", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := letter(tt.ext)
			if l.Reason != tt.reason || l.Field != tt.fld || l.OrderID != "o-9" {
				t.Fatalf("reason %q field %q order %q", l.Reason, l.Field, l.OrderID)
			}
		})
	}
	if _, ok := FromRecord(kafkalog.Record{}); ok {
		t.Fatal("a non-CloudEvent record decoded")
	}
}

package dlq

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
)

// Every dead letter prints as JSON, whatever its data: the dispatcher
// dead-letters records that are no JSON at all (plain text, binary, a
// truncated document claiming to be JSON).
func TestEveryDeadLetterPrintsAsJSON(t *testing.T) {
	for _, tt := range []struct {
		name        string
		contentType string // "" for none
		data        []byte
		asIs        bool // data kept as JSON ("data"), else base64 ("data_base64")
		text        bool // data kept as a JSON string ("data")
	}{
		{"JSON", "application/json", []byte(`{"orderId":"o-1"}`), true, false},
		{"JSON without a content type", "", []byte(`{"orderId":"o-1"}`), true, false},
		{"plain text without a content type", "", []byte("oops, not json"), false, false},
		{"truncated JSON", "application/json", []byte(`{"orderId":`), false, false},
		{"a structured content type over text", "application/cloudevents+json", []byte("null-ish"), false, false},
		{"text", "text/plain; charset=utf-8", []byte("plain words\tand a tab"), false, true},
		{"binary", "application/octet-stream", []byte{0xff, 0x00, 0xfe, '\n', 0x80}, false, false},
		{"binary claiming to be text", "text/plain", []byte{0xff, 0xfe}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := event.New()
			e.SetID("partition:0/offset:7")
			e.SetType("dev.knative.kafka.event\tevil")
			e.SetSource("/apis/v1/namespaces/orderflow/kafkasources/order#orderflow.commands")
			e.SetExtension(ExtErrorDest, "http://order")
			e.SetExtension(ExtErrorCode, "400")
			if tt.contentType != "" {
				e.SetDataContentType(tt.contentType)
			}
			e.DataEncoded = tt.data
			l, ok := FromRecord(kafkalog.Record{Topic: "orderflow.dlq.order", Event: &e})
			if !ok {
				t.Fatal("not decoded")
			}
			row := Row{ID: "order:0:7", Function: "order", Letter: l}
			for _, v := range []any{row, l, []Row{row}} {
				var out bytes.Buffer
				enc := json.NewEncoder(&out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(v); err != nil {
					t.Fatalf("%T: %v", v, err)
				}
			}
			b, err := json.Marshal(row)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ID    string `json:"id"`
				Topic string
				Event map[string]any
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != "order:0:7" || got.Topic != "orderflow.dlq.order" || got.Event["type"] != "dev.knative.kafka.event\tevil" {
				t.Fatalf("%s", b)
			}
			// Keys in one case, as every other JSON orderflow prints.
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(b, &keys); err != nil {
				t.Fatal(err)
			}
			for k := range keys {
				if k != strings.ToLower(k[:1])+k[1:] {
					t.Errorf("key %q: want lowerCamelCase", k)
				}
			}
			if ct, _ := got.Event["datacontenttype"].(string); ct != tt.contentType {
				t.Errorf("datacontenttype %q, want %q", ct, tt.contentType)
			}
			switch {
			case tt.asIs:
				if d, _ := json.Marshal(got.Event["data"]); !json.Valid(d) || got.Event["data"] == nil {
					t.Errorf("data %v, want the JSON as it is", got.Event["data"])
				}
			case tt.text:
				if got.Event["data"] != string(tt.data) {
					t.Errorf("data %v, want the text %q", got.Event["data"], tt.data)
				}
			default:
				raw, _ := got.Event["data_base64"].(string)
				dec, err := base64.StdEncoding.DecodeString(raw)
				if err != nil || !bytes.Equal(dec, tt.data) || got.Event["data"] != nil {
					t.Errorf("data_base64 %q (%v), data %v: want the bytes %q in base64", raw, err, got.Event["data"], tt.data)
				}
			}
			// What is printed reads back as the same event.
			var back Row
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Event.Data(), tt.data) || back.Event.Type() != e.Type() {
				t.Errorf("read back: type %q data %q", back.Event.Type(), back.Event.Data())
			}
		})
	}
}

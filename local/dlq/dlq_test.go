package dlq

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/source"
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
		{"no response, the plane says why", map[string]string{ExtErrorDest: "http://order", source.ErrorExtension: "dial tcp: connection refused"},
			"no response from http://order: dial tcp: connection refused", ""},
		{"never sent", map[string]string{ExtErrorDest: "http://order", source.ErrorExtension: "cannot send the event as an HTTP request: header Ce-Id holds control character"},
			"not sent to http://order: cannot send the event as an HTTP request: header Ce-Id holds control character", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := letter(tt.ext)
			if l.Reason != tt.reason || l.Field != tt.fld || l.OrderID != "o-9" {
				t.Fatalf("reason %q field %q order %q", l.Reason, l.Field, l.OrderID)
			}
		})
	}
	// A record that is no CloudEvent is listed as it is, not hidden, and
	// cannot be replayed.
	raw := &sarama.ConsumerMessage{Key: []byte("k"), Value: []byte("plain text"), Headers: []*sarama.RecordHeader{{Key: []byte("h"), Value: []byte("v")}, nil}}
	l, ok := FromRecord(kafkalog.Record{Topic: "orderflow.dlq.order", Partition: 1, Offset: 7, Raw: raw})
	if !ok || !l.Foreign || l.Reason != ForeignReason || l.Original == nil || string(l.Original.Value) != "plain text" ||
		string(l.Original.Key) != "k" || len(l.Original.Headers) != 1 || l.Partition != 1 || l.Offset != 7 {
		t.Fatalf("a non-CloudEvent record: %+v (ok %v)", l, ok)
	}
	if _, err := ForReplay(l, 3); !errors.Is(err, ErrForeign) {
		t.Fatalf("replaying it: %v, want ErrForeign", err)
	}
}

func TestIDRoundTrip(t *testing.T) {
	l := Letter{Partition: 3, Offset: 42}
	id := ID("payment", l)
	fn, p, o, err := ParseID(id)
	if err != nil || fn != "payment" || p != 3 || o != 42 {
		t.Fatalf("%s -> %s %d %d %v", id, fn, p, o, err)
	}
	for _, bad := range []string{"", "payment", "payment:1", ":1:2", "payment:x:2", "payment:1:-2"} {
		if _, _, _, err := ParseID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestForReplayStripsTheErrorAndGuardsAgainstLoops(t *testing.T) {
	l := letter(map[string]string{ExtErrorDest: "http://order", ExtErrorCode: "422", ExtErrorData: "e30=", ExtAttempts: "1"})
	again, err := ForReplay(l, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{ExtErrorDest, ExtErrorCode, ExtErrorData, ExtAttempts} {
		if _, ok := again.Extensions()[ext]; ok {
			t.Errorf("%s kept", ext)
		}
	}
	if again.ID() != l.Event.ID() || again.Extensions()["partitionkey"] != "o-9" || again.Extensions()[ExtReplays] != "1" {
		t.Fatalf("replayed %v", again)
	}
	// The original letter is untouched.
	if _, ok := l.Event.Extensions()[ExtErrorCode]; !ok {
		t.Fatal("ForReplay changed the letter")
	}
	looping := letter(map[string]string{ExtErrorDest: "http://order", ExtErrorCode: "422", ExtReplays: "3"})
	if _, err := ForReplay(looping, 3); !errors.Is(err, ErrReplayLimit) {
		t.Fatalf("third failed replay: %v", err)
	}
	if e, err := ForReplay(looping, 5); err != nil || e.Extensions()[ExtReplays] != "4" {
		t.Fatalf("with a higher limit: %v %v", e, err)
	}
}

// A record-form letter gives back the record it carries, byte for byte,
// and replays without the plane's error extensions.
func TestRecordFormLetter(t *testing.T) {
	msg := &sarama.ConsumerMessage{Topic: "orderflow.orders", Partition: 2, Offset: 5, Key: []byte{0xff, 'k'}, Value: []byte("v\x00"),
		Headers: []*sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}, {Key: []byte("X"), Value: []byte("a\nb")}}}
	e := source.DeadLetter(source.RecordForm(msg, "orderflow", "order"), "http://order", source.Response{Status: 400, Body: []byte(`{"error":"no"}`)}, 1)
	e.SetExtension(source.AsRecordExtension, "because")
	l, ok := FromRecord(kafkalog.Record{Topic: "orderflow.dlq.order", Event: &e})
	if !ok || l.Original == nil || l.AsRecord != "because" || l.Reason != "no" || l.OrderID != "" {
		t.Fatalf("letter %+v", l)
	}
	o := l.Original
	if o.Topic != "orderflow.orders" || string(o.Key) != "\xffk" || string(o.Value) != "v\x00" || len(o.Headers) != 2 ||
		string(o.Headers[0].Value) != "application/cloudevents+json" || string(o.Headers[1].Value) != "a\nb" {
		t.Fatalf("original %+v", o)
	}
	replay, err := ForReplay(l, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{ExtErrorDest, ExtErrorCode, ExtErrorData, source.AsRecordExtension} {
		if _, ok := replay.Extensions()[gone]; ok {
			t.Errorf("replay keeps %s", gone)
		}
	}
	if replay.Extensions()[source.RecordExtension] == nil {
		t.Error("replay lost the record it carries")
	}
}

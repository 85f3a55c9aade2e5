package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
)

func TestCarryError(t *testing.T) {
	ok := testEvent()
	cases := []struct {
		name  string
		edit  func(*event.Event)
		wants string // "" means carriable
	}{
		{"a saga event", func(*event.Event) {}, ""},
		{"an int extension (comes back a string: same value)", func(e *event.Event) { e.SetExtension("n", int32(3)) }, ""},
		{"non-ASCII UTF-8 in an extension (Go carries it)", func(e *event.Event) { e.SetExtension("who", "Jürgen") }, ""},
		{"no id", func(e *event.Event) { e.SetID("") }, "not a valid CloudEvent"},
		{"a structured content type", func(e *event.Event) { e.SetDataContentType("application/cloudevents+json") }, "names a CloudEvents format"},
		{"a batch content type", func(e *event.Event) { e.SetDataContentType("Application/CloudEvents-Batch+JSON; charset=utf-8") }, "names a CloudEvents format"},
		{"a newline in the id", func(e *event.Event) { e.SetID("a\nb") }, "control character"},
		{"a NUL in an extension", func(e *event.Event) { e.SetExtension("x", "a\x00") }, "control character"},
		{"a value a server trims", func(e *event.Event) { e.SetExtension("x", " padded") }, "blank"},
		{"headers too large for a server", func(e *event.Event) { e.SetExtension("big", strings.Repeat("x", maxCarriedHeaderBytes)) }, "bytes of headers"},
	}
	for _, c := range cases {
		e := ok.Clone()
		c.edit(&e)
		err := CarryError(e)
		switch {
		case c.wants == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wants != "" && (err == nil || !strings.Contains(err.Error(), c.wants)):
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.wants)
		}
	}
}

func TestRecordFormIsAlwaysCarriable(t *testing.T) {
	msgs := []*sarama.ConsumerMessage{
		{Topic: "t", Key: []byte{0xff, 0x00}, Value: []byte{0xc3, 0x28},
			Headers: []*sarama.RecordHeader{hdr("content-type", "application/cloudevents+json"), hdr("X-A", "1"), hdr("x_a", "2"), hdr("", " lead"), hdr("ce_id", "a\nb")}},
		{Topic: "t", Value: nil, Headers: []*sarama.RecordHeader{hdr("Content-Type", "text/plain; charset=utf-8")}},
		{Topic: "t", Timestamp: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}, // no RFC 3339 for that year
	}
	for i, m := range msgs {
		e := RecordForm(m, "ns", "src")
		if err := CarryError(e); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	e := RecordForm(msgs[0], "ns", "src")
	ext := e.Extensions()
	if e.DataContentType() != "" || ext["kafkaheadercontenttype"] != "application/cloudevents+json" {
		t.Errorf("structured content type kept as datacontenttype: %q / %v", e.DataContentType(), ext["kafkaheadercontenttype"])
	}
	if ext["kafkaheaderxa"] != "1" || ext["kafkaheaderxa2"] != "2" {
		t.Errorf("clashing headers: %v", ext)
	}
	if ext[KeyExtension] != "/wA=" || !strings.Contains(ext[Base64Extension].(string), "key") || !strings.Contains(ext[Base64Extension].(string), "kafkaheadercei") {
		t.Errorf("unsafe values not base64: %v", ext)
	}
	if e2 := RecordForm(msgs[1], "ns", "src"); e2.DataContentType() != "text/plain; charset=utf-8" || e2.Data() != nil {
		t.Errorf("plain media type: %q, data %q", e2.DataContentType(), e2.Data())
	}
}

func TestFileSpoolSurvivesRestartAndTornLines(t *testing.T) {
	dir := t.TempDir()
	sp, err := NewFileSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := testEvent()
	e.SetExtension("raw", "\xff\xfe") // not UTF-8: must come back byte for byte
	for _, id := range []string{"t/0/1", "t/0/2"} {
		if err := sp.Put(Unsent{ID: id, Source: "ns/src", Reason: "test", Spooled: time.Now(), Event: Store(e)}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-append leaves a torn last line.
	f, _ := os.OpenFile(filepath.Join(dir, "ns_src.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"id":"t/0/3","sou`)
	f.Close()

	again, _ := NewFileSpool(dir)
	got, err := again.List("ns/src")
	if err != nil || len(got) != 2 {
		t.Fatalf("after restart: %d letters, %v", len(got), err)
	}
	back, err := got[0].Event.Event()
	if err != nil || back.ID() != "e1" || back.Extensions()["raw"] != "\xff\xfe" || string(back.Data()) != string(e.Data()) {
		t.Errorf("stored event came back as %v (%v)", back, err)
	}
	if err := again.Remove("ns/src", "t/0/1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := again.List("ns/src"); len(got) != 1 || got[0].ID != "t/0/2" {
		t.Errorf("after remove: %+v", got)
	}
}

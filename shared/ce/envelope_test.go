package ce

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// sdkReads is what EnvelopeProblem is consulted after: whether the SDK
// reads the request as a valid CloudEvent.
func sdkReads(t *testing.T, h http.Header, body string) bool {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header = h
	e, err := ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	return err == nil && e.Validate() == nil
}

// EnvelopeCases are the envelopes the SDK refuses, with the attribute
// EnvelopeProblem must name, and envelopes it reads, where EnvelopeProblem
// must find nothing (it is never stricter than the SDK).
var structuredCases = []struct {
	body  string
	field string // "" when the SDK reads it
}{
	{`nope`, "event"},
	{`[]`, "event"},
	{`{"specversion":"1.0",`, "event"},
	{`{"id":"a","source":"/s","type":"t"}`, "specversion"},
	{`{"specversion":"2.0","id":"a","source":"/s","type":"t"}`, "specversion"},
	{`{"specversion":1,"id":"a","source":"/s","type":"t"}`, "specversion"},
	{`{"specversion":"1.0","id":"","source":"","type":""}`, "id"},
	{`{"specversion":"1.0","source":"/s","type":"t"}`, "id"},
	{`{"specversion":"1.0","id":7,"source":"/s","type":"t"}`, "id"},
	{`{"specversion":"1.0","id":"a","source":"","type":"t"}`, "source"},
	{`{"specversion":"1.0","id":"a","source":5,"type":"t"}`, "source"},
	{`{"specversion":"1.0","id":"a","source":"%zz","type":"t"}`, "source"},
	{`{"specversion":"1.0","id":"a","source":"/s"}`, "type"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":{}}`, "type"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","datacontenttype":7}`, "datacontenttype"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","subject":[]}`, "subject"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","time":"yesterday"}`, "time"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","time":12}`, "time"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"!!"}`, "data_base64"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":5}`, "data_base64"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":null}`, "data_base64"},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","data":{},"data_base64":null}`, "data_base64"},
	// Read by the SDK: nothing to name.
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t"}`, ""},
	{`{"specversion":"1.0","id":"a","source":"urn:x","type":"t","time":"2026-12-06T10:00:00.5+01:00","data":{"x":[1]}}`, ""},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","partitionkey":"k","count":3,"flag":true}`, ""},
	{`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"aGk="}`, ""},
	{`{"specversion":"0.3","id":"a","source":"/s","type":"t"}`, ""},
}

func TestEnvelopeProblemStructured(t *testing.T) {
	h := http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
	if !IsStructured(h) || IsStructured(http.Header{"Content-Type": {"application/json"}}) {
		t.Fatal("IsStructured does not tell the modes apart")
	}
	for _, c := range structuredCases {
		reads := sdkReads(t, h.Clone(), c.body)
		field, reason := EnvelopeProblem(h, []byte(c.body))
		switch {
		case c.field == "" && !reads:
			t.Errorf("%s: the SDK refuses it; the case says it reads it", c.body)
		case c.field == "" && field != "":
			t.Errorf("%s: the SDK reads it, EnvelopeProblem says %s: %s", c.body, field, reason)
		case c.field != "" && reads:
			t.Errorf("%s: the SDK reads it; the case wants %s named", c.body, c.field)
		case c.field != "" && (field != c.field || reason == ""):
			t.Errorf("%s: EnvelopeProblem = %q, %q; want %q and a reason", c.body, field, reason, c.field)
		}
	}
}

func TestEnvelopeProblemBinary(t *testing.T) {
	base := func(set ...string) http.Header {
		h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"}, "Content-Type": {"application/json"}}
		for i := 0; i+1 < len(set); i += 2 {
			if set[i+1] == "" {
				h.Del(set[i])
			} else {
				h.Set(set[i], set[i+1])
			}
		}
		return h
	}
	for _, c := range []struct {
		h     http.Header
		field string
	}{
		{base("Ce-Time", "yesterday"), "time"},
		{base("Ce-Source", "%zz"), "source"},
		{base("Ce-Id", ""), "id"},
		{base(), ""},
		{base("Ce-Time", "2026-12-06T10:00:00Z"), ""},
	} {
		reads := sdkReads(t, c.h.Clone(), `{}`)
		field, reason := EnvelopeProblem(c.h, nil)
		if (c.field == "") != reads {
			t.Errorf("%v: the SDK reads it: %v, the case says %v", c.h, reads, c.field == "")
		}
		if field != c.field {
			t.Errorf("%v: EnvelopeProblem = %q, %q; want %q", c.h, field, reason, c.field)
		}
	}
	// No ce-specversion: not binary mode (a batch, plain JSON), which the
	// SDK refuses; nothing to name, the caller's own answer says what it is.
	batch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
	if field, reason := EnvelopeProblem(batch, nil); field != "" {
		t.Errorf("a batch: EnvelopeProblem = %q, %q; want nothing named", field, reason)
	}
}

// Ambiguity is consulted after the SDK read the event: it names what the
// event says twice, where the SDK would take one and drop the other.
func TestAmbiguity(t *testing.T) {
	binary := func(extra ...[2]string) http.Header {
		h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"}, "Content-Type": {"application/json"}}
		for _, kv := range extra {
			h.Add(kv[0], kv[1])
		}
		return h
	}
	structured := http.Header{"Content-Type": {"application/cloudevents+json"}}
	for _, c := range []struct {
		name   string
		h      http.Header
		body   string // "" for binary mode
		field  string
		reason string
	}{
		{"binary, each header once", binary([2]string{"Ce-Partitionkey", "k"}), "", "", ""},
		{"two ids", binary([2]string{"Ce-Id", "2"}), "", "id", "the ce-id header is given 2 times"},
		{"an extension twice, the same value", binary([2]string{"Ce-Partitionkey", "k"}, [2]string{"Ce-Partitionkey", "k"}), "", "partitionkey", "given 2 times"},
		{"two types and two sources: the first by name", binary([2]string{"Ce-Type", "u"}, [2]string{"Ce-Source", "/t"}), "", "source", "ce-source"},
		{"other headers twice", binary([2]string{"Accept", "a"}, [2]string{"Accept", "b"}), "", "", ""},
		{"structured, data only", structured, `{"specversion":"1.0","id":"a","source":"/s","type":"t","data":{"x":1}}`, "", ""},
		{"structured, data_base64 only", structured, `{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"e30="}`, "", ""},
		{"structured, both", structured, `{"specversion":"1.0","id":"a","source":"/s","type":"t","data":{"x":1},"data_base64":"e30="}`, "data_base64", "given beside data"},
		{"structured, data null beside data_base64", structured, `{"specversion":"1.0","id":"a","source":"/s","type":"t","data":null,"data_base64":"e30="}`, "", ""},
		{"structured, the word in a value only", structured, `{"specversion":"1.0","id":"a","source":"/s","type":"t","data":{"data_base64":"x"}}`, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
				if !sdkReads(t, c.h.Clone(), c.body) {
					t.Fatal("the SDK refuses it: Ambiguity is only asked of events the SDK reads")
				}
			} else if !sdkReads(t, c.h.Clone(), `{}`) {
				t.Fatal("the SDK refuses it: Ambiguity is only asked of events the SDK reads")
			}
			field, reason := Ambiguity(c.h, body)
			if field != c.field || !strings.Contains(reason, c.reason) {
				t.Errorf("Ambiguity = %q, %q; want %q and a reason containing %q", field, reason, c.field, c.reason)
			}
		})
	}
}

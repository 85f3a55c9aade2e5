package cedecode

// shared/ce/envelope.go and knlocal/cedecode/envelope.go are one file
// in two packages, identical but for the package clause
// (knlocal/cedecode's TestEnvelopeIsSharedsTwin checks): the plane stands
// in for Knative and does not import the functions' library, and a
// function and the KafkaSink ingress must name a malformed envelope the
// same way. shared/ce's tests hold its behaviour to the SDK's.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
)

// ToEvent is binding.ToEvent, with a panic inside the SDK returned as an
// error. sdk-go v2.16.2's structured-mode reader panics on some envelopes
// (a data_base64 that is not a JSON string: a slice out of range in
// event.consumeDataAsBytes): on a KafkaSource's goroutine that ended the
// plane, again on every restart, and on an HTTP handler it dropped the
// connection unanswered. Here it is an error like any other malformed
// event.
func ToEvent(ctx context.Context, m binding.Message) (e *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("the CloudEvents SDK could not read this event (it failed with %v): a malformed envelope, e.g. a data_base64 that is not a string", r)
		}
	}()
	return binding.ToEvent(ctx, m)
}

// IsStructured tells a structured-mode CloudEvent request (its content
// type application/cloudevents+json, parameters allowed) from a binary
// one.
func IsStructured(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/cloudevents+json"
}

// StructuredBody reads a structured-mode request's body and puts it back
// for the SDK, so that EnvelopeProblem can name what is wrong should the
// SDK refuse it (the SDK reads all of it anyway; the caller's
// MaxBytesReader bounds it). A binary-mode request's body is left alone:
// nil.
func StructuredBody(r *http.Request) ([]byte, error) {
	if !IsStructured(r.Header) {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// ContentEncoding is the request's content-encoding when it is one the body
// would have to be decoded from (gzip, say), "" for none or identity: the
// SDK reads the body as it comes, so compressed bytes would become the
// event's data.
func ContentEncoding(h http.Header) string {
	enc := strings.TrimSpace(strings.Join(h.Values("Content-Encoding"), ","))
	if enc == "" || strings.EqualFold(enc, "identity") {
		return ""
	}
	return abbreviate(enc)
}

// UnsupportedSpecVersion names the problem of a binary-mode request whose
// ce-specversion the SDK does not read (it then sees no CloudEvent at all,
// and "no ce-specversion header" would mislead); "" when the header is
// absent.
func UnsupportedSpecVersion(h http.Header) string {
	v := h.Get("Ce-Specversion")
	if v == "" {
		return ""
	}
	return unsupportedSpecVersion(v)
}

func unsupportedSpecVersion(v string) string {
	return fmt.Sprintf("unsupported CloudEvents specversion %q: this receiver reads 1.0 (and 0.3)", abbreviate(v))
}

// EnvelopeProblem names what is wrong with a CloudEvent the SDK could not
// read, the attribute and why, where the SDK's own error names neither
// ("cannot parse uri ref: ", a JSON decoder's byte offset). structured is
// the request's body in structured mode, nil in binary mode, where the
// ce- headers are read. An empty field means nothing was found that the
// SDK's error does not say better.
func EnvelopeProblem(h http.Header, structured []byte) (field, reason string) {
	if structured == nil {
		if h.Values("Ce-Specversion") == nil {
			// Not binary mode either (a batch, say): the SDK's error
			// says what it is better than "missing ce-specversion".
			return "", ""
		}
		for _, attr := range envelopeAttributes {
			v := h.Get("Ce-" + attr.name)
			if v == "" && h.Values("Ce-"+attr.name) == nil {
				if attr.required {
					return attr.name, "missing: binary mode needs a ce-" + attr.name + " header"
				}
				continue
			}
			if reason := attr.check(v); reason != "" {
				return attr.name, reason
			}
		}
		return "", ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(structured, &obj); err != nil {
		return "event", "structured mode: the body is not a JSON object: " + err.Error()
	}
	for _, attr := range envelopeAttributes {
		raw, ok := obj[attr.name]
		if !ok || string(raw) == "null" {
			if attr.required {
				return attr.name, "missing: a CloudEvent needs " + attr.name
			}
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return attr.name, fmt.Sprintf("must be a JSON string, not %s", abbreviate(string(raw)))
		}
		if reason := attr.check(v); reason != "" {
			return attr.name, reason
		}
	}
	if raw, ok := obj["data_base64"]; ok {
		if string(raw) == "null" {
			// The SDK decodes it as base64 and fails naming nothing.
			return "data_base64", "null: leave data_base64 out when the event has no data"
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "data_base64", "must be a JSON string of base64, not " + abbreviate(string(raw))
		}
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return "data_base64", "not base64: " + err.Error()
		}
	}
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names) // the same answer every time
	for _, name := range names {
		raw := obj[name]
		if name == "data" || name == "data_base64" || knownAttribute(name) {
			continue
		}
		if !validExtensionName(name) {
			return name, "an extension attribute's name must be lowercase letters and digits"
		}
		if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			return name, "an extension attribute must be a string, number or boolean, not " + abbreviate(t)
		}
	}
	return "", ""
}

// Ambiguity names what a CloudEvent the SDK did read says two ways, where
// the SDK would quietly take one and drop the other: a ce- header given more
// than once in binary mode (it takes the first), or data beside data_base64
// in structured mode (it takes data_base64; the JSON format makes the two
// mutually exclusive). structured is as for EnvelopeProblem. An empty field
// means the event says each thing once.
func Ambiguity(h http.Header, structured []byte) (field, reason string) {
	if structured == nil {
		var twice []string
		for name, values := range h {
			if len(values) > 1 && len(name) > 3 && strings.EqualFold(name[:3], "ce-") {
				twice = append(twice, name)
			}
		}
		if len(twice) == 0 {
			return "", ""
		}
		sort.Strings(twice) // the same answer every time
		attr := strings.ToLower(twice[0][3:])
		return attr, fmt.Sprintf("the ce-%s header is given %d times: an attribute has one value", attr, len(h[twice[0]]))
	}
	if !bytes.Contains(structured, []byte(`"data_base64"`)) {
		return "", "" // the common case, without parsing the body again
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(structured, &obj) != nil {
		return "", ""
	}
	data, hasData := obj["data"]
	b64, hasB64 := obj["data_base64"]
	if hasData && hasB64 && string(data) != "null" && string(b64) != "null" {
		return "data_base64", "given beside data: an event in JSON carries its data in one of the two, never both"
	}
	return "", ""
}

type envelopeAttribute struct {
	name     string
	required bool
	check    func(string) string // the reason the value is wrong, or ""
}

// envelopeAttributes are the context attributes CloudEvents 1.0 defines,
// the required ones first, in the order a problem is reported.
var envelopeAttributes = []envelopeAttribute{
	{"specversion", true, func(v string) string {
		if v != "1.0" && v != "0.3" {
			return unsupportedSpecVersion(v)
		}
		return ""
	}},
	{"id", true, nonEmpty},
	{"source", true, func(v string) string {
		if v == "" {
			return "MUST be a non-empty URI-reference"
		}
		if _, err := url.Parse(v); err != nil {
			return fmt.Sprintf("%q is not a URI-reference", abbreviate(v))
		}
		return ""
	}},
	{"type", true, nonEmpty},
	// Checked no stricter than the SDK reads them: the first problem
	// found must be the one that made it fail.
	{"datacontenttype", false, func(string) string { return "" }},
	{"dataschema", false, func(v string) string {
		if _, err := url.Parse(v); err != nil {
			return fmt.Sprintf("%q is not a URI", abbreviate(v))
		}
		return ""
	}},
	{"subject", false, func(string) string { return "" }},
	{"time", false, func(v string) string {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Sprintf("%q is not an RFC 3339 timestamp (e.g. 2026-12-06T10:00:00Z)", abbreviate(v))
		}
		return ""
	}},
}

func nonEmpty(v string) string {
	if v == "" {
		return "MUST be a non-empty string"
	}
	return ""
}

func knownAttribute(name string) bool {
	for _, a := range envelopeAttributes {
		if a.name == name {
			return true
		}
	}
	return false
}

// validExtensionName is CloudEvents' rule: lowercase ASCII letters and
// digits.
func validExtensionName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

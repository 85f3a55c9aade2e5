package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"

	"orderflow.dev/knlocal/cedecode"
)

// Extensions of a dead letter that carries the original Kafka record
// rather than the event it claimed to be (orderflow's, not Knative's).
const (
	// RecordExtension holds the record exactly, as JSON:
	// {"key": base64|null, "headers": [[base64 name, base64 value], ...],
	// "nullValue": true when the value was null}. The value itself is the
	// event's data. With it `orderflow dlq replay --to topic` writes back
	// the very record that was refused, byte for byte.
	RecordExtension = "orderflowrecord"
	// AsRecordExtension says why the dead letter carries the record.
	AsRecordExtension = "orderflowasrecord"
	// Base64Extension lists (space-separated) the extensions whose values
	// are the base64 of the original bytes, because those bytes could not
	// travel as an HTTP header (control characters, non-ASCII, invalid
	// UTF-8, leading or trailing blanks).
	Base64Extension = "orderflowbase64"
	// ErrorExtension is the plane's own account of a failure it saw
	// without a response to show for it (no answer, an event that cannot
	// be sent as an HTTP request), next to knativeerrordest.
	ErrorExtension = "orderflowerror"
)

// maxCarriedHeaderBytes bounds what an event may put in HTTP headers. Go's
// servers (the functions', the KafkaSink ingress) refuse more than 1 MiB of
// headers with 431; a quarter of that leaves room for everything else.
const maxCarriedHeaderBytes = 256 << 10

// CarryError reports why e cannot travel as a binary-mode HTTP request and
// be read back on the other side as the same event, or nil when it can.
// The dead-letter path asks this before it sends: an event that fails here
// would be refused by any dead-letter sink, forever, so the dead letter
// carries the original record instead (RecordForm).
//
// What fails: an event that does not validate; a datacontenttype naming a
// CloudEvents format (application/cloudevents+json and the like), which
// makes every receiver read the body as a structured event; an attribute
// or extension value that is not a legal HTTP header value (control
// characters) or that a server would trim (leading or trailing blanks);
// headers larger than a server accepts.
func CarryError(e event.Event) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("not a valid CloudEvent: %w", err)
	}
	if ct := e.DataContentType(); ct != "" && format.Lookup(ct) != nil {
		return fmt.Errorf("datacontenttype %q names a CloudEvents format, so a receiver reads the body as a structured event", ct)
	}
	req, err := http.NewRequest(http.MethodPost, "http://carry.check/", nil)
	if err != nil {
		return err
	}
	if err := writeBinary(context.Background(), req, &e); err != nil {
		return err
	}
	if err := checkHeaders(req.Header); err != nil {
		return err
	}
	// What a server hands its handler: values trimmed of surrounding
	// blanks (net/textproto does this).
	got := http.Header{}
	for k, vs := range req.Header {
		for _, v := range vs {
			got.Add(k, strings.Trim(v, " \t"))
		}
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	msg := cehttp.NewMessage(got, io.NopCloser(bytes.NewReader(body)))
	if msg.ReadEncoding() != binding.EncodingBinary {
		return errors.New("a receiver would not read it as a binary-mode event")
	}
	back, err := cedecode.ToEvent(context.Background(), msg)
	if err != nil {
		return fmt.Errorf("a receiver could not decode it: %w", err)
	}
	if err := back.Validate(); err != nil {
		return fmt.Errorf("a receiver would read an invalid event: %w", err)
	}
	return sameEvent(e, *back)
}

// checkHeaders checks what a server would change or refuse in headers
// net/http sends (writeBinary checked that): values it trims, and more
// than it accepts.
func checkHeaders(h http.Header) error {
	size := 0
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names) // report the same header every time
	for _, k := range names {
		for _, v := range h[k] {
			size += len(k) + len(v) + 4
			if strings.Trim(v, " \t") != v {
				return fmt.Errorf("header %s starts or ends with a blank, which a server trims", k)
			}
		}
	}
	if size > maxCarriedHeaderBytes {
		return fmt.Errorf("%d bytes of headers, more than the %d a receiver is sure to accept", size, maxCarriedHeaderBytes)
	}
	return nil
}

// sameEvent compares what survives the HTTP binding: every attribute and
// extension as its canonical string (headers carry strings, so an int32
// extension comes back as a string), and the data bytes.
func sameEvent(want, got event.Event) error {
	attrs := func(e event.Event) map[string]string {
		m := map[string]string{"specversion": e.SpecVersion(), "id": e.ID(), "source": e.Source(), "type": e.Type(),
			"subject": e.Subject(), "datacontenttype": e.DataContentType(), "dataschema": e.DataSchema()}
		if !e.Time().IsZero() {
			m["time"] = types.FormatTime(e.Time())
		}
		for k, v := range e.Extensions() {
			s, err := types.Format(v)
			if err != nil {
				s = fmt.Sprint(v)
			}
			m["extension "+k] = s
		}
		return m
	}
	w, g := attrs(want), attrs(got)
	keys := make([]string, 0, len(w)+len(g))
	for k := range w {
		keys = append(keys, k)
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if w[k] != g[k] {
			return fmt.Errorf("%s would arrive as %q instead of %q", k, g[k], w[k])
		}
	}
	if !bytes.Equal(want.Data(), got.Data()) {
		return errors.New("data would not arrive unchanged")
	}
	return nil
}

// RecordCopy is the JSON of RecordExtension.
type RecordCopy struct {
	Key       []byte      `json:"key"`
	Headers   [][2][]byte `json:"headers,omitempty"`
	NullValue bool        `json:"nullValue,omitempty"`
}

// Original is a refused Kafka record exactly as it was written, as a
// record-form dead letter gives it back (OriginalOf).
type Original struct {
	Topic   string                `json:"topic"`
	Key     []byte                `json:"key"`
	Value   []byte                `json:"value"`
	Headers []sarama.RecordHeader `json:"headers,omitempty"`
}

// OriginalOf rebuilds the record a record-form dead letter carries
// (RecordForm): key and headers from RecordExtension, the value from the
// data, the topic from the source attribute
// (/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>).
func OriginalOf(e event.Event) (Original, error) {
	raw, _ := e.Extensions()[RecordExtension].(string)
	if raw == "" {
		return Original{}, fmt.Errorf("event %s carries no %s extension", e.ID(), RecordExtension)
	}
	var cp RecordCopy
	if err := json.Unmarshal([]byte(raw), &cp); err != nil {
		return Original{}, fmt.Errorf("%s of %s: %w", RecordExtension, e.ID(), err)
	}
	o := Original{Key: cp.Key, Value: e.Data()}
	if o.Value == nil && !cp.NullValue {
		o.Value = []byte{}
	}
	if cp.NullValue {
		o.Value = nil
	}
	for _, h := range cp.Headers {
		o.Headers = append(o.Headers, sarama.RecordHeader{Key: h[0], Value: h[1]})
	}
	if _, topic, ok := strings.Cut(e.Source(), "#"); ok && strings.Contains(e.Source(), "/kafkasources/") {
		o.Topic = topic
	}
	return o, nil
}

// RecordForm is the event a dead letter carries when the record cannot be
// carried as the CloudEvent it claims to be: the record the way Knative
// carries a plain one (id partition:<p>/offset:<o>, type
// dev.knative.kafka.event, key, partitionkey, kafkaheader<name>, the value
// as data), made safe to carry whatever the bytes were:
//
//   - a value that cannot be an HTTP header (see Base64Extension) is sent
//     as its base64 and listed in orderflowbase64;
//   - the content-type header becomes datacontenttype only when it is a
//     plain media type; otherwise it stays kafkaheadercontenttype;
//   - two headers that map to one extension name keep both (the second
//     gets a number), where Knative keeps the last;
//   - orderflowrecord holds key and headers exactly, for replay.
//
// CarryError(RecordForm(...)) is nil for any record whose headers fit
// maxCarriedHeaderBytes; FuzzRecordAlwaysSettles holds it to that.
func RecordForm(msg *sarama.ConsumerMessage, namespace, name string) event.Event {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(fmt.Sprintf("partition:%d/offset:%d", msg.Partition, msg.Offset))
	e.SetType(PlainEventType)
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/kafkasources/%s#%s", headerSafeOr(namespace, "-"), headerSafeOr(name, "-"), headerSafeOr(msg.Topic, "-")))
	e.SetSubject(fmt.Sprintf("partition:%d#%d", msg.Partition, msg.Offset))
	if !msg.Timestamp.IsZero() && msg.Timestamp.Year() > 0 && msg.Timestamp.Year() < 10000 {
		e.SetTime(msg.Timestamp.UTC())
	}
	var encoded []string
	set := func(ext string, v []byte) {
		if HeaderSafe(string(v)) {
			e.SetExtension(ext, string(v))
			return
		}
		e.SetExtension(ext, base64.StdEncoding.EncodeToString(v))
		encoded = append(encoded, ext)
	}
	cp := RecordCopy{Key: msg.Key, NullValue: msg.Value == nil}
	if msg.Key != nil {
		set(KeyExtension, msg.Key)
		set(PartitionKeyExtension, msg.Key)
	}
	used := map[string]bool{}
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		cp.Headers = append(cp.Headers, [2][]byte{h.Key, h.Value})
		if strings.EqualFold(string(h.Key), "content-type") && e.DataContentType() == "" && plainMediaType(string(h.Value)) {
			e.SetDataContentType(strings.ToLower(string(h.Value)))
			continue
		}
		ext := HeaderExtensionName(string(h.Key))
		for n := 2; used[ext]; n++ {
			ext = HeaderExtensionName(string(h.Key)) + strconv.Itoa(n)
		}
		used[ext] = true
		set(ext, h.Value)
	}
	if len(encoded) > 0 {
		e.SetExtension(Base64Extension, strings.Join(encoded, " "))
	}
	raw, _ := json.Marshal(cp) // []byte fields: base64, always ASCII
	e.SetExtension(RecordExtension, string(raw))
	if msg.Value != nil {
		e.DataEncoded = msg.Value
	}
	return e
}

// HeaderSafe reports whether v can travel as an HTTP header value and come
// back unchanged on any receiver: printable ASCII, no surrounding blanks.
// Stricter than Go's net/http, which also passes bytes above 0x7f, because
// receivers in other languages (Knative's Java data plane) decode header
// bytes differently.
func HeaderSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

func headerSafeOr(v, or string) string {
	if HeaderSafe(v) && v != "" {
		return v
	}
	return or
}

// plainMediaType: a content type a binary-mode receiver takes as the data's
// type: a valid RFC 2046 media type, header-safe, not a CloudEvents format.
func plainMediaType(ct string) bool {
	if !HeaderSafe(ct) || ct == "" || format.Lookup(ct) != nil {
		return false
	}
	_, _, err := mime.ParseMediaType(ct)
	return err == nil
}

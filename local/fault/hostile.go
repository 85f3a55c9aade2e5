package fault

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
)

// Hostile is a record a producer nobody here wrote might put in a topic:
// every shape HostileRecords makes is one that once could, or still might,
// stop a partition if the plane handled it carelessly.
type Hostile struct {
	Name    string // unique within a run: <shape>@<topic>
	Topic   string
	Key     []byte // nil: no key
	Value   []byte // nil: a tombstone
	Headers []sarama.RecordHeader
	CEID    string // the CloudEvent id it carries, if it carries one
}

// HostileType is the CloudEvents type of the hostile events that are
// CloudEvents: no function handles or ignores it.
const HostileType = "dev.orderflow.hostile.v1"

// DomainTopics are the topics the saga travels on.
func DomainTopics() []string {
	return []string{events.TopicCommands, events.TopicOrders, events.TopicInventory, events.TopicPayments, events.TopicNotifications}
}

// HostileRecords returns the hostile set for every domain topic; tag keeps
// keys and ids apart between runs.
func HostileRecords(tag string) []Hostile {
	var out []Hostile
	for _, topic := range DomainTopics() {
		for _, h := range hostileShapes(tag, topic) {
			h.Topic = topic
			h.Name += "@" + topic
			out = append(out, h)
		}
	}
	return out
}

func hostileShapes(tag, topic string) []Hostile {
	id := func(shape string) string { return fmt.Sprintf("%s-%s-%s", tag, topic, shape) }
	key := func(shape string) []byte { return []byte("hostile-" + id(shape)) }
	hd := func(kv ...string) []sarama.RecordHeader {
		var out []sarama.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return out
	}
	structured := hd("content-type", "application/cloudevents+json")
	binary := func(shape string, extra ...string) []sarama.RecordHeader {
		return hd(append([]string{"ce_specversion", "1.0", "ce_id", id(shape), "ce_source", "/hostile", "ce_type", HostileType}, extra...)...)
	}
	ce := func(shape, idJSON string) []byte {
		return []byte(fmt.Sprintf(`{"specversion":"1.0","id":%s,"source":"/hostile","type":%q,"datacontenttype":"application/json","data":{"hostile":true}}`, idJSON, HostileType))
	}
	return []Hostile{
		// A structured CloudEvent every function refuses: the record of the
		// issue that once held a partition forever.
		{Name: "structured-refused", Key: key("structured-refused"), Value: ce("s", fmt.Sprintf("%q", id("structured-refused"))), Headers: structured, CEID: id("structured-refused")},
		// Structured content type, but the body is no CloudEvent.
		{Name: "structured-garbage", Key: key("structured-garbage"), Value: []byte(`{"note":"not a cloudevent"`), Headers: structured},
		{Name: "batch", Key: key("batch"), Value: []byte(`[{"specversion":"1.0","id":"b","source":"/b","type":"t"}]`),
			Headers: hd("content-type", "application/cloudevents-batch+json")},
		// A valid CloudEvent whose id cannot be an HTTP header.
		{Name: "structured-newline-id", Key: key("structured-newline-id"), Value: ce("n", fmt.Sprintf("%q", id("structured-newline-id")+"\n2")),
			Headers: structured, CEID: id("structured-newline-id") + "\n2"},
		// Binary mode, an extension with a control character.
		{Name: "binary-control-char", Key: key("binary-control-char"), Value: []byte(`{}`), Headers: binary("binary-control-char", "ce_note", "a\x01b"),
			CEID: id("binary-control-char")},
		{Name: "binary-no-source", Key: key("binary-no-source"), Value: []byte(`{}`),
			Headers: hd("ce_specversion", "1.0", "ce_id", id("binary-no-source"), "ce_type", HostileType)},
		{Name: "binary-bad-specversion", Key: key("binary-bad-specversion"), Value: []byte(`{}`),
			Headers: hd("ce_specversion", "9.9", "ce_id", id("binary-bad-specversion"), "ce_source", "/hostile", "ce_type", HostileType)},
		// A data_base64 that is no string: sdk-go's structured reader
		// panicked on it, and on a KafkaSource's goroutine that ended the
		// plane (knlocal/cedecode).
		{Name: "structured-sdk-panic", Key: key("structured-sdk-panic"), Value: []byte(`{"specversion":"1.0","id":"p","source":"/hostile","type":"t","data_base64":5}`), Headers: structured},
		{Name: "bad-media-type", Key: key("bad-media-type"), Value: []byte("x"), Headers: hd("content-type", "]]not a media type[[")},
		{Name: "not-utf8", Key: append([]byte{0xff, 0xfe}, key("not-utf8")...), Value: []byte{0xc3, 0x28, 0xa0, 0xa1}},
		{Name: "tombstone", Key: key("tombstone"), Value: nil},
		{Name: "clashing-headers", Key: key("clashing-headers"), Value: []byte("x"), Headers: hd("X-A", "1", "x_a", "2", "Üñïcode", "ü", "ce_id", "not binary without specversion")},
		// As large as Kafka's default limit takes (1,048,588 bytes a
		// batch): its dead letter, the record plus the error extensions,
		// only fits because dead-letter topics allow more.
		{Name: "big", Key: key("big"), Value: bytes.Repeat([]byte("x"), 1_040_000), Headers: hd("content-type", "text/plain")},
	}
}

// SeenAs is the event a KafkaSource makes of the record.
func (h Hostile) SeenAs(namespace, sourceName string) (typ string, sendable bool) {
	msg := &sarama.ConsumerMessage{Topic: h.Topic, Key: h.Key, Value: h.Value}
	for i := range h.Headers {
		msg.Headers = append(msg.Headers, &h.Headers[i])
	}
	e, _ := source.ToEvent(msg, namespace, sourceName)
	return e.Type(), source.SendError(e) == nil
}

// Matches tells whether a dead letter carries this record: by the exact
// key of a record-form letter, by its CloudEvent id, or by the key
// extension of a converted plain record.
func (h Hostile) Matches(l dlq.Letter) bool {
	if l.Original != nil {
		return l.Original.Topic == h.Topic && bytes.Equal(l.Original.Key, h.Key) && h.Key != nil
	}
	if h.CEID != "" && l.Event.ID() == h.CEID {
		return true
	}
	k, ok := l.Event.Extensions()[source.KeyExtension].(string)
	return ok && h.Key != nil && k == string(h.Key) && strings.HasSuffix(l.Event.Source(), "#"+h.Topic)
}

// ExpectedHostileLetters: each hostile record reaches every KafkaSource
// reading its topic, and each dead-letters it, unless its function ignores
// that type on purpose (answers 200) and it can be sent at all. Keyed
// "<record> <function>".
func ExpectedHostileLetters(p *plane.Plane, hostile []Hostile) map[string]int {
	want := map[string]int{}
	for _, h := range hostile {
		eachReader(p, h.Topic, func(src manifests.KafkaSource, app *handler.App) {
			if typ, sendable := h.SeenAs(src.Namespace, src.Name); !sendable || !app.Ignores(typ) {
				want[h.Name+" "+src.Sink.Ref.Name]++
			}
		})
	}
	return want
}

// ProduceHostile writes the records with kcat (librdkafka, a client nobody
// here wrote) when it is installed, else with the plane's own producer;
// it says which.
func ProduceHostile(ctx context.Context, env *Env, hostile []Hostile) error {
	if _, err := exec.LookPath("kcat"); err == nil {
		fmt.Fprintf(env.Log, "   writing %d hostile records with kcat\n", len(hostile))
		for _, h := range hostile {
			if err := KcatProduce(ctx, env.Plane.Brokers, h); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Log, "   writing %d hostile records with sarama (kcat is not installed)\n", len(hostile))
	producer, err := sarama.NewSyncProducerFromClient(env.Kafka)
	if err != nil {
		return err
	}
	defer producer.Close()
	for _, h := range hostile {
		msg := &sarama.ProducerMessage{Topic: h.Topic, Headers: h.Headers}
		if h.Key != nil {
			msg.Key = sarama.ByteEncoder(h.Key)
		}
		if h.Value != nil {
			msg.Value = sarama.ByteEncoder(h.Value)
		}
		if _, _, err := producer.SendMessage(msg); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return nil
}

// KcatProduce writes one record with kcat: key, value and headers as
// given, a tombstone for a nil value. Records are delimited by 0x1e, which
// no hostile value holds, so values may carry newlines.
func KcatProduce(ctx context.Context, brokers []string, h Hostile) error {
	args := []string{"-b", strings.Join(brokers, ","), "-P", "-t", h.Topic, "-D", "\x1e", "-X", "message.max.bytes=2000000"}
	for _, hd := range h.Headers {
		args = append(args, "-H", string(hd.Key)+"="+string(hd.Value))
	}
	input := append(append([]byte(nil), h.Value...), 0x1e)
	switch {
	case h.Value == nil:
		// kcat skips an empty message unless it has a key (-K) and -Z
		// turns the empty value into NULL.
		args = append(args, "-K", "\x1f", "-Z")
		input = append(append(append([]byte(nil), h.Key...), 0x1f), 0x1e)
	case h.Key != nil:
		args = append(args, "-k", string(h.Key))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = bytes.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kcat %s: %v: %s", h.Name, err, out)
	}
	return nil
}

// injectHostile writes the hostile set twice during the run.
func injectHostile(ctx context.Context, env *Env) error {
	for round := 0; round < hostileRounds; round++ {
		if !sleep(ctx, 700*time.Millisecond) {
			return nil
		}
		if err := ProduceHostile(ctx, env, HostileRecords(fmt.Sprintf("faults%d", round))); err != nil {
			return err
		}
	}
	return nil
}

const hostileRounds = 2

func expectedHostileCount(env *Env) int {
	n := 0
	for round := 0; round < hostileRounds; round++ {
		for _, c := range ExpectedHostileLetters(env.Plane, HostileRecords(fmt.Sprintf("faults%d", round))) {
			n += c
		}
	}
	return n
}

package ce

import (
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"orderflow.dev/shared/tracing"
)

// What Knative's KafkaSource dispatcher (eventing-kafka-broker) puts on
// the events it delivers besides the record's own CloudEvent. On every
// event, CloudEvent records and plain ones alike: the partition and the
// offset the record was read at. On an event made from a plain record:
// its type, its key, and a source naming the topic after a '#'. It names
// the topic of a CloudEvent record nowhere (a knativekafkatopic extension
// was proposed to it and not taken).
const (
	KafkaPartition = "knativekafkapartition"
	KafkaOffset    = "knativekafkaoffset"
	// PlainKafkaType is the type of an event made from a plain record.
	PlainKafkaType = "dev.knative.kafka.event"
	// KafkaKey carries a plain record's key (besides partitionkey).
	KafkaKey = "key"
)

// Message is e as a messaging span records it: its id, the saga's
// correlation id as the conversation, and the record key, which is the
// partitionkey (KafkaSink keys the record with it, and the dispatcher sets
// it from the key of a plain record).
func Message(e event.Event) tracing.Message {
	m := tracing.Message{ID: e.ID(), Conversation: String(e, CorrelationID)}
	if k, ok := e.Extensions()[PartitionKey]; ok {
		m.Key, m.HasKey = stringOf(k), true
	}
	return m
}

// Delivered is e as a messaging span of its consumer records it: Message,
// plus where Knative's dispatcher read it, as far as the event says: the
// partition and offset, and the topic of a plain record. The topic of a
// CloudEvent record is left to the caller to know.
func Delivered(e event.Event) tracing.Message {
	m := Message(e)
	x := e.Extensions()
	if p, ok := x[KafkaPartition]; ok {
		if n, err := strconv.ParseInt(stringOf(p), 10, 32); err == nil && n >= 0 {
			m.Partition = tracing.PartitionID(int32(n))
		}
	}
	if o, ok := x[KafkaOffset]; ok {
		if n, err := strconv.ParseInt(stringOf(o), 10, 64); err == nil && n >= 0 {
			m.Offset, m.HasOffset = n, true
		}
	}
	if e.Type() == PlainKafkaType {
		if i := strings.LastIndexByte(e.Source(), '#'); i >= 0 && i+1 < len(e.Source()) {
			m.Topic = e.Source()[i+1:]
		}
	}
	return m
}

// stringOf is an extension value as text: a string as it is, anything
// else (an integer set in-process) as the SDK formats it.
func stringOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	s, err := types.Format(v)
	if err != nil {
		return ""
	}
	return s
}

package source

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/cedecode"
)

// Attributes of the events made from plain records, as Knative's
// InvalidCloudEventInterceptor (eventing-kafka-broker data-plane
// dispatcher) builds them.
const (
	// PlainEventType is the type of an event made from a plain record.
	PlainEventType = "dev.knative.kafka.event"
	// KeyExtension carries the record key (besides partitionkey).
	KeyExtension = "key"
	// PartitionKeyExtension is the CloudEvents partitioning extension,
	// which the dispatcher sets from a plain record's key (and KafkaSink
	// keys a record by).
	PartitionKeyExtension = "partitionkey"
	// HeaderExtensionPrefix prefixes each record header turned extension.
	HeaderExtensionPrefix = "kafkaheader"
)

// ToEvent converts a consumed record into the event a KafkaSource
// delivers; passthrough reports whether the record already was a
// CloudEvent.
//
// A record that is a CloudEvent in the Kafka protocol binding (binary: a
// ce_specversion header; structured: content-type
// application/cloudevents+json) passes through as it is. If it does not
// decode or validate, it is treated as a plain record, as Knative does
// (its deserializer wraps the failure in InvalidCloudEvent).
//
// A plain record becomes:
//
//	id       partition:<p>/offset:<o>
//	type     dev.knative.kafka.event
//	source   /apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>
//	subject  partition:<p>#<o>
//	time     the record timestamp (UTC; left out if the record has none)
//	key, partitionkey   the record key as a string, when there is a key
//	kafkaheader<name>   each header's value as a UTF-8 string, <name>
//	                    being the header name lower-cased with every
//	                    character but a-z and 0-9 removed (so "X-Trace_Id"
//	                    gives kafkaheaderxtraceid); when two headers map to
//	                    one name the later wins
//	datacontenttype     the content-type header, lower-cased, which is
//	                    not also turned into an extension
//	data     the record value, as bytes
//
// This is the behaviour of InvalidCloudEventInterceptor.validRecord and
// replaceBadChars in knative-extensions/eventing-kafka-broker (the header
// mapping is checked against that source, not just the docs).
func ToEvent(msg *sarama.ConsumerMessage, namespace, name string) (e event.Event, passthrough bool) {
	if ev, ok := asCloudEvent(msg); ok {
		return ev, true
	}
	return plainEvent(msg, namespace, name), false
}

// asCloudEvent decodes a record in the CloudEvents Kafka binding.
//
// It builds the binding message with kafka_sarama.NewMessage rather than
// NewMessageFromConsumerMessage: the latter adds ce_kafkaoffset,
// ce_kafkapartition and ce_kafkatopic headers, which would turn into
// extensions the event never had and break "passes through as is".
func asCloudEvent(msg *sarama.ConsumerMessage) (event.Event, bool) {
	headers := make(map[string][]byte, len(msg.Headers))
	contentType := ""
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		k := strings.ToLower(string(h.Key))
		if k == "content-type" {
			contentType = string(h.Value)
		}
		headers[k] = h.Value
	}
	m := kafka_sarama.NewMessage(msg.Value, contentType, headers)
	if m.ReadEncoding() == binding.EncodingUnknown {
		return event.Event{}, false
	}
	ev, err := cedecode.ToEvent(context.Background(), m)
	if err != nil || ev.Validate() != nil {
		return event.Event{}, false
	}
	return *ev, true
}

func plainEvent(msg *sarama.ConsumerMessage, namespace, name string) event.Event {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(fmt.Sprintf("partition:%d/offset:%d", msg.Partition, msg.Offset))
	e.SetType(PlainEventType)
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/kafkasources/%s#%s", namespace, name, msg.Topic))
	e.SetSubject(fmt.Sprintf("partition:%d#%d", msg.Partition, msg.Offset))
	if !msg.Timestamp.IsZero() {
		e.SetTime(msg.Timestamp.UTC())
	}
	if msg.Key != nil {
		e.SetExtension(KeyExtension, string(msg.Key))
		e.SetExtension(PartitionKeyExtension, string(msg.Key))
	}
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		if strings.EqualFold(string(h.Key), "content-type") {
			e.SetDataContentType(strings.ToLower(string(h.Value)))
			continue
		}
		e.SetExtension(HeaderExtensionName(string(h.Key)), string(h.Value))
	}
	if msg.Value != nil {
		e.DataEncoded = msg.Value
	}
	return e
}

// HeaderExtensionName is the extension a record header becomes:
// "kafkaheader" + the name lower-cased, keeping only a-z and 0-9 (the
// characters CloudEvents allows in extension names).
func HeaderExtensionName(header string) string {
	var b strings.Builder
	b.WriteString(HeaderExtensionPrefix)
	for _, r := range strings.ToLower(header) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The extensions Knative's dispatcher adds to every event it delivers,
// CloudEvent records and plain ones alike: where the record was read. They
// stay on the event's dead letter.
const (
	PartitionExtension = "knativekafkapartition"
	OffsetExtension    = "knativekafkaoffset"
)

// setPosition adds the record's partition and offset to e, as Knative's
// dispatcher does.
func setPosition(e *event.Event, msg *sarama.ConsumerMessage) {
	e.SetExtension(PartitionExtension, strconv.Itoa(int(msg.Partition)))
	e.SetExtension(OffsetExtension, strconv.FormatInt(msg.Offset, 10))
}

// applyOverrides sets spec.ceOverrides.extensions on e, as Knative's
// CloudEventOverridesMutator does for every event, pass-through or not.
func applyOverrides(e *event.Event, ext map[string]string) {
	for k, v := range ext {
		e.SetExtension(k, v)
	}
}

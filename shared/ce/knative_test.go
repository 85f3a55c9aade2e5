package ce_test

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
)

// A delivered event says where Knative's dispatcher read it: partition and
// offset always, the topic only for a plain record; values that are not
// numbers are left out rather than guessed.
func TestDelivered(t *testing.T) {
	for _, tt := range []struct {
		name              string
		typ, source       string
		ext               map[string]any
		topic, partition  string
		offset            int64
		hasOffset, hasKey bool
		key               string
	}{
		{name: "CloudEvent record", typ: "dev.orderflow.order.created.v2", source: "orderflow/order",
			ext:       map[string]any{ce.KafkaPartition: "5", ce.KafkaOffset: "1234567890123", ce.PartitionKey: "ord-1"},
			partition: "5", offset: 1234567890123, hasOffset: true, hasKey: true, key: "ord-1"},
		{name: "plain record", typ: ce.PlainKafkaType, source: "/apis/v1/namespaces/ns/kafkasources/src#legacy.topic",
			ext:   map[string]any{ce.KafkaPartition: int32(0), ce.KafkaOffset: "0", ce.KafkaKey: "k", ce.PartitionKey: "k"},
			topic: "legacy.topic", partition: "0", hasOffset: true, hasKey: true, key: "k"},
		{name: "plain record without a topic after #", typ: ce.PlainKafkaType, source: "/apis/v1/namespaces/ns/kafkasources/src#"},
		{name: "not numbers", typ: "t", source: "s", ext: map[string]any{ce.KafkaPartition: "-1", ce.KafkaOffset: "x"}},
		{name: "not delivered by a KafkaSource", typ: "t", source: "s#not-a-topic"},
	} {
		e := event.New()
		e.SetID("id-1")
		e.SetType(tt.typ)
		e.SetSource(tt.source)
		for k, v := range tt.ext {
			e.SetExtension(k, v)
		}
		m := ce.Delivered(e)
		if m.Topic != tt.topic || m.Partition != tt.partition || m.Offset != tt.offset || m.HasOffset != tt.hasOffset ||
			m.HasKey != tt.hasKey || m.Key != tt.key || m.ID != "id-1" {
			t.Errorf("%s: %+v", tt.name, m)
		}
	}
}

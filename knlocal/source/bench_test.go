package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
)

// The dispatch rate of a KafkaSource against what bounds it: the same
// records read raw by a sarama consumer (Kafka's own rate here), and
// delivered as CloudEvents over HTTP to a subscriber that does nothing.
// `go test -run XXX -bench Dispatch ./source/` reports events/s for each.

const benchPartitions = 6

func benchTopic(b *testing.B, n int) (servers []string, cfg *sarama.Config, topic string) {
	b.Helper()
	c, err := broker.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	cfg, err = broker.SaramaConfig()
	if err != nil {
		b.Fatal(err)
	}
	servers = c.BootstrapServers()
	if err := broker.WaitReady(context.Background(), servers, cfg, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(servers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	topic = fmt.Sprintf("bench.%d", time.Now().UnixNano())
	if _, err := broker.EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{{Name: topic, TopicName: topic, Partitions: benchPartitions, Replicas: 1}}); err != nil {
		b.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(servers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	var msgs []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		e := event.New()
		e.SetID(fmt.Sprint(i))
		e.SetType("dev.orderflow.bench.v1")
		e.SetSource("/bench")
		e.SetExtension("partitionkey", fmt.Sprintf("o-%d", i%97))
		_ = e.SetData(event.ApplicationJSON, map[string]int{"i": i})
		m, err := sink.ProducerMessage(context.Background(), &e, manifests.KafkaSink{Topic: topic, ContentMode: manifests.ContentModeBinary})
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
		if len(msgs) == 500 {
			if err := producer.SendMessages(msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	if len(msgs) > 0 {
		if err := producer.SendMessages(msgs); err != nil {
			b.Fatal(err)
		}
	}
	return servers, cfg, topic
}

func BenchmarkDispatchRawConsume(b *testing.B) {
	servers, cfg, topic := benchTopic(b, b.N)
	consumer, err := sarama.NewConsumer(servers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	b.ResetTimer()
	var got atomic.Int64
	done := make(chan struct{})
	for p := int32(0); p < benchPartitions; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for range pc.Messages() {
				if got.Add(1) == int64(b.N) {
					close(done)
				}
			}
		}()
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchSource(b *testing.B, ordering string) {
	servers, cfg, topic := benchTopic(b, b.N)
	var got atomic.Int64
	done := make(chan struct{})
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == int64(b.N) {
			close(done)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sub.Close()
	spec := manifests.KafkaSource{Name: "bench", Namespace: "orderflow", Topics: []string{topic}, ConsumerGroup: "bench-" + ordering,
		InitialOffset: manifests.OffsetEarliest, Ordering: ordering, Consumers: 1,
		Delivery: manifests.Delivery{Retry: 1, BackoffPolicy: manifests.BackoffLinear, BackoffDelay: time.Millisecond, Timeout: 10 * time.Second},
		Sink:     manifests.Destination{URI: sub.URL}}
	src, err := New(spec, servers, func(context.Context, manifests.Destination) (string, error) { return sub.URL, nil }, WithSaramaConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	go func() { _ = src.Run(ctx) }()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDispatchOrderedToNoopHTTP(b *testing.B)   { benchSource(b, manifests.OrderingOrdered) }
func BenchmarkDispatchUnorderedToNoopHTTP(b *testing.B) { benchSource(b, manifests.OrderingUnordered) }

package ceiling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
)

// Kafka says where and how hard to measure Kafka.
type Kafka struct {
	// Servers of an existing Kafka; none starts an embedded broker for the
	// measurement alone.
	Servers []string
	// Topic is the scratch topic's shape (its name is made up here): the
	// saga topics' partitions and replicas. It is created first and
	// deleted after.
	Partitions int32
	Replicas   int16
	// Producers call SendMessage at once on one producer, as the
	// ingress's handlers share the plane's.
	Producers int
	// Readers each read every record, as every KafkaSource reading a topic
	// reads all of it.
	Readers int
}

// MeasureKafka measures a raw produce (a sync producer built from
// broker.SaramaConfig: acks=all, idempotent, one request in flight) for d,
// then the raw consume of those records by k.Readers partition consumers
// at once, for d at the most.
func MeasureKafka(ctx context.Context, k Kafka, d time.Duration, progress Progress) (produce, consume Rate, err error) {
	servers := k.Servers
	if len(servers) == 0 {
		cluster, err := broker.Start()
		if err != nil {
			return produce, consume, err
		}
		defer cluster.Close()
		servers = cluster.BootstrapServers()
	}
	cfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithClientID("orderflow-ceiling"))
	if err != nil {
		return produce, consume, err
	}
	if err := broker.WaitReady(ctx, servers, cfg, 30*time.Second); err != nil {
		return produce, consume, err
	}
	topic, cleanup, err := scratchTopic(ctx, servers, cfg, k, len(k.Servers) == 0)
	if err != nil {
		return produce, consume, err
	}
	defer cleanup()
	// The readers join before anything is produced, and wait paused: what
	// a KafkaSource does once in its life (connect, look up offsets) is
	// not in the consume rate, and neither is a fetch done while the
	// producer was being measured.
	rs, err := openReaders(ctx, servers, cfg, topic, k.Partitions, k.Readers)
	if err != nil {
		return produce, consume, err
	}
	defer rs.close()
	producer, err := sarama.NewSyncProducer(servers, cfg)
	if err != nil {
		return produce, consume, fmt.Errorf("kafka producer on %s: %w", strings.Join(servers, ","), err)
	}
	defer producer.Close()
	record, err := sampleRecord(ctx, topic)
	if err != nil {
		return produce, consume, err
	}
	if produce, err = measureProduce(ctx, producer, record, k.Producers, d, progress); err != nil {
		return produce, consume, err
	}
	// A slow broker (Apache Kafka, acks=all) takes few records in d: so
	// few that a reader would have them all from its first fetch, and the
	// rate would be that of reading memory. Batches, not measured, bring
	// the count up.
	available := produce.Ops
	if available < minConsumeRecords {
		if err := topUp(producer, record, minConsumeRecords-available); err != nil {
			return produce, consume, err
		}
		available = minConsumeRecords
	}
	consume, err = rs.measure(ctx, available, d, progress)
	return produce, consume, err
}

// minConsumeRecords is the least the readers are given to read: a few
// fetches of every partition.
const minConsumeRecords = 50_000

// sampleRecord is the record the ingress would write for the sample event.
func sampleRecord(ctx context.Context, topic string) (*sarama.ProducerMessage, error) {
	e := event.New()
	e.SetID("ceiling")
	e.SetSource("/orderflow/ceiling")
	e.SetType("dev.orderflow.ceiling.v1")
	if err := e.SetData(event.ApplicationJSON, sampleEvent); err != nil {
		return nil, err
	}
	return sink.ProducerMessage(ctx, &e, manifests.KafkaSink{Topic: topic, ContentMode: manifests.ContentModeBinary})
}

// keyed is a copy of the sample record with a key of its own, so records
// spread over partitions as orders do.
func keyed(record *sarama.ProducerMessage, key string) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: record.Topic, Headers: record.Headers, Value: record.Value, Key: sarama.StringEncoder(key)}
}

// topUp writes n more sample records in batches.
func topUp(producer sarama.SyncProducer, record *sarama.ProducerMessage, n int64) error {
	const batch = 1000
	for sent := int64(0); sent < n; {
		msgs := make([]*sarama.ProducerMessage, 0, batch)
		for ; sent < n && len(msgs) < batch; sent++ {
			msgs = append(msgs, keyed(record, fmt.Sprintf("ceiling-top-up-%d", sent%64)))
		}
		if err := producer.SendMessages(msgs); err != nil {
			return fmt.Errorf("ceiling: records for the consume: %w", err)
		}
	}
	return nil
}

// scratchTopic creates a topic of its own for the measurement and returns
// the function that deletes it.
func scratchTopic(ctx context.Context, servers []string, cfg *sarama.Config, k Kafka, embedded bool) (string, func(), error) {
	admin, err := sarama.NewClusterAdmin(servers, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("kafka %s: %w", strings.Join(servers, ","), err)
	}
	name := fmt.Sprintf("orderflow.ceiling.%d", time.Now().UnixNano())
	var opts []broker.TopicOption
	if embedded {
		opts = append(opts, broker.CapReplication())
	}
	spec := manifests.KafkaTopic{Name: name, TopicName: name, Partitions: k.Partitions, Replicas: k.Replicas}
	if _, err := broker.EnsureTopics(ctx, admin, []manifests.KafkaTopic{spec}, opts...); err != nil {
		admin.Close()
		return "", nil, err
	}
	return name, func() {
		_ = admin.DeleteTopic(name)
		admin.Close()
	}, nil
}

// measureProduce has producers goroutines send the record, each with a
// key of its own, one at a time through one producer.
func measureProduce(ctx context.Context, producer sarama.SyncProducer, record *sarama.ProducerMessage, producers int, d time.Duration, progress Progress) (Rate, error) {
	return saturate(ctx, KafkaProduce, d, producers, progress, func(_ context.Context, worker int, n int64) error {
		_, _, err := producer.SendMessage(keyed(record, fmt.Sprintf("ceiling-%d-%d", worker, n%64)))
		return err
	})
}

// readers read every partition of the topic from its start, each with a
// client (so connections) of its own.
type readers struct {
	clients    []sarama.Client
	consumers  []sarama.Consumer
	partitions []sarama.PartitionConsumer
}

// openReaders starts n readers of the empty topic, paused.
func openReaders(ctx context.Context, servers []string, cfg *sarama.Config, topic string, partitions int32, n int) (*readers, error) {
	if n < 1 {
		return nil, fmt.Errorf("ceiling: %s: %d readers", KafkaConsume, n)
	}
	rs := &readers{}
	for range n {
		client, err := sarama.NewClient(servers, cfg)
		if err != nil {
			rs.close()
			return nil, fmt.Errorf("kafka %s: %w", strings.Join(servers, ","), err)
		}
		rs.clients = append(rs.clients, client)
		c, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			rs.close()
			return nil, err
		}
		rs.consumers = append(rs.consumers, c)
		for p := range partitions {
			pc, err := consumePartition(ctx, client, c, topic, p)
			if err != nil {
				rs.close()
				return nil, err
			}
			rs.partitions = append(rs.partitions, pc)
		}
		c.PauseAll()
	}
	// A fetch sent before the pause returns within MaxWaitTime: let it,
	// before anything is produced.
	time.Sleep(2 * cfg.Consumer.MaxWaitTime)
	return rs, nil
}

// consumePartition reads a partition from its start. A topic just created
// on Apache Kafka may not have its leaders in every broker's metadata yet:
// the client asks again for a while.
func consumePartition(ctx context.Context, client sarama.Client, c sarama.Consumer, topic string, partition int32) (sarama.PartitionConsumer, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pc, err := c.ConsumePartition(topic, partition, sarama.OffsetOldest)
		if err == nil {
			return pc, nil
		}
		if !errors.Is(err, sarama.ErrNotLeaderForPartition) && !errors.Is(err, sarama.ErrLeaderNotAvailable) &&
			!errors.Is(err, sarama.ErrUnknownTopicOrPartition) || time.Now().After(deadline) {
			return nil, fmt.Errorf("consume %s/%d: %w", topic, partition, err)
		}
		_ = client.RefreshMetadata(topic)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (rs *readers) close() {
	for _, pc := range rs.partitions {
		_ = pc.Close() // drains what was fetched and not read
	}
	for _, c := range rs.consumers {
		c.Close()
	}
	for _, client := range rs.clients {
		client.Close()
	}
}

// measure resumes the readers and counts the records they read until
// each has read them all, or d has passed since the first arrived. The
// rate is taken after the first tenth: before it, the readers wake from
// their pause (sarama looks again every 100ms) and send their first
// fetches, which a KafkaSource that runs does not wait for.
func (rs *readers) measure(ctx context.Context, produced int64, d time.Duration, progress Progress) (Rate, error) {
	if produced == 0 {
		return Rate{}, errors.New("ceiling: nothing was produced to consume")
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	total := produced * int64(len(rs.consumers))
	warmUp := total / 10
	var read atomic.Int64
	// Each closes when the count reaches it; its time is then set.
	first, warm, allRead := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var firstAt, warmAt time.Time
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	var wg sync.WaitGroup
	for _, pc := range rs.partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case _, ok := <-pc.Messages():
					if !ok { // the consumer closed itself (a fatal error, sent to Errors)
						fail(fmt.Errorf("reading a partition: its consumer closed: %w", kafkalog.ClosedError(pc)))
						return
					}
					n := read.Add(1)
					if n == 1 {
						firstAt = time.Now()
						close(first)
					}
					if n == max(warmUp, 1) {
						warmAt = time.Now()
						close(warm)
					}
					if n == total {
						close(allRead)
					}
				case err, ok := <-pc.Errors():
					if !ok {
						fail(errors.New("reading a partition: its consumer closed"))
						return
					}
					fail(err)
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	start := time.Now()
	stopReporting := reportProgress(KafkaConsume, start, &read, progress)
	for _, c := range rs.consumers {
		c.ResumeAll()
	}
	select {
	case <-first:
		timer := time.NewTimer(d)
		select {
		case <-allRead:
		case <-timer.C: // the rate is what was read by then
		case <-ctx.Done():
		}
		timer.Stop()
	case <-time.After(30 * time.Second):
		fail(errors.New("no record arrived within 30s"))
	case <-ctx.Done():
	}
	end, n := time.Now(), read.Load()
	cancel()
	wg.Wait()
	stopReporting()
	if err := parent.Err(); err != nil {
		return Rate{}, err
	}
	if firstErr != nil {
		return Rate{}, fmt.Errorf("ceiling: %s: %w", KafkaConsume, firstErr)
	}
	r := Rate{Primitive: KafkaConsume, Ops: n - 1, Seconds: end.Sub(firstAt).Seconds(), Concurrency: len(rs.consumers)}
	select {
	case <-warm:
		if n > warmUp {
			r.Ops, r.Seconds = n-warmUp, end.Sub(warmAt).Seconds()
		}
	default: // too slow to pass the warm-up in d: the rate since the first record is all there is
	}
	if progress != nil {
		progress(KafkaConsume, time.Duration(r.Seconds*float64(time.Second)), r.Ops) // the window measured, as the results hold it
	}
	return r, nil
}

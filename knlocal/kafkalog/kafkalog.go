// Package kafkalog reads topics as the audit log they are: every record
// from the oldest offset up to the end as of the call, decoded as the
// CloudEvent it carries. It joins no consumer group and commits nothing,
// so reading never disturbs the functions' sources.
package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/cedecode"
)

// Record is one Kafka record and, when it holds one, its CloudEvent.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Timestamp time.Time
	Event     *event.Event // nil when the record is not a CloudEvent
	Raw       *sarama.ConsumerMessage
}

// Decode turns a record into a CloudEvent when it is one (binary ce_
// headers or structured JSON).
func Decode(m *sarama.ConsumerMessage) *event.Event {
	msg := kafka_sarama.NewMessageFromConsumerMessage(m)
	if msg.ReadEncoding() == binding.EncodingUnknown {
		return nil
	}
	e, err := cedecode.ToEvent(context.Background(), msg)
	if err != nil {
		return nil
	}
	return e
}

// ReadAll returns every record of the topics, per partition in offset
// order, up to each partition's end at the time of the call.
func ReadAll(ctx context.Context, client sarama.Client, topics ...string) ([]Record, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var (
		mu   sync.Mutex
		out  []Record
		errs []error
		wg   sync.WaitGroup
	)
	for _, topic := range topics {
		parts, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", topic, p, err)
			}
			start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", topic, p, err)
			}
			if end <= start {
				continue
			}
			wg.Add(1)
			go func(topic string, p int32, start, end int64) {
				defer wg.Done()
				recs, err := readPartition(ctx, consumer, topic, p, start, end)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				out = append(out, recs...)
			}(topic, p, start, end)
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, nil
}

func readPartition(ctx context.Context, consumer sarama.Consumer, topic string, p int32, start, end int64) ([]Record, error) {
	var out []Record
	err := ReadRange(ctx, consumer, topic, p, start, end, func(r Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ReadRange hands fn every record of one partition from offset start up to
// (not including) end, in offset order, and stops at fn's first error.
func ReadRange(ctx context.Context, consumer sarama.Consumer, topic string, p int32, start, end int64, fn func(Record) error) error {
	if end <= start {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		return fmt.Errorf("topic %s partition %d: %w", topic, p, err)
	}
	defer pc.Close()
	read := int64(0)
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok { // the consumer closed itself (a fatal error: the offset left the log, say)
				return fmt.Errorf("reading %s/%d: its consumer closed at %d of %d: %w", topic, p, read, end-start, ClosedError(pc))
			}
			read++
			if err := fn(Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
				Timestamp: m.Timestamp, Event: Decode(m), Raw: m}); err != nil {
				return err
			}
			if m.Offset+1 >= end {
				return nil
			}
		case err, ok := <-pc.Errors():
			if !ok {
				return fmt.Errorf("reading %s/%d: its consumer closed at %d of %d", topic, p, read, end-start)
			}
			return fmt.Errorf("reading %s/%d: %w", topic, p, err)
		case <-ctx.Done():
			return fmt.Errorf("reading %s/%d: %w (at %d of %d)", topic, p, ctx.Err(), read, end-start)
		}
	}
}

// consumePartition starts a partition consumer, waiting out the errors a
// cluster gives while its metadata settles (a partition whose leader just
// moved, or a topic a restarted broker has not learnt of yet): the client's
// metadata is refreshed and the start retried for up to 30 seconds. Any
// other error, or the same one after that, is returned as it is.
func consumePartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32, start int64) (sarama.PartitionConsumer, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pc, err := consumer.ConsumePartition(topic, p, start)
		if err == nil || !settling(err) || time.Now().After(deadline) {
			return pc, err
		}
		_ = client.RefreshMetadata(topic)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// settling reports the errors a partition gives while leadership moves.
func settling(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrUnknownTopicOrPartition) ||
		errors.Is(err, sarama.ErrOffsetNotAvailable)
}

// ClosedError is why a partition consumer whose messages channel closed
// ended: the error it sent last, when one is left to read (a consumer
// closes itself on errors it cannot retry, such as an offset no longer
// in the log).
func ClosedError(pc sarama.PartitionConsumer) error {
	var last error
	for err := range pc.Errors() {
		if err != nil {
			last = err
		}
	}
	if last == nil {
		return errors.New("it gave no error")
	}
	return last
}

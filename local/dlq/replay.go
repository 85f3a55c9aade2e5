package dlq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/local/client"
	"orderflow.dev/shared/events"
)

// Row is a dead letter with its id and the function whose dead-letter
// topic holds it.
type Row struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	Letter
}

// Read returns the dead letters of the given functions (all when only is
// empty), oldest first. topics maps each function to its dead-letter
// topic, as plane.Endpoints.DLQTopics does.
func Read(ctx context.Context, kc sarama.Client, topics map[string]string, only []string) ([]Row, error) {
	fnOf := map[string]string{} // topic -> function
	for fn, topic := range topics {
		fnOf[topic] = fn
	}
	var want []string
	for _, fn := range only {
		t, ok := topics[fn]
		if !ok {
			return nil, NoTopicFor(fn, topics)
		}
		want = append(want, t)
	}
	if len(want) == 0 {
		want = slices.Sorted(maps.Keys(fnOf))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	recs, err := kafkalog.ReadAll(ctx, kc, want...)
	if err != nil {
		return nil, err
	}
	var out []Row
	for _, r := range recs {
		if l, ok := FromRecord(r); ok {
			fn := fnOf[r.Topic]
			out = append(out, Row{ID: ID(fn, l), Function: fn, Letter: l})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// NoTopicFor is the error for a function that has no dead-letter topic
// among topics (function -> topic): an argument naming nothing.
func NoTopicFor(fn string, topics map[string]string) error {
	return argumentError("no dead-letter topic for %q (functions: %s)", fn, strings.Join(slices.Sorted(maps.Keys(topics)), ", "))
}

// Find returns the dead letter with the given id.
func Find(ctx context.Context, kc sarama.Client, topics map[string]string, id string) (Row, error) {
	fn, partition, offset, err := ParseID(id)
	if err != nil {
		return Row{}, err
	}
	letters, err := Read(ctx, kc, topics, []string{fn})
	if err != nil {
		return Row{}, err
	}
	for _, l := range letters {
		if l.Partition == partition && l.Offset == offset {
			return l, nil
		}
	}
	return Row{}, fmt.Errorf("%w: %s (purged, or never there; `orderflow dlq list %s` shows what is)", ErrNoLetter, id, fn)
}

// ErrNoLetter: no dead letter has the id asked for.
var ErrNoLetter = errors.New("no dead letter")

// Where a replay sends the event.
const (
	// ToDestination POSTs it to where delivery failed (knativeerrordest):
	// only that function sees it again.
	ToDestination = "destination"
	// ToTopic writes it back to the topic it came from, for every
	// consumer group to read again.
	ToTopic = "topic"
)

// Replayer sends dead letters again: `orderflow dlq replay` and the
// dashboard's replay button both go through Replay.
type Replayer struct {
	// HTTP sends to the destination; Producer (needed for ToTopic only)
	// writes back to the topic.
	HTTP     *client.Client
	Producer sarama.SyncProducer
	// MaxReplays refuses an event already replayed this many times.
	MaxReplays int
}

// Replay sends one letter's event again, to ToDestination or ToTopic.
func (r Replayer) Replay(ctx context.Context, l Letter, to string) error {
	e, err := ForReplay(l, r.MaxReplays)
	if err != nil {
		return err
	}
	switch {
	case to == ToDestination:
		return r.HTTP.Send(ctx, l.Dest, e)
	case to != ToTopic:
		return fmt.Errorf("replay to %q: want %s or %s", to, ToDestination, ToTopic)
	case r.Producer == nil:
		return errors.New("replay to topic: no producer")
	case l.Original != nil:
		// The record itself, byte for byte, as its producer wrote it.
		return produceRecord(r.Producer, *l.Original)
	}
	return produceBack(ctx, r.Producer, e)
}

// produceBack writes the event to the topic it travelled on: the catalog's
// topic for saga events, the topic named in the source of a converted
// plain record (/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>).
// It goes in keyed by its partitionkey, as the KafkaSink would write it.
func produceBack(ctx context.Context, producer sarama.SyncProducer, e event.Event) error {
	var topic string
	if spec, ok := events.Lookup(e.Type()); ok && spec.Topic != "" {
		topic = spec.Topic
	} else if _, t, ok := strings.Cut(e.Source(), "#"); ok && strings.Contains(e.Source(), "/kafkasources/") {
		topic = t
	}
	if topic == "" {
		return fmt.Errorf("cannot tell which topic %s events came from; replay --to destination", e.Type())
	}
	return sink.Produce(ctx, producer, &e, manifests.KafkaSink{Topic: topic, ContentMode: manifests.ContentModeBinary})
}

// produceRecord writes back a record a record-form dead letter carried.
func produceRecord(producer sarama.SyncProducer, o Original) error {
	if o.Topic == "" {
		return errors.New("the dead letter does not say which topic its record came from; replay --to destination")
	}
	msg := &sarama.ProducerMessage{Topic: o.Topic, Headers: o.Headers}
	if o.Key != nil {
		msg.Key = sarama.ByteEncoder(o.Key)
	}
	if o.Value != nil {
		msg.Value = sarama.ByteEncoder(o.Value)
	}
	_, _, err := producer.SendMessage(msg)
	return err
}

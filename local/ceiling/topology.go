package ceiling

import (
	"net/http"
	"sort"
	"sync/atomic"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/source"
)

// Shape is how much the topology does at once, so that each primitive is
// measured under the concurrency it meets in the saga.
type Shape struct {
	// InFlight is how many deliveries each function (a KafkaSource's
	// Service) can be handed at once: one per partition of every topic
	// its sources read, ordered delivery allowing one event in flight per
	// partition.
	InFlight map[string]int
	// Readers is the number of KafkaSources: each reads every record of
	// its topics.
	Readers int
	// Partitions and Replicas are the largest of the topics the sources
	// read.
	Partitions int32
	Replicas   int16
}

// ShapeOf reads the shape from the manifests.
func ShapeOf(set *manifests.Set) Shape {
	topics := map[string]manifests.KafkaTopic{}
	for _, t := range set.Topics {
		topics[t.TopicName] = t
	}
	s := Shape{InFlight: map[string]int{}, Partitions: 1, Replicas: 1}
	for _, src := range set.Sources {
		if src.Sink.Ref == nil || src.Sink.Ref.Kind != manifests.KindService {
			continue
		}
		s.Readers++
		for _, name := range src.Topics {
			t := topics[name]
			// -1 is the broker's default; one partition is the least it can be.
			s.InFlight[src.Sink.Ref.Name] += max(int(t.Partitions), 1)
			s.Partitions = max(s.Partitions, t.Partitions)
			s.Replicas = max(s.Replicas, t.Replicas)
		}
	}
	return s
}

// TotalInFlight is the deliveries the whole topology can have in flight.
func (s Shape) TotalInFlight() int {
	n := 0
	for _, v := range s.InFlight {
		n += v
	}
	return max(n, 1)
}

// Functions lists the functions the sources deliver to, sorted.
func (s Shape) Functions() []string {
	out := make([]string, 0, len(s.InFlight))
	for n := range s.InFlight {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TransactionCounter counts the deliveries that ran a store transaction: a
// function answered 200 to an event type it handles. A function answers
// 200 to a type it ignores too, without touching its store, so the type
// decides, not the status. Give it to the plane as a source.Observer.
type TransactionCounter struct {
	source.NopObserver
	handles func(sourceID, eventType string) bool
	count   atomic.Uint64
}

// NewTransactionCounter counts with handles, which says whether the
// function behind a KafkaSource ("namespace/name") reacts to an event type.
func NewTransactionCounter(handles func(sourceID, eventType string) bool) *TransactionCounter {
	return &TransactionCounter{handles: handles}
}

// Delivered is the source.Observer hook.
func (c *TransactionCounter) Delivered(o source.Outcome) {
	if o.Status == http.StatusOK && c.handles(o.Source, o.EventType) {
		c.count.Add(1)
	}
}

// Count is the transactions counted so far.
func (c *TransactionCounter) Count() uint64 { return c.count.Load() }

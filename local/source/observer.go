package source

import (
	"sync/atomic"
	"time"
)

// Record identifies the Kafka record an event came from.
type Record struct {
	Source    string // namespace/name of the KafkaSource
	Topic     string
	Partition int32
	Offset    int64
	EventID   string
	EventType string
}

// Attempt is one HTTP delivery attempt.
type Attempt struct {
	Record
	URL        string
	DeadLetter bool // to the dead-letter sink rather than the subscriber
	N          int  // 1-based attempt number within the current round
	Status     int  // 0: no response
	Err        error
	Retry      bool          // another attempt follows
	Wait       time.Duration // backoff before it
}

// Outcome is how an event was settled, or why it is held.
type Outcome struct {
	Record
	URL      string // the subscriber
	Attempts int    // attempts to the subscriber in the last round
	Status   int    // last subscriber status, 0: no response
	Err      error  // for Held: what keeps it from settling
}

// Observer hears about delivery progress, for progress bars and metrics.
// Calls come from the delivery goroutines concurrently; an observer must
// be safe for that and must not block for long. Embed NopObserver to
// implement only some methods.
type Observer interface {
	// Attempted: one HTTP attempt finished (subscriber or dead-letter sink).
	Attempted(Attempt)
	// Delivered: the subscriber answered 2xx; the offset may be committed.
	Delivered(Outcome)
	// DeadLettered: delivery failed for good and the dead-letter sink
	// accepted the event; the offset may be committed.
	DeadLettered(Outcome)
	// Held: the event could not be settled (dead-letter sink failing, no
	// dead-letter sink, subscriber URL unresolvable); its partition waits
	// and tries again. Knative would commit and drop here.
	Held(Outcome)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Attempted(Attempt)    {}
func (NopObserver) Delivered(Outcome)    {}
func (NopObserver) DeadLettered(Outcome) {}
func (NopObserver) Held(Outcome)         {}

// Stats are a source's counters since it started.
type Stats struct {
	Received     uint64 // records taken from Kafka
	Delivered    uint64 // events the subscriber accepted (duplicates count)
	Retried      uint64 // subscriber attempts beyond the first of a round
	DeadLettered uint64 // events the dead-letter sink accepted
	Held         uint64 // times an event was held instead of settled
	InFlight     int64  // records being delivered now
}

type stats struct {
	received, delivered, retried, deadLettered, held atomic.Uint64
	inFlight                                         atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{s.received.Load(), s.delivered.Load(), s.retried.Load(), s.deadLettered.Load(), s.held.Load(), s.inFlight.Load()}
}

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
	// Key is the record's key: for saga events the order id (their
	// partitionkey), so an observer can follow each order.
	Key string
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
	Took       time.Duration // from sending the request to its answer (or failure)
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
	// Held: the event could not be settled yet (dead-letter sink failing
	// transiently, subscriber URL unresolvable); its partition waits and
	// tries again, up to the hold limit. Knative would commit and drop here.
	Held(Outcome)
	// Spooled: the dead-letter sink did not take the dead letter (refused
	// it, failed past the hold limit, or there is none); it is in the
	// spool and the offset may be committed. Outcome.Err says why.
	Spooled(Outcome)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Attempted(Attempt)    {}
func (NopObserver) Delivered(Outcome)    {}
func (NopObserver) DeadLettered(Outcome) {}
func (NopObserver) Held(Outcome)         {}
func (NopObserver) Spooled(Outcome)      {}

// Hold is a record that holds its partition now.
type Hold struct {
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"offset"`
	EventID    string    `json:"eventId"`
	EventType  string    `json:"eventType"`
	Since      time.Time `json:"since"`      // when the hold began
	RecordTime time.Time `json:"recordTime"` // the record's timestamp: its age is how late its partition is
	Rounds     int       `json:"rounds"`
	Reason     string    `json:"reason"`
}

// Stats are a source's counters since it started.
type Stats struct {
	Received     uint64 // records taken from Kafka
	Delivered    uint64 // events the subscriber accepted (duplicates count)
	Retried      uint64 // subscriber attempts beyond the first of a round
	DeadLettered uint64 // events the dead-letter sink accepted
	Held         uint64 // times an event was held instead of settled
	Gated        uint64 // failed attempts not counted: the subscriber was not ready (WithGate)
	Spooled      uint64 // dead letters put in the spool
	InFlight     int64  // records being delivered now
	Holds        []Hold // records holding their partition now
	Unsent       int    // dead letters waiting in the spool now
	Consumers    int    // members of the consumer group this source runs now
}

type stats struct {
	received, delivered, retried, deadLettered, held, spooled, gated atomic.Uint64
	inFlight                                                         atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{Received: s.received.Load(), Delivered: s.delivered.Load(), Retried: s.retried.Load(),
		DeadLettered: s.deadLettered.Load(), Held: s.held.Load(), Spooled: s.spooled.Load(), Gated: s.gated.Load(), InFlight: s.inFlight.Load()}
}

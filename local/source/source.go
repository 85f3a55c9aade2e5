// Package source emulates Knative's KafkaSource data plane: a consumer
// group per KafkaSource reads its topics, turns each record into a
// CloudEvent, and POSTs it (binary mode) to the sink with the delivery
// spec's retries, backoff, per-attempt timeout and dead-letter sink.
//
// It follows the eventing-kafka-broker dispatcher (RecordDispatcherImpl,
// WebClientCloudEventSender, InvalidCloudEventInterceptor, the ordered and
// unordered consumer verticles) with one deliberate difference, because
// invariant 4 of the design is "nothing is lost":
//
//   - Knative commits the offset when the dead-letter sink fails, or when
//     delivery fails and no dead-letter sink is configured: the event is
//     dropped. Here the event is held instead: its partition waits with
//     backoff (exponential from backoffDelay, capped by WithHoldBackoffCap)
//     and tries again, logging at error level each time, until it is
//     settled or the source stops. A held event blocks its partition in
//     both orderings (in unordered mode the commit cannot pass it anyway).
//
// The offset of a record is committed (marked) only after a 2xx from the
// subscriber or a 2xx from the dead-letter sink. Stopping abandons
// in-flight deliveries without committing them; they are redelivered by
// the next member of the group (duplicates are possible, as in Knative:
// subscribers must be idempotent).
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/local/broker"
	"orderflow.dev/local/manifests"
)

// Resolver turns a destination of the manifests (a Service, a KafkaSink,
// a URI) into the URL to POST to. It is called for every delivery round,
// so a function that comes up late, or moves, is picked up.
type Resolver func(ctx context.Context, d manifests.Destination) (string, error)

// Option tunes a Source.
type Option func(*Source)

// WithSaramaConfig sets the base client config (default
// broker.SaramaConfig()); the source copies it and sets the initial offset
// and client id.
func WithSaramaConfig(cfg *sarama.Config) Option { return func(s *Source) { s.base = cfg } }

// WithHTTPClient sets the client used for deliveries. Its own Timeout
// should be zero: the per-attempt timeout comes from delivery.timeout.
func WithHTTPClient(c *http.Client) Option { return func(s *Source) { s.client = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithObserver adds an observer of delivery progress.
func WithObserver(o Observer) Option {
	return func(s *Source) { s.observers = append(s.observers, o) }
}

// WithDuplicateDelivery delivers every event twice, one full delivery
// after the other (each with its own retries and dead-lettering), to prove
// subscribers idempotent. The offset is committed after both settle.
func WithDuplicateDelivery() Option { return func(s *Source) { s.copies = 2 } }

// WithMaxInFlight sets how many events of one partition may be in flight
// at once in unordered mode (default 10). Ordered mode always has one.
func WithMaxInFlight(n int) Option { return func(s *Source) { s.maxInFlight = max(1, n) } }

// WithHoldBackoffCap caps the wait between tries of a held event
// (default 30s).
func WithHoldBackoffCap(d time.Duration) Option { return func(s *Source) { s.holdCap = d } }

// Source runs one KafkaSource.
type Source struct {
	spec        manifests.KafkaSource
	id          string // namespace/name
	brokers     []string
	resolve     Resolver
	policy      Policy
	base        *sarama.Config
	client      *http.Client
	log         *slog.Logger
	observers   []Observer
	copies      int
	maxInFlight int
	holdCap     time.Duration

	stats     stats
	readyOnce sync.Once
	ready     chan struct{}
}

// New prepares the KafkaSource spec to consume from brokers, resolving its
// sink and dead-letter sink with resolve. Run starts it.
func New(spec manifests.KafkaSource, brokers []string, resolve Resolver, opts ...Option) (*Source, error) {
	if resolve == nil {
		return nil, errors.New("source: nil resolver")
	}
	if len(spec.Topics) == 0 {
		return nil, fmt.Errorf("source %s: no topics", spec.Name)
	}
	s := &Source{
		spec: spec, id: spec.Namespace + "/" + spec.Name, brokers: brokers, resolve: resolve,
		policy: PolicyFor(spec.Delivery), log: slog.Default(), copies: 1, maxInFlight: 10,
		holdCap: 30 * time.Second, ready: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.policy.Attempts < 1 {
		s.policy.Attempts = 1
	}
	if s.policy.Timeout <= 0 {
		return nil, fmt.Errorf("source %s: delivery timeout must be positive", s.id)
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		s.client = &http.Client{Transport: tr}
	}
	if s.base == nil {
		cfg, err := broker.SaramaConfig(broker.WithClientID("orderflow-source-" + spec.Name))
		if err != nil {
			return nil, err
		}
		s.base = cfg
	}
	s.log = s.log.With("source", s.id)
	return s, nil
}

// Stats returns the source's counters.
func (s *Source) Stats() Stats { return s.stats.snapshot() }

// Ready is closed once the consumer group has assigned this source its
// first partitions (useful before producing with initialOffset latest).
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Run consumes until ctx is cancelled, then leaves the group (committing
// what was marked) and returns nil; it returns an error only when the
// consumer group cannot be created.
func (s *Source) Run(ctx context.Context) error {
	cfg := *s.base // shallow copy: only the fields below differ
	cfg.ClientID = "orderflow-source-" + s.spec.Name
	if s.spec.InitialOffset == manifests.OffsetEarliest {
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	} else {
		cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	cfg.Consumer.Return.Errors = true

	n := max(1, s.spec.Consumers)
	groups := make([]sarama.ConsumerGroup, 0, n)
	defer func() {
		for _, g := range groups {
			if err := g.Close(); err != nil {
				s.log.Warn("closing consumer group", "err", err)
			}
		}
	}()
	for range n {
		g, err := sarama.NewConsumerGroup(s.brokers, s.spec.ConsumerGroup, &cfg)
		if err != nil {
			return fmt.Errorf("source %s: consumer group %s: %w", s.id, s.spec.ConsumerGroup, err)
		}
		groups = append(groups, g)
	}

	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for err := range g.Errors() {
				s.log.Warn("consumer group error", "member", i, "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			s.consume(ctx, g, i)
		}()
	}
	<-ctx.Done()
	for _, g := range groups {
		_ = g.Close() // ends Consume and the Errors channel
	}
	groups = nil
	wg.Wait()
	return nil
}

// consume keeps one group member in the group: Consume returns at every
// rebalance and is called again.
func (s *Source) consume(ctx context.Context, g sarama.ConsumerGroup, member int) {
	h := &groupHandler{s: s}
	for {
		err := g.Consume(ctx, s.spec.Topics, h)
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil {
			s.log.Error("consume failed; retrying", "member", member, "topics", s.spec.Topics, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

type groupHandler struct{ s *Source }

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	if len(sess.Claims()) > 0 {
		h.s.readyOnce.Do(func() { close(h.s.ready) })
	}
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	if h.s.spec.Ordering == manifests.OrderingUnordered {
		h.s.consumeUnordered(sess, claim)
	} else {
		h.s.consumeOrdered(sess, claim)
	}
	return nil
}

// consumeOrdered handles a partition's records one after the other: at
// most one event of a partition is in flight, so one key's events reach
// the subscriber in the order they were written.
func (s *Source) consumeOrdered(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) {
	ctx := sess.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-claim.Messages():
			if !ok {
				return
			}
			if !s.handle(ctx, msg) {
				return // abandoned: the session ended
			}
			sess.MarkMessage(msg, "")
		}
	}
}

// consumeUnordered dispatches up to maxInFlight records of the partition
// at once and commits only up to the lowest unfinished offset.
func (s *Source) consumeUnordered(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) {
	ctx := sess.Context()
	slots := make(chan struct{}, s.maxInFlight)
	window := newOffsetWindow()
	var wg sync.WaitGroup
	defer wg.Wait() // never leave the claim with deliveries that could still mark
	for {
		var msg *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return
		case m, ok := <-claim.Messages():
			if !ok {
				return
			}
			msg = m
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		window.start(msg.Offset)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if s.handle(ctx, msg) {
				window.finish(msg.Offset, func(next int64) {
					sess.MarkOffset(msg.Topic, msg.Partition, next, "")
				})
			}
		}()
	}
}

// handle turns a record into an event and settles it (copies times). It
// returns false when ctx ended first: the record must not be committed.
func (s *Source) handle(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	s.stats.received.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	e, _ := ToEvent(msg, s.spec.Namespace, s.spec.Name)
	applyOverrides(&e, s.spec.CEOverrides)
	rec := Record{Source: s.id, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, EventID: e.ID(), EventType: e.Type()}
	for range s.copies {
		if !s.settle(ctx, rec, &e) {
			return false
		}
	}
	return true
}

// settle delivers e until it is accepted by the subscriber or by the
// dead-letter sink. It returns false only when ctx ends first.
func (s *Source) settle(ctx context.Context, rec Record, e *event.Event) bool {
	for round := 1; ; round++ {
		url, err := s.resolve(ctx, s.spec.Sink)
		if err != nil {
			if !s.hold(ctx, Outcome{Record: rec, Err: fmt.Errorf("resolve sink %s: %w", s.spec.Sink, err)}, round) {
				return false
			}
			continue
		}
		last, attempts, ok := s.deliver(ctx, rec, url, e, false)
		if !ok {
			return false
		}
		out := Outcome{Record: rec, URL: url, Attempts: attempts, Status: last.Status}
		if Success(last.Status) {
			s.stats.delivered.Add(1)
			s.each(func(o Observer) { o.Delivered(out) })
			return true
		}
		if s.spec.Delivery.DeadLetterSink == nil {
			out.Err = fmt.Errorf("delivery to %s failed after %d attempt(s) (%s) and there is no dead-letter sink", url, attempts, last.describe())
			if !s.hold(ctx, out, round) {
				return false
			}
			continue // Knative would drop the event; we deliver it again
		}
		dl := DeadLetter(*e, url, last, attempts)
		return s.deadLetter(ctx, out, &dl)
	}
}

// deadLetter sends dl to the dead-letter sink, holding the partition for
// as long as that fails.
func (s *Source) deadLetter(ctx context.Context, out Outcome, dl *event.Event) bool {
	for round := 1; ; round++ {
		url, err := s.resolve(ctx, *s.spec.Delivery.DeadLetterSink)
		var last Response
		if err == nil {
			var ok bool
			if last, _, ok = s.deliver(ctx, out.Record, url, dl, true); !ok {
				return false
			}
			if Success(last.Status) {
				s.stats.deadLettered.Add(1)
				s.log.Warn("event dead-lettered", "id", out.EventID, "type", out.EventType, "topic", out.Topic,
					"partition", out.Partition, "offset", out.Offset, "subscriber", out.URL, "status", out.Status, "attempts", out.Attempts)
				s.each(func(o Observer) { o.DeadLettered(out) })
				return true
			}
			err = fmt.Errorf("dead-letter sink %s: %s", url, last.describe())
		} else {
			err = fmt.Errorf("resolve dead-letter sink %s: %w", s.spec.Delivery.DeadLetterSink, err)
		}
		held := out
		held.Err = err
		if !s.hold(ctx, held, round) {
			return false
		}
	}
}

// deliver makes up to policy.Attempts attempts to url. ok is false when
// ctx ended first.
func (s *Source) deliver(ctx context.Context, rec Record, url string, e *event.Event, deadLetter bool) (last Response, attempts int, ok bool) {
	for n := 1; ; n++ {
		last = send(ctx, s.client, url, e, s.policy.Timeout)
		if ctx.Err() != nil {
			return last, n, false
		}
		if !deadLetter && n > 1 {
			s.stats.retried.Add(1)
		}
		retry := !Success(last.Status) && Retryable(last.Status) && n < s.policy.Attempts
		a := Attempt{Record: rec, URL: url, DeadLetter: deadLetter, N: n, Status: last.Status, Err: last.errOf(), Retry: retry}
		if retry {
			a.Wait = s.policy.Wait(n)
		}
		s.each(func(o Observer) { o.Attempted(a) })
		if !retry {
			return last, n, true
		}
		s.log.Debug("delivery attempt failed; retrying", "url", url, "id", rec.EventID, "attempt", n, "result", last.describe(), "wait", a.Wait)
		if !sleep(ctx, a.Wait) {
			return last, n, false
		}
	}
}

// hold logs loudly, tells observers, and waits before the next round. It
// returns false when ctx ended during the wait.
func (s *Source) hold(ctx context.Context, out Outcome, round int) bool {
	s.stats.held.Add(1)
	wait := min(s.holdCap, max(Backoff(manifests.BackoffExponential, s.policy.BackoffDelay, round), 10*time.Millisecond))
	s.log.Error("EVENT HELD: cannot settle it; its partition waits and tries again (Knative would drop it)",
		"id", out.EventID, "type", out.EventType, "topic", out.Topic, "partition", out.Partition,
		"offset", out.Offset, "round", round, "retry_in", wait, "err", out.Err)
	s.each(func(o Observer) { o.Held(out) })
	return sleep(ctx, wait)
}

func (s *Source) each(f func(Observer)) {
	for _, o := range s.observers {
		f(o)
	}
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

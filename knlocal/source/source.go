// Package source emulates Knative's KafkaSource data plane: a consumer
// group per KafkaSource reads its topics, turns each record into a
// CloudEvent, and POSTs it (binary mode) to the sink with the delivery
// spec's retries, backoff, per-attempt timeout and dead-letter sink.
//
// It follows the eventing-kafka-broker dispatcher (RecordDispatcherImpl,
// WebClientCloudEventSender, InvalidCloudEventInterceptor, the ordered and
// unordered consumer verticles) with deliberate differences, because
// invariant 4 of the design is "nothing is lost" and the promise of the
// README is that every accepted order ends, so no record may stop a
// partition for good:
//
//   - Every record ends delivered or dead-lettered. A dead letter that no
//     receiver could read as the event it claims to be (CarryError) carries
//     the original record instead (RecordForm); one the dead-letter sink
//     refuses for good gets the record form next.
//   - Knative commits the offset when the dead-letter sink fails, or when
//     delivery fails and no dead-letter sink is configured: the event is
//     dropped. Here, a transient failure of the dead-letter sink (no
//     response, 5xx, 408, 429) holds the record's partition, retrying with
//     backoff (exponential from backoffDelay, capped by WithHoldBackoffCap),
//     for at most the hold limit (WithHoldLimit, DefaultHoldLimit). Past it,
//     and at once on a permanent refusal or with no dead-letter sink, the
//     dead letter goes to the spool (WithSpool): durable, listed, offered
//     to the dead-letter sink again every WithSpoolRetry; the offset is
//     committed and the partition moves on. Holds are visible (Holds,
//     Stats) and logged at error level each round.
//
// The offset of a record is committed (marked) only after a 2xx from the
// subscriber, a 2xx from the dead-letter sink, or a durable write to the
// spool. Stopping abandons in-flight deliveries without committing them;
// they are redelivered by the next member of the group (duplicates are
// possible, as in Knative: subscribers must be idempotent).
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
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

// WithClientID names the source's Kafka clients (default
// "<knlocal.Default's>-source-<name>": orderflow-source-<name>).
func WithClientID(id string) Option { return func(s *Source) { s.clientID = id } }

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
func WithDuplicateDelivery() Option { return func(s *Source) { s.copies.Store(2) } }

// SetDuplicateDelivery switches duplicate delivery on or off while the
// source runs (a nemesis's "every event twice, for a while"): records
// handled from then on are delivered twice, or once.
func (s *Source) SetDuplicateDelivery(on bool) {
	if on {
		s.copies.Store(2)
	} else {
		s.copies.Store(1)
	}
}

// WithMaxInFlight sets how many events of one partition may be in flight
// at once in unordered mode (default 10). Ordered mode always has one.
func WithMaxInFlight(n int) Option { return func(s *Source) { s.maxInFlight = max(1, n) } }

// WithHoldBackoffCap caps the wait between tries of a held event
// (default 30s).
func WithHoldBackoffCap(d time.Duration) Option { return func(s *Source) { s.holdCap = d } }

// DefaultHoldLimit is how long a record may hold its partition while the
// dead-letter sink fails transiently (or the subscriber has no address)
// before its dead letter goes to the spool instead. It covers a broker
// restart or a rolling update of the ingress; what lasts longer is an
// outage to be seen, not waited out with every order behind it.
const DefaultHoldLimit = 2 * time.Minute

// WithHoldLimit sets how long a record may hold its partition (default
// DefaultHoldLimit); see Source.
func WithHoldLimit(d time.Duration) Option { return func(s *Source) { s.holdLimit = max(0, d) } }

// WithSpool sets where dead letters go that the dead-letter sink did not
// take (default: in memory, lost with the process). name is shown in logs.
func WithSpool(sp Spool, name string) Option {
	return func(s *Source) { s.spoolTo, s.spoolName = sp, name }
}

// WithSpoolRetry sets how often spooled letters are offered to the
// dead-letter sink again (default 10s).
func WithSpoolRetry(d time.Duration) Option {
	return func(s *Source) { s.spoolEvery = max(10*time.Millisecond, d) }
}

// Gate is the subscriber's readiness as its deliveries wait on it
// (package activator's Gate: Knative's activator, locally).
type Gate interface {
	// Wait returns nil once the subscriber is ready, ctx's error if ctx
	// ends first, or an error when it stayed not ready for limit.
	Wait(ctx context.Context, limit time.Duration) error
	// Check asks the subscriber now and reports whether it is ready.
	Check(ctx context.Context) bool
}

// DefaultGateLimit is how long one delivery waits, in all, for a
// subscriber that is not ready (WithGate): long enough to free a full
// disk or restart a database; past it the delivery's attempts count
// again, and it is dead-lettered once they are spent.
const DefaultGateLimit = 10 * time.Minute

// WithGate makes each delivery to the subscriber wait at g while the
// subscriber is not ready, as Knative's activator holds requests to a
// revision without a ready replica, for at most limit in all (0:
// DefaultGateLimit). An attempt that fails while g says the subscriber
// is not ready does not count against the delivery's retries: it waits
// at the gate instead. Without it a function that reports not ready for
// a minute (a full disk) burns every delivery's retries into dead letters.
func WithGate(g Gate, limit time.Duration) Option {
	return func(s *Source) {
		if limit <= 0 {
			limit = DefaultGateLimit
		}
		s.gate, s.gateLimit = g, limit
	}
}

// Source runs one KafkaSource.
type Source struct {
	spec        manifests.KafkaSource
	id          string // namespace/name
	brokers     []string
	resolve     Resolver
	policy      Policy
	base        *sarama.Config
	clientID    string
	client      *http.Client
	log         *slog.Logger
	observers   []Observer
	copies      atomic.Int32
	maxInFlight int
	holdCap     time.Duration
	holdLimit   time.Duration
	spoolTo     Spool
	spoolName   string
	spoolEvery  time.Duration
	gate        Gate
	gateLimit   time.Duration

	holdsMu sync.Mutex
	holds   map[*delivery]Hold

	stats     stats
	readyOnce sync.Once
	ready     chan struct{}

	// groupErr is the consumer group's latest error, kept so that a source
	// that never joins can say why (the plane's log may go nowhere).
	groupErrMu sync.Mutex
	groupErr   error

	resize    chan int // SetConsumers to Run
	consumers atomic.Int32
}

// Transport is a source's default HTTP transport: connections kept for
// every delivery in flight to one destination (up to 64), not the two
// net/http keeps by default.
func Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return tr
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
		policy: PolicyFor(spec.Delivery), log: slog.Default(), maxInFlight: 10,
		holdCap: 30 * time.Second, holdLimit: DefaultHoldLimit, spoolEvery: 10 * time.Second,
		holds: map[*delivery]Hold{}, ready: make(chan struct{}), resize: make(chan int, 1), clientID: knlocal.Default.ClientID("source-" + spec.Name),
	}
	s.copies.Store(1)
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
		s.client = &http.Client{Transport: Transport()}
	}
	if s.base == nil {
		cfg, err := broker.SaramaConfig(broker.WithClientID(s.clientID))
		if err != nil {
			return nil, err
		}
		s.base = cfg
	}
	if s.spoolTo == nil {
		s.spoolTo, s.spoolName = NewMemorySpool(), "memory (lost when the process ends)"
	}
	s.client = instrument(s.client)
	s.log = s.log.With("source", s.id)
	return s, nil
}

// ID names the source as its spool and its records do: namespace/name.
func (s *Source) ID() string { return s.id }

// Stats returns the source's counters, what it holds now and how many
// letters wait in the spool.
func (s *Source) Stats() Stats {
	st := s.stats.snapshot()
	st.Holds = s.Holds()
	st.Consumers = s.Consumers()
	if u, err := s.spoolTo.List(s.id); err == nil {
		st.Unsent = len(u)
	}
	return st
}

// Ready is closed once the consumer group has assigned this source its
// first partitions (useful before producing with initialOffset latest).
func (s *Source) Ready() <-chan struct{} { return s.ready }

// LastGroupError returns the latest error the consumer group reported
// (joining, syncing, fetching committed offsets), or nil.
func (s *Source) LastGroupError() error {
	s.groupErrMu.Lock()
	defer s.groupErrMu.Unlock()
	return s.groupErr
}

func (s *Source) noteGroupError(err error) {
	s.groupErrMu.Lock()
	s.groupErr = err
	s.groupErrMu.Unlock()
}

// Run consumes until ctx is cancelled, then leaves the group (committing
// what was marked) and returns nil; it returns an error only when the
// consumer group cannot be created.
func (s *Source) Run(ctx context.Context) error {
	cfg := *s.base // shallow copy: only the fields below differ
	cfg.ClientID = s.clientID
	if s.spec.InitialOffset == manifests.OffsetEarliest {
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	} else {
		cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	cfg.Consumer.Return.Errors = true

	var wg sync.WaitGroup
	spoolCtx, stopSpool := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.offerSpooled(spoolCtx)
	}()
	// The group's members: as many as spec.consumers, more or fewer when
	// SetConsumers says (the KafkaSource was edited); Kafka rebalances the
	// partitions among them at each change.
	type member struct {
		g      sarama.ConsumerGroup
		cancel context.CancelFunc
	}
	var members []member
	add := func() error {
		g, err := sarama.NewConsumerGroup(s.brokers, s.spec.ConsumerGroup, &cfg)
		if err != nil {
			return fmt.Errorf("source %s: consumer group %s: %w", s.id, s.spec.ConsumerGroup, err)
		}
		mctx, cancel := context.WithCancel(ctx)
		i := len(members)
		members = append(members, member{g, cancel})
		wg.Add(2)
		go func() {
			defer wg.Done()
			for err := range g.Errors() {
				s.noteGroupError(err)
				s.log.Warn("consumer group error", "member", i, "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			s.consume(mctx, g, i)
		}()
		return nil
	}
	leave := func() {
		m := members[len(members)-1]
		members = members[:len(members)-1]
		m.cancel()
		if err := m.g.Close(); err != nil { // ends Consume and the Errors channel
			s.log.Warn("closing consumer group", "err", err)
		}
	}
	defer func() {
		stopSpool()
		for len(members) > 0 {
			leave()
		}
		wg.Wait()
	}()
	want := max(1, int(s.spec.Consumers))
	for {
		for len(members) < want {
			if err := add(); err != nil {
				if len(members) == 0 {
					return err
				}
				s.log.Error("adding a consumer", "err", err)
				break
			}
		}
		for len(members) > want {
			leave()
		}
		s.consumers.Store(int32(len(members)))
		select {
		case <-ctx.Done():
			return nil
		case n := <-s.resize:
			want = max(1, n)
		}
	}
}

// SetConsumers changes how many members of the consumer group this source
// runs (its KafkaSource's consumers, edited while it runs); Kafka
// rebalances the partitions among them.
func (s *Source) SetConsumers(n int) {
	select {
	case s.resize <- n:
	default: // a change is pending: replace it with this one
		select {
		case <-s.resize:
		default:
		}
		s.resize <- n
	}
}

// Consumers is how many members of the consumer group run now.
func (s *Source) Consumers() int { return int(s.consumers.Load()) }

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
			s.noteGroupError(err)
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

// Dispatch settles one record as the consumer does: convert, deliver
// (with retries), dead-letter or spool. It returns false only when ctx
// ended first, in which case the record must not be committed. Run calls
// it for every record; tests and tools may call it for a record of their
// own.
func (s *Source) Dispatch(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	return s.handle(ctx, msg)
}

// handle turns a record into an event and settles it (copies times). It
// returns false when ctx ended first: the record must not be committed.
func (s *Source) handle(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	s.stats.received.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	e, _ := ToEvent(msg, s.spec.Namespace, s.spec.Name)
	setPosition(&e, msg)
	applyOverrides(&e, s.spec.CEOverrides)
	ctx, span := s.processSpan(ctx, msg, e)
	defer span.End()
	d := &delivery{Record: Record{Source: s.id, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, EventID: e.ID(), EventType: e.Type(),
		Key: string(msg.Key)}, msg: msg}
	copies := int(s.copies.Load()) // one record's copies agree, whatever switches meanwhile
	for d.copy = 1; d.copy <= copies; d.copy++ {
		if !s.settle(ctx, d, &e) {
			return false
		}
	}
	return true
}

// delivery is one record on its way (its hold, if it has one, is in
// Source.holds).
type delivery struct {
	Record
	msg  *sarama.ConsumerMessage
	copy int // 1, or 2 for the second copy under WithDuplicateDelivery
}

// settle delivers e until the subscriber accepts it or it is dead-lettered
// (to the dead-letter sink, or failing that to the spool). It returns
// false only when ctx ends first.
func (s *Source) settle(ctx context.Context, d *delivery, e *event.Event) bool {
	defer s.release(d)
	for round := 1; ; round++ {
		url, err := s.resolve(ctx, s.spec.Sink)
		if err != nil {
			// The subscriber has no address yet (a function still
			// starting, or restarting): hold, for a while.
			out := Outcome{Record: d.Record, URL: fmt.Sprint(s.spec.Sink), Err: fmt.Errorf("resolve sink %s: %w", s.spec.Sink, err)}
			if s.heldTooLong(d) {
				return s.deadLetter(ctx, d, e, out, Response{Err: out.Err})
			}
			if !s.hold(ctx, d, out, round) {
				return false
			}
			continue
		}
		s.release(d)
		last, attempts, ok := s.deliver(ctx, d.Record, url, e, false)
		if !ok {
			return false
		}
		out := Outcome{Record: d.Record, URL: url, Attempts: attempts, Status: last.Status}
		if Success(last.Status) {
			noteOutcome(ctx, outcomeDelivered, last.Status, "")
			s.stats.delivered.Add(1)
			s.each(func(o Observer) { o.Delivered(out) })
			return true
		}
		return s.deadLetter(ctx, d, e, out, last)
	}
}

// deadLetter settles an event the subscriber did not take. Whatever the
// record held, it ends in the dead-letter sink or the spool:
//
//   - the dead letter is the event as delivered plus the knativeerror*
//     extensions, unless that cannot travel to any receiver (CarryError):
//     then it carries the original record (RecordForm);
//   - a permanent refusal by the dead-letter sink (any 4xx but 408 and
//     429, after the delivery spec's retries) gets the record form next;
//     if that is refused too, the letter goes to the spool;
//   - a transient failure (no response, 5xx, 408, 429) holds the
//     partition and tries again with backoff, for at most the hold limit;
//     then the letter goes to the spool.
func (s *Source) deadLetter(ctx context.Context, d *delivery, e *event.Event, out Outcome, last Response) bool {
	dl := DeadLetter(*e, out.URL, last, out.Attempts)
	asRecord := false
	// asRecordForm switches to the record form and says whether that, at
	// least, can be carried.
	asRecordForm := func(why string) error {
		dl, asRecord = s.recordLetter(d, out, last, why), true
		return CarryError(dl)
	}
	var uncarriable error
	if err := CarryError(dl); err != nil {
		uncarriable = asRecordForm("the event as delivered cannot be carried: " + err.Error())
	}
	if s.spec.Delivery.DeadLetterSink == nil {
		return s.spool(ctx, d, out, dl, "no dead-letter sink is configured")
	}
	if uncarriable != nil {
		return s.spool(ctx, d, out, dl, "even the record cannot be carried: "+uncarriable.Error())
	}
	for round := 1; ; round++ {
		url, err := s.resolve(ctx, *s.spec.Delivery.DeadLetterSink)
		if err == nil {
			res, _, ok := s.deliver(ctx, d.Record, url, &dl, true)
			if !ok {
				return false
			}
			if Success(res.Status) {
				noteOutcome(ctx, outcomeDeadLettered, out.Status, last.describe())
				s.stats.deadLettered.Add(1)
				s.log.Warn("event dead-lettered", "id", out.EventID, "type", out.EventType, "topic", out.Topic,
					"partition", out.Partition, "offset", out.Offset, "subscriber", out.URL, "status", out.Status,
					"attempts", out.Attempts, "as_record", asRecord)
				s.each(func(o Observer) { o.DeadLettered(out) })
				return true
			}
			err = fmt.Errorf("dead-letter sink %s: %s", url, res.describe())
			if !TransientDeadLetterFailure(res) {
				if asRecord {
					return s.spool(ctx, d, out, dl, err.Error()+": a permanent refusal")
				}
				if rerr := asRecordForm(fmt.Sprintf("the dead-letter sink refused the event (%s)", res.describe())); rerr != nil {
					return s.spool(ctx, d, out, dl, err.Error()+", and the record cannot be carried: "+rerr.Error())
				}
				round = 0
				continue
			}
		} else {
			err = fmt.Errorf("resolve dead-letter sink %s: %w", s.spec.Delivery.DeadLetterSink, err)
		}
		if s.heldTooLong(d) {
			return s.spool(ctx, d, out, dl, fmt.Sprintf("%v, for longer than the hold limit %s", err, s.holdLimit))
		}
		held := out
		held.Err = err
		if !s.hold(ctx, d, held, round) {
			return false
		}
	}
}

// TransientDeadLetterFailure reports whether a failed dead-letter write
// may succeed later, which is the only reason to hold a partition: no
// response, 5xx, 408 (timeout) and 429 (throttled). Any other answer,
// 404 and 409 included, is the sink refusing this letter for good.
func TransientDeadLetterFailure(r Response) bool {
	if r.Unsendable {
		return false
	}
	return r.Status == 0 || r.Status >= 500 || r.Status == http.StatusRequestTimeout || r.Status == http.StatusTooManyRequests
}

// recordLetter is the dead letter in record form: the original record,
// the knativeerror* extensions of the failed delivery, and why.
func (s *Source) recordLetter(d *delivery, out Outcome, last Response, why string) event.Event {
	msg := d.msg
	if msg == nil { // settled without a record (tests): nothing better to carry
		msg = &sarama.ConsumerMessage{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset}
	}
	dl := DeadLetter(RecordForm(msg, s.spec.Namespace, s.spec.Name), out.URL, last, out.Attempts)
	dl.SetExtension(AsRecordExtension, printable(why))
	return dl
}

// spool puts a letter the dead-letter sink did not take into the spool,
// so the record's offset can be committed. Only a failing spool (a full
// disk) holds the partition, for as long as it fails.
func (s *Source) spool(ctx context.Context, d *delivery, out Outcome, dl event.Event, reason string) bool {
	u := Unsent{ID: fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset), Source: s.id, Record: d.Record,
		Spooled: time.Now().UTC(), Reason: reason, Event: Store(dl)}
	if d.copy > 1 {
		u.ID += fmt.Sprintf("/%d", d.copy)
	}
	for round := 1; ; round++ {
		err := s.spoolTo.Put(u)
		if err == nil {
			break
		}
		held := out
		held.Err = fmt.Errorf("%s, and the spool failed: %w", reason, err)
		if !s.hold(ctx, d, held, round) {
			return false
		}
	}
	noteOutcome(ctx, outcomeSpooled, out.Status, reason)
	s.stats.spooled.Add(1)
	s.log.Error("DEAD LETTER SPOOLED: the dead-letter sink did not take it; kept in the spool and offered again",
		"id", out.EventID, "type", out.EventType, "topic", out.Topic, "partition", out.Partition, "offset", out.Offset,
		"reason", reason, "spool", s.spoolName)
	out.Err = errors.New(reason)
	s.each(func(o Observer) { o.Spooled(out) })
	return true
}

// deliver makes up to policy.Attempts attempts to url. ok is false when
// ctx ended first. To the subscriber (not the dead-letter sink), with a
// gate, each attempt first waits for the subscriber to be ready, and a
// failed one the gate then finds not ready is not counted (see WithGate),
// until the delivery has waited gateLimit in all.
func (s *Source) deliver(ctx context.Context, rec Record, url string, e *event.Event, deadLetter bool) (last Response, attempts int, ok bool) {
	gate, gateLeft := s.gate, s.gateLimit
	if deadLetter {
		gate = nil
	}
	for n := 1; ; n++ {
		if gate != nil && gateLeft > 0 {
			t0 := time.Now()
			err := gate.Wait(ctx, gateLeft)
			gateLeft -= time.Since(t0)
			if ctx.Err() != nil {
				return last, n, false
			}
			if err != nil {
				gateLeft = 0
				s.log.Error("DELIVERY NO LONGER HELD: its subscriber stayed not ready for the whole gate limit; delivering, its attempts count now",
					"id", rec.EventID, "type", rec.EventType, "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
					"url", url, "gate_limit", s.gateLimit, "err", err)
			}
		}
		t0 := time.Now()
		last = send(withResendCount(ctx, n-1), s.client, url, e, s.policy.Timeout, s.spec.Namespace)
		took := time.Since(t0)
		if ctx.Err() != nil {
			return last, n, false
		}
		if !deadLetter && n > 1 {
			s.stats.retried.Add(1)
		}
		retryable := !Success(last.Status) && !last.Unsendable && Retryable(last.Status)
		if retryable && gate != nil && gateLeft > 0 && !gate.Check(ctx) {
			// The subscriber is not ready: the failure is that, not this
			// event's. The attempt is not counted; the next waits at the
			// gate.
			s.stats.gated.Add(1)
			s.each(func(o Observer) {
				o.Attempted(Attempt{Record: rec, URL: url, N: n, Status: last.Status, Err: last.errOf(), Retry: true, Took: took})
			})
			n--
			continue
		}
		retry := retryable && n < s.policy.Attempts
		a := Attempt{Record: rec, URL: url, DeadLetter: deadLetter, N: n, Status: last.Status, Err: last.errOf(), Retry: retry, Took: took}
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

// hold logs loudly, records the hold (Holds), tells observers, and waits
// before the next round. It returns false when ctx ended during the wait.
func (s *Source) hold(ctx context.Context, d *delivery, out Outcome, round int) bool {
	s.stats.held.Add(1)
	now := time.Now()
	s.holdsMu.Lock()
	since := now
	if h, ok := s.holds[d]; ok {
		since = h.Since
	}
	s.holds[d] = Hold{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, EventID: d.EventID, EventType: d.EventType,
		Since: since, RecordTime: recordTime(d.msg), Rounds: round, Reason: errString(out.Err)}
	s.holdsMu.Unlock()
	wait := min(s.holdCap, max(Backoff(manifests.BackoffExponential, s.policy.BackoffDelay, round), 10*time.Millisecond))
	s.log.Error("EVENT HELD: cannot settle it yet; its partition waits and tries again",
		"id", out.EventID, "type", out.EventType, "topic", out.Topic, "partition", out.Partition,
		"offset", out.Offset, "round", round, "held_for", now.Sub(since).Round(time.Millisecond),
		"hold_limit", s.holdLimit, "retry_in", wait, "err", out.Err)
	s.each(func(o Observer) { o.Held(out) })
	return sleep(ctx, wait)
}

// heldTooLong reports whether d has been held for the hold limit (a
// subscriber with no address and then a failing dead-letter sink count
// together: the limit bounds the partition's wait, whatever the cause).
func (s *Source) heldTooLong(d *delivery) bool {
	s.holdsMu.Lock()
	defer s.holdsMu.Unlock()
	h, ok := s.holds[d]
	return ok && time.Since(h.Since) >= s.holdLimit
}

// release ends d's hold, if it has one.
func (s *Source) release(d *delivery) {
	s.holdsMu.Lock()
	delete(s.holds, d)
	s.holdsMu.Unlock()
}

// Holds lists the records held now, oldest hold first: which partition
// waits, since when, and why.
func (s *Source) Holds() []Hold {
	s.holdsMu.Lock()
	out := make([]Hold, 0, len(s.holds))
	for _, h := range s.holds {
		out = append(out, h)
	}
	s.holdsMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

func recordTime(msg *sarama.ConsumerMessage) time.Time {
	if msg == nil {
		return time.Time{}
	}
	return msg.Timestamp
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
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

// offerSpooled offers the spooled letters of this source to the dead-letter
// sink again, every spoolEvery, until ctx ends: one attempt each, oldest
// first; a transient failure ends the round (the sink is down), a refusal
// moves on to the next letter.
func (s *Source) offerSpooled(ctx context.Context) {
	if s.spec.Delivery.DeadLetterSink == nil {
		return
	}
	for sleep(ctx, s.spoolEvery) {
		letters, err := s.spoolTo.List(s.id)
		if err != nil {
			s.log.Error("reading the dead-letter spool", "spool", s.spoolName, "err", err)
			continue
		}
		for _, u := range letters {
			if !s.offer(ctx, u) {
				break
			}
		}
	}
}

// offer sends one spooled letter; it reports whether to go on with the
// next one.
func (s *Source) offer(ctx context.Context, u Unsent) bool {
	dl, err := u.Event.Event()
	if err != nil {
		s.log.Error("spooled letter cannot be rebuilt; left in the spool", "id", u.ID, "err", err)
		return true
	}
	url, err := s.resolve(ctx, *s.spec.Delivery.DeadLetterSink)
	if err != nil {
		return false
	}
	res := send(ctx, s.client, url, &dl, s.policy.Timeout, s.spec.Namespace)
	if !Success(res.Status) {
		return !TransientDeadLetterFailure(res)
	}
	if err := s.spoolTo.Remove(s.id, u.ID); err != nil {
		s.log.Error("spooled letter dead-lettered but not removed from the spool (it will be sent again)", "id", u.ID, "err", err)
	}
	s.stats.deadLettered.Add(1)
	s.log.Warn("spooled letter dead-lettered", "id", u.ID, "type", u.Record.EventType, "spooled", u.Spooled)
	s.each(func(o Observer) { o.DeadLettered(Outcome{Record: u.Record}) })
	return true
}

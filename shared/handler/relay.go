package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/tracing"
)

const (
	// relayPage is how many pending events one round of a sweep reads.
	relayPage = 500
	// sendTimeout bounds one publish; the sink answers once Kafka has.
	sendTimeout = 15 * time.Second
	// markTimeout bounds one write of acknowledged events.
	markTimeout = 10 * time.Second
	// maxHeldPerSweep ends a sweep that has held back this many keys: each
	// held key is one more value in the pending query's NOT IN list, and
	// that many failing keys means the sink is in trouble anyway. The next
	// sweep starts over.
	maxHeldPerSweep = 1000
	// firstRefusalBackoff is the wait before a refused event is offered
	// again; it doubles with every refusal up to maxRefusalBackoff, so a
	// refusal is retried (the sink may be fixed) without being hammered
	// by the sweep that follows every handled event.
	firstRefusalBackoff = time.Second
	maxRefusalBackoff   = 5 * time.Minute
)

// Relay publishes the outbox to K_SINK and marks each event sent once the
// sink acknowledged it. A crash between the two sends the event again on
// the next sweep: consumers are idempotent, so at-least-once here costs
// nothing, while losing an event would break the saga.
//
// Order matters per partition key (one order's events), never across keys:
// the relay publishes the chains of up to `concurrency` keys at once, each
// chain in commit order with one event in flight, so a burst of one kind
// of event no longer holds every other order's events back. When the head
// of a chain fails, the rest of that chain waits for it (skipped until the
// next sweep, or, when the sink refused it for good, until its backoff
// ends); other chains go on.
type Relay struct {
	db          *store.DB
	sender      *ce.Sender
	log         *slog.Logger
	concurrency int
	kick        chan struct{}
	// observe, when set, hears each publish: err nil when the sink
	// acknowledged it (metrics).
	observe func(typ string, err error)
	now     func() time.Time

	// possibleDuplicate, when set, hears of events that may reach the sink
	// twice (metrics): reason is dupUnmarked or dupLeaseLost.
	possibleDuplicate func(reason string, n int)

	// storeFailed, when set, hears a sweep's error and reports whether it
	// was the store failing to write (said once by the function, not at
	// every sweep).
	storeFailed func(error) bool

	// mu lets one sweep run at a time. Two sweeps side by side would send
	// the same chain twice at once, and the slow copy of an earlier event
	// could then land after a later one.
	mu sync.Mutex
	// refused holds back the chains whose head the sink refused for good,
	// until their backoff ends. Guarded by mu.
	refused map[chainID]*refusal
	// lease is the right to relay this outbox (store.RelayLease): replicas
	// share one outbox on PostgreSQL, and only the holder sweeps it; nil
	// while another process holds it. Guarded by mu.
	lease *store.RelayLease
	// standing is set while another process holds the lease, so that
	// standing by is logged once, not on every tick. Guarded by mu.
	standing bool
	// leaseRetry spaces a standby's tries for the lease (Run sets it to its
	// interval): every handled event kicks the relay, and a try is a round
	// trip to the database. lastTry is the last one. Guarded by mu.
	leaseRetry time.Duration
	lastTry    time.Time
	// leading mirrors lease != nil for readers that must not wait for a
	// sweep (metrics, tests).
	leading atomic.Bool
}

// Reasons an event may reach the sink twice, the reason label of
// orderflow_outbox_possible_duplicates_total. Nothing else sends an event
// twice while the relay's process lives (consumers dedupe either way).
const (
	// dupUnmarked: the sink acknowledged it, but marking it sent failed
	// (the database went away): the next sweep, here or in the process
	// that takes the lease over, sends it again.
	dupUnmarked = "unmarked"
	// dupLeaseLost: the relay lost its lease (its database session was
	// cut) while the event was in flight or its mark was not yet written:
	// the send is abandoned, and the relay that takes the lease over may
	// send it while this copy still lands.
	dupLeaseLost = "lease_lost"
)

// chainID names a chain of events published in commit order, one at a
// time: all events of one partition key, or, for an event without a key,
// that event alone (seq set). Key-less events are not ordered among
// themselves because nothing downstream could keep that order: the
// KafkaSink writes them with a null record key, which the producer spreads
// over partitions, so they reach consumers in any order anyway. Chaining
// them would only make each wait for the others, and one refused key-less
// event hold back every other.
type chainID struct {
	key string
	seq int64
}

func chainOf(it store.OutboxItem) chainID {
	if it.Key == "" {
		return chainID{seq: it.Seq}
	}
	return chainID{key: it.Key}
}

// refusal is a chain held back because the sink refused its head, seq,
// for good.
type refusal struct {
	seq     int64
	wait    time.Duration
	retryAt time.Time
}

// NewRelay returns a relay that publishes up to concurrency partition keys
// at once (at least one).
func NewRelay(db *store.DB, sender *ce.Sender, log *slog.Logger, concurrency int) *Relay {
	return &Relay{db: db, sender: sender, log: log, concurrency: max(concurrency, 1),
		kick: make(chan struct{}, 1), now: time.Now, refused: map[chainID]*refusal{}}
}

// Kick asks for a sweep soon, without waiting for it.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sweeps at start, on every kick and every interval until ctx ends.
// While another process holds the outbox's lease it only stands by, trying
// for the lease on every tick. An ended ctx stops Run from starting sends;
// the sends already in flight finish (see Flush).
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	r.mu.Lock()
	r.leaseRetry = interval
	r.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Flush(ctx); err != nil && ctx.Err() == nil && (r.storeFailed == nil || !r.storeFailed(err)) {
			r.log.Warn("outbox publish failed; will retry", "error", err, "sink", r.sender.Target())
		}
		var heard, gone <-chan struct{}
		if l := r.currentLease(); l != nil {
			heard, gone = l.Heard(), l.Done()
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-heard:
		case <-gone:
		case <-t.C:
		}
	}
}

func (r *Relay) currentLease() *store.RelayLease {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// Close gives up the outbox's lease, so that a standby replica takes over
// at once. Call it after the last Flush.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lease != nil {
		r.lease.Release()
		r.lease = nil
		r.leading.Store(false)
	}
}

// Leading reports whether this relay holds the outbox's lease, as of its
// last sweep.
func (r *Relay) Leading() bool { return r.leading.Load() }

// holdLease reports whether this relay holds the outbox's lease, taking it
// when it is free. Called with mu held.
func (r *Relay) holdLease(ctx context.Context) (bool, error) {
	if r.lease != nil {
		select {
		case <-r.lease.Done():
			r.log.Warn("outbox: lost the relay lease; another replica may take over", "error", r.lease.Err())
			r.lease = nil
			r.leading.Store(false)
		default:
			return true, nil
		}
	}
	if r.standing && time.Since(r.lastTry) < r.leaseRetry {
		return false, nil
	}
	r.lastTry = time.Now()
	l, err := r.db.TryRelayLease(ctx)
	if err != nil {
		return false, err
	}
	if l == nil {
		if !r.standing {
			r.log.Info("outbox: another process holds the relay lease; standing by", "database", r.db.String())
			r.standing = true
		}
		return false, nil
	}
	if r.standing {
		r.log.Info("outbox: took over the relay lease", "database", r.db.String())
	}
	r.standing = false
	r.lease = l
	r.leading.Store(true)
	return true, nil
}

// Flush publishes what the outbox holds, returning the number of events
// the sink acknowledged. It returns when every chain is published or held
// back by a failure, and reports the failures of this sweep as its error;
// chains still waiting out a refusal's backoff are skipped without error
// (their refusal was reported when it happened). It waits for a sweep
// already running, so it is safe beside Run. While another process holds
// the outbox's lease it publishes nothing and returns (0, nil): that
// process publishes.
//
// An ended ctx stops the sweep from starting sends, but lets the sends in
// flight run to their answer (sendTimeout) and be marked: the sink may
// have taken an event already, and abandoning its answer would leave it
// pending, to be sent a second time by the next sweep. Only a lost lease
// abandons them, since another process may then be sending the same
// events.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	leading, err := r.holdLease(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	if !leading {
		return 0, nil
	}
	lease := r.lease
	sends, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	go func() {
		select {
		case <-lease.Done():
			abandon()
		case <-sends.Done():
		}
	}()
	s := &sweep{relay: r, started: r.now(), held: map[chainID]bool{}, sends: sends, lease: lease}
	for len(s.held) < maxHeldPerSweep {
		page, err := r.db.PendingOutbox(ctx, relayPage, s.skip())
		if err != nil {
			s.fail(fmt.Errorf("outbox: reading pending events: %w", err))
			break
		}
		if len(page) == 0 {
			break
		}
		// Each round ends only once all it sent is marked, so the next
		// round's read sees the outbox as it is and starts every chain at
		// its oldest unsent event. Reading on from the last seq instead
		// would miss, on PostgreSQL, an older event whose transaction
		// committed late, and publish its key's later events first.
		s.round(ctx, chainsOf(page))
		if len(page) < relayPage || s.stopping(ctx) {
			break
		}
	}
	if ctx.Err() != nil {
		return int(s.sent.Load()), ctx.Err()
	}
	return int(s.sent.Load()), s.err()
}

// chain is one chain's events of a round, oldest first.
type chain struct {
	id    chainID
	items []store.OutboxItem
}

// chainsOf splits a page into chains, ordered by their oldest event, so
// the chains waiting longest go first.
func chainsOf(page []store.OutboxItem) []*chain {
	byID := map[chainID]*chain{}
	var out []*chain
	for _, it := range page {
		id := chainOf(it)
		c, ok := byID[id]
		if !ok {
			c = &chain{id: id}
			byID[id] = c
			out = append(out, c)
		}
		c.items = append(c.items, it)
	}
	return out
}

// sweep is one Flush: the chains it held back and what went wrong.
type sweep struct {
	relay   *Relay
	started time.Time
	// sends is the context of each send: not the caller's, which only
	// stops new sends, but ended when the lease is lost.
	sends context.Context
	lease *store.RelayLease
	sent  atomic.Int64
	// sinkDown is set once the sink failed `concurrency` sends in a row
	// without an acknowledgement between them: then it is most likely down
	// for every key, and offering it every other key's head would only
	// cost a request each. Refusals do not count: a sink that answers 4xx
	// is up.
	sinkDown atomic.Bool
	// markFailed is set once acknowledged events could not be marked:
	// every further send would be sent again by the next sweep.
	markFailed atomic.Bool

	// mu guards the fields below, and relay.refused while sends run; the
	// sweep's own goroutine reads them between rounds, when none do.
	mu            sync.Mutex
	held          map[chainID]bool // chains stopped by a failed send in this sweep
	firstFailure  error            // the failed send that held back the first of them
	failuresInRow int
	errs          []error // failures other than a chain's send (reading, marking)
}

// skip is what the next read must leave out: chains held back in this
// sweep, and chains still waiting out a refusal.
func (s *sweep) skip() store.OutboxSkip {
	var skip store.OutboxSkip
	add := func(id chainID) {
		if id.key != "" {
			skip.Keys = append(skip.Keys, id.key)
		} else {
			skip.Seqs = append(skip.Seqs, id.seq)
		}
	}
	for id := range s.held {
		add(id)
	}
	for id, ref := range s.relay.refused {
		if _, ok := s.held[id]; !ok && s.started.Before(ref.retryAt) {
			add(id)
		}
	}
	return skip
}

// round publishes the chains of one page, up to `concurrency` at once, and
// returns once every send has ended and every acknowledgement is marked.
func (s *sweep) round(ctx context.Context, chains []*chain) {
	marks := startMarker(ctx, s.relay.db, relayPage)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.relay.concurrency, len(chains)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chains) || s.stopping(ctx) {
					return
				}
				s.publish(ctx, chains[i], marks)
			}
		})
	}
	wg.Wait()
	err := marks.close()
	if err != nil {
		s.fail(err)
	}
	d := s.relay.possibleDuplicate
	if d == nil {
		return
	}
	if marks.unmarked > 0 {
		d(dupUnmarked, marks.unmarked)
	}
	select {
	case <-s.lease.Done():
		// Lost during this round: the marks written raced the first read
		// of the lease's next holder, so each may go out again.
		if n := marks.queued - marks.unmarked; n > 0 {
			d(dupLeaseLost, n)
		}
	default:
	}
}

// stopping reports whether the sweep should start no more sends.
func (s *sweep) stopping(ctx context.Context) bool {
	return ctx.Err() != nil || s.sends.Err() != nil || s.sinkDown.Load() || s.markFailed.Load()
}

// publish sends a chain's events in order, each only after the previous
// one was acknowledged, and stops the chain at the first failure.
func (s *sweep) publish(ctx context.Context, c *chain, marks *marker) {
	for _, it := range c.items {
		if s.stopping(ctx) {
			return
		}
		sendCtx, cancel := context.WithTimeout(s.sends, sendTimeout)
		sendCtx, span := sendSpan(sendCtx, it.Event)
		// Stamped per attempt: the record that lands carries when it was
		// sent, which is when the fact reached the log, and, while
		// tracing, the send that put it there.
		it.Event.SetExtension(ce.PublishedTime, time.Now().UTC())
		if tp, ok := tracing.Traceparent(sendCtx); ok {
			it.Event.SetExtension(ce.Traceparent, tp)
		}
		err := s.relay.sender.Send(sendCtx, it.Event)
		endSendSpan(span, err)
		cancel()
		if s.relay.observe != nil {
			s.relay.observe(it.Event.Type(), err)
		}
		if err != nil {
			s.failed(ctx, c.id, it, err)
			return
		}
		if !marks.add(it.Seq) {
			s.markFailed.Store(true)
		}
		s.sent.Add(1)
		s.mu.Lock()
		s.failuresInRow = 0
		// The refused event went out at last (or someone removed it from
		// the outbox, and a later one went out): the chain is free.
		if ref, ok := s.relay.refused[c.id]; ok && it.Seq >= ref.seq {
			delete(s.relay.refused, c.id)
		}
		s.mu.Unlock()
	}
}

// failed holds the chain back for the rest of the sweep and records the
// attempt. A refusal for good also holds it back across sweeps, with a
// growing wait, and is logged as an error: it needs a person.
func (s *sweep) failed(ctx context.Context, id chainID, it store.OutboxItem, err error) {
	if s.sends.Err() != nil {
		// Abandoned because the lease was lost, not the sink's failure:
		// the event stays pending for the lease's next holder, and the
		// sink may have taken this copy.
		if d := s.relay.possibleDuplicate; d != nil {
			d(dupLeaseLost, 1)
		}
		return
	}
	if merr := s.relay.db.MarkFailed(ctx, it.Seq, err); merr != nil {
		s.relay.log.Warn("outbox: cannot record a failed publish", "seq", it.Seq, "error", merr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[id] = true
	if s.firstFailure == nil {
		s.firstFailure = err
	}
	if !ce.IsPermanent(err) {
		s.failuresInRow++
		if s.failuresInRow >= s.relay.concurrency {
			s.sinkDown.Store(true)
		}
		return
	}
	ref, ok := s.relay.refused[id]
	if !ok || ref.seq != it.Seq {
		ref = &refusal{seq: it.Seq, wait: firstRefusalBackoff}
		s.relay.refused[id] = ref
	} else {
		ref.wait = min(2*ref.wait, maxRefusalBackoff)
	}
	ref.retryAt = s.relay.now().Add(ref.wait)
	s.relay.log.Error("outbox: the sink refused an event for good; it stays in the outbox and its key's later events wait behind it",
		"id", it.Event.ID(), "type", it.Event.Type(), "partitionkey", it.Key, "seq", it.Seq,
		"attempts", it.Attempts+1, "retry_in", ref.wait, "sink", s.relay.sender.Target(), "error", err)
}

func (s *sweep) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

// err sums up what went wrong: the chains held back, with the first
// failure, and anything else.
func (s *sweep) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := append([]error(nil), s.errs...)
	if len(s.held) > 0 {
		reason := ""
		switch {
		case s.sinkDown.Load():
			reason = fmt.Sprintf(" (sweep stopped after %d failed sends in a row)", s.relay.concurrency)
		case len(s.held) >= maxHeldPerSweep:
			reason = " (sweep stopped there; the next one starts over)"
		}
		errs = append(errs, fmt.Errorf("outbox: %d key(s) held back by a failed send%s; the first: %w", len(s.held), reason, s.firstFailure))
	}
	return errors.Join(errs...)
}

// marker writes the seqs of acknowledged events while sends go on. Each
// write takes every acknowledgement that arrived during the previous one,
// so the writes grow larger, not more numerous, as the rate rises.
type marker struct {
	db    *store.DB
	ctx   context.Context
	acked chan int64
	done  chan struct{}
	err   error
	// failed is set as soon as a write failed, for add to report.
	failed atomic.Bool
	// queued and unmarked count the acknowledgements taken and those not
	// written; read them after close.
	queued, unmarked int
}

// startMarker takes up to capacity acknowledgements without blocking a
// sender. Its writes outlive ctx: an event the sink acknowledged should be
// marked even while the function stops, or the next start sends it again.
func startMarker(ctx context.Context, db *store.DB, capacity int) *marker {
	m := &marker{db: db, ctx: context.WithoutCancel(ctx), acked: make(chan int64, capacity), done: make(chan struct{})}
	go m.run()
	return m
}

// add queues seq to be marked sent; false once a write has failed.
func (m *marker) add(seq int64) bool {
	m.acked <- seq
	return !m.failed.Load()
}

func (m *marker) run() {
	defer close(m.done)
	for seq := range m.acked {
		batch := []int64{seq}
	gather:
		for {
			select {
			case more, ok := <-m.acked:
				if !ok {
					break gather
				}
				batch = append(batch, more)
			default:
				break gather
			}
		}
		m.queued += len(batch)
		if m.err != nil {
			// Marking on after a failed write could mark a key's later
			// event but not an earlier one, which the next sweep would
			// then send again after it. Unmarked, both go again, in order.
			m.unmarked += len(batch)
			continue
		}
		ctx, cancel := context.WithTimeout(m.ctx, markTimeout)
		if err := m.db.MarkSent(ctx, batch...); err != nil {
			m.err = fmt.Errorf("outbox: events acknowledged by the sink but not marked sent (the next sweep sends them again): %w", err)
			m.failed.Store(true)
			m.unmarked += len(batch)
		}
		cancel()
	}
}

// close waits for the last write and returns the first failure.
func (m *marker) close() error {
	close(m.acked)
	<-m.done
	return m.err
}

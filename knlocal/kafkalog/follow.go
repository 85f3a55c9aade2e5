package kafkalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// FollowConfig says what a Follower reads and how it reconnects.
type FollowConfig struct {
	// Client is the Kafka client to start with; the follower does not
	// close it.
	Client sarama.Client
	// Redial, when set, gives a new client after reading failed (the
	// broker went away and may be back elsewhere: a restarted local
	// plane's embedded broker has a new port); the follower closes the
	// clients Redial gave it. Unset, it reconnects with Client.
	Redial func(ctx context.Context) (sarama.Client, error)
	// Topics to follow, every partition of each.
	Topics []string
	// FromOldest starts at each partition's oldest record, else at its end
	// as the follower starts.
	FromOldest bool
	// GiveUp is how long reconnecting may fail before the follower stops
	// with an error (default 2 minutes).
	GiveUp time.Duration
}

// Follower streams the records of topics until its context ends. When a
// partition's consumer closes or fails (the broker went away, restarted,
// moved), it reconnects and goes on from the next offset of every
// partition, so nothing is read twice or skipped; it stops with an error
// when reconnecting fails for GiveUp, or when a partition's next offset is
// no longer in the log (the broker lost records: nothing to go on from).
type Follower struct {
	cfg  FollowConfig
	fn   func(Record)
	next map[partitionKey]int64 // the offset to read next, per partition
	mu   sync.Mutex             // serialises fn and next
	done chan struct{}
	err  error
}

type partitionKey struct {
	topic     string
	partition int32
}

// Follow starts following cfg.Topics and calls fn with every record, one
// at a time. The start positions are taken before it returns, so a record
// written after Follow returns is not missed.
func Follow(ctx context.Context, cfg FollowConfig, fn func(Record)) (*Follower, error) {
	cfg.GiveUp = cmp.Or(cfg.GiveUp, 2*time.Minute)
	f := &Follower{cfg: cfg, fn: fn, next: map[partitionKey]int64{}, done: make(chan struct{})}
	at := sarama.OffsetNewest
	if cfg.FromOldest {
		at = sarama.OffsetOldest
	}
	for _, topic := range cfg.Topics {
		parts, err := cfg.Client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			off, err := cfg.Client.GetOffset(topic, p, at)
			if err != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", topic, p, err)
			}
			f.next[partitionKey{topic, p}] = off
		}
	}
	// The first session starts here, so a failure to start at all is the
	// caller's error, not a reconnect.
	s, err := f.start(ctx, cfg.Client)
	if err != nil {
		return nil, err
	}
	go f.run(ctx, s)
	return f, nil
}

// Done is closed when the follower has stopped: its context ended, or it
// gave up (Err says why).
func (f *Follower) Done() <-chan struct{} { return f.done }

// Err is why the follower stopped; nil when its context ended. Read it
// after Done is closed.
func (f *Follower) Err() error { return f.err }

func (f *Follower) run(ctx context.Context, s *session) {
	defer close(f.done)
	client, owned := f.cfg.Client, false
	defer func() {
		if owned {
			client.Close()
		}
	}()
	for {
		err := s.wait(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, sarama.ErrOffsetOutOfRange) {
			f.err = lostRecords(err)
			return
		}
		failedAt, wait := time.Now(), 250*time.Millisecond
		for s = nil; s == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			if f.cfg.Redial != nil {
				if c, derr := f.cfg.Redial(ctx); derr == nil {
					if owned {
						client.Close()
					}
					client, owned = c, true
				} else {
					err = derr
				}
			} else {
				_ = client.RefreshMetadata(f.cfg.Topics...)
			}
			s, err = f.start(ctx, client)
			if errors.Is(err, sarama.ErrOffsetOutOfRange) {
				f.err = lostRecords(err)
				return
			}
			if err != nil && time.Since(failedAt) > f.cfg.GiveUp {
				f.err = fmt.Errorf("following %v: gave up reconnecting after %s: %w", f.cfg.Topics, f.cfg.GiveUp, err)
				return
			}
		}
	}
}

// lostRecords explains an offset that is no longer in the log: there is
// nothing to go on from.
func lostRecords(err error) error {
	return fmt.Errorf("%w: the records the follower was to read next are no longer in the log (the broker lost them: restarted without its data?)", err)
}

// session is one connection's partition consumers.
type session struct {
	consumer sarama.Consumer
	failed   chan error // the first partition to fail says why
	stop     chan struct{}
	wg       sync.WaitGroup
	pcs      []sarama.PartitionConsumer
}

func (f *Follower) start(ctx context.Context, client sarama.Client) (*session, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	s := &session{consumer: consumer, failed: make(chan error, 1), stop: make(chan struct{})}
	f.mu.Lock()
	next := make(map[partitionKey]int64, len(f.next))
	for k, v := range f.next {
		next[k] = v
	}
	f.mu.Unlock()
	for k, off := range next {
		pc, err := consumePartition(ctx, client, consumer, k.topic, k.partition, off)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("topic %s partition %d from offset %d: %w", k.topic, k.partition, off, err)
		}
		s.pcs = append(s.pcs, pc)
		s.wg.Go(func() { f.read(s, k, pc) })
	}
	return s, nil
}

func (f *Follower) read(s *session, k partitionKey, pc sarama.PartitionConsumer) {
	fail := func(err error) {
		select {
		case s.failed <- fmt.Errorf("topic %s partition %d: %w", k.topic, k.partition, err):
		default:
		}
	}
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				fail(fmt.Errorf("its consumer closed: %w", ClosedError(pc)))
				return
			}
			f.mu.Lock()
			f.fn(Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Timestamp: m.Timestamp, Event: Decode(m), Raw: m})
			f.next[k] = m.Offset + 1
			f.mu.Unlock()
		case err, ok := <-pc.Errors():
			if !ok {
				fail(errors.New("its consumer closed"))
			} else {
				fail(err)
			}
			return
		case <-s.stop:
			return
		}
	}
}

// wait returns when ctx ends (closing the session) or a partition failed.
func (s *session) wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.failed:
	}
	s.close()
	return err
}

func (s *session) close() {
	close(s.stop)
	s.wg.Wait()
	var wg sync.WaitGroup
	for _, pc := range s.pcs {
		wg.Go(func() { _ = pc.Close() }) // drains its errors, so none blocks on them
	}
	wg.Wait()
	s.consumer.Close()
}

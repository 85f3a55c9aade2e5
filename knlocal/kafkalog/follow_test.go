package kafkalog

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
)

type durable struct {
	t       *testing.T
	dir     string // "" keeps the broker in memory
	cluster *broker.Cluster
}

func (d *durable) start() {
	d.t.Helper()
	opts := []broker.Option{}
	if d.dir != "" {
		opts = append(opts, broker.WithDataDir(d.dir), broker.WithSyncWrites())
	}
	c, err := broker.Start(opts...)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cluster = c
	d.t.Cleanup(c.Close)
}

func (d *durable) client() sarama.Client {
	d.t.Helper()
	kc, err := broker.NewClient(d.cluster.BootstrapServers(), "follow-test")
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { kc.Close() })
	return kc
}

func (d *durable) produce(from, to int) {
	d.t.Helper()
	kc := d.client()
	admin, err := sarama.NewClusterAdminFromClient(kc)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := admin.CreateTopic("t", &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		d.t.Fatal(err)
	}
	p, err := sarama.NewSyncProducerFromClient(kc)
	if err != nil {
		d.t.Fatal(err)
	}
	defer p.Close()
	for i := from; i < to; i++ {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "t", Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.StringEncoder(strconv.Itoa(i))}); err != nil {
			d.t.Fatal(err)
		}
	}
}

type seen struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *seen) add(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[string(r.Raw.Value)]++
}

func (s *seen) waitFor(t *testing.T, f *Follower, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.n)
		s.mu.Unlock()
		if n >= want {
			return
		}
		select {
		case <-f.Done():
			t.Fatalf("the follower stopped at %d of %d records: %v", n, want, f.Err())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records followed", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A follower survives its broker going away: the broker comes back (its
// log on disk, on another port, as a restarted `orderflow up`'s does),
// Redial gives a client for it, and the follower goes on from where it
// was, every record once. (Before, the closed channel of a partition
// consumer was read as a nil record: a panic.)
func TestFollowerGoesOnAfterItsBrokerRestarts(t *testing.T) {
	d := &durable{t: t, dir: t.TempDir()}
	d.start()
	d.produce(0, 30)
	var (
		mu      sync.Mutex
		current = d.cluster
	)
	s := &seen{n: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := Follow(ctx, FollowConfig{Client: d.client(), Topics: []string{"t"}, FromOldest: true,
		Redial: func(context.Context) (sarama.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			return broker.NewClient(current.BootstrapServers(), "follow-test-redial")
		}}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, f, 30)
	d.cluster.Close()
	time.Sleep(time.Second) // the follower's consumers fail meanwhile
	mu.Lock()
	d.start()
	current = d.cluster
	mu.Unlock()
	d.produce(30, 60)
	s.waitFor(t, f, 60)
	cancel()
	<-f.Done()
	if f.Err() != nil {
		t.Fatalf("Err after the context ended: %v", f.Err())
	}
	for v, n := range s.n {
		if n != 1 {
			t.Errorf("record %s followed %d times", v, n)
		}
	}
}

// A broker that came back without the records (in memory, restarted):
// the next offsets are not in its log, and the follower stops saying so,
// rather than panicking or spinning.
func TestFollowerStopsWhenItsOffsetsLeftTheLog(t *testing.T) {
	d := &durable{t: t}
	d.start()
	d.produce(0, 30)
	port := d.cluster.BootstrapServers()[0]
	s := &seen{n: map[string]int{}}
	f, err := Follow(context.Background(), FollowConfig{Client: d.client(), Topics: []string{"t"}, FromOldest: true, GiveUp: 30 * time.Second,
		Redial: func(context.Context) (sarama.Client, error) {
			return broker.NewClient(d.cluster.BootstrapServers(), "follow-test-redial")
		}}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, f, 30)
	d.cluster.Close()
	d.start() // empty
	d.produce(0, 3)
	select {
	case <-f.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("the follower still runs against a log that lost its records (old broker %s)", port)
	}
	if !errors.Is(f.Err(), sarama.ErrOffsetOutOfRange) {
		t.Fatalf("Err %v, want offset out of range", f.Err())
	}
}

// Without a way back, a follower gives up after GiveUp with an error.
func TestFollowerGivesUpOnABrokerGoneForGood(t *testing.T) {
	d := &durable{t: t}
	d.start()
	d.produce(0, 3)
	s := &seen{n: map[string]int{}}
	f, err := Follow(context.Background(), FollowConfig{Client: d.client(), Topics: []string{"t"}, FromOldest: true, GiveUp: 3 * time.Second}, s.add)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, f, 3)
	d.cluster.Close()
	select {
	case <-f.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("the follower never gave up")
	}
	if f.Err() == nil {
		t.Fatal("stopped without an error")
	}
	t.Log(f.Err())
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/manifests"
)

// TopicOption tunes EnsureTopics.
type TopicOption func(*topicOptions)

type topicOptions struct {
	capReplication bool
	replicas       int16
	minInsync      int
	settle         time.Duration
}

// CapReplication lowers a KafkaTopic's replicas to the number of brokers
// when it asks for more (a 3-replica manifest on a 1-broker dev cluster).
// Without it, such a topic fails to be created, as it would on a cluster:
// silently weakening durability is the caller's decision, not ours.
func CapReplication() TopicOption { return func(o *topicOptions) { o.capReplication = true } }

// ErrTooFewBrokers: OverrideReplication asks for more replicas than the
// cluster has brokers.
var ErrTooFewBrokers = errors.New("broker: not enough brokers")

// OverrideReplication creates every topic with replicas replicas and, when
// minInsync > 0, min.insync.replicas=minInsync, whatever the KafkaTopics
// declare: the shape a production cluster gives the same manifests (for a
// replication test on a three-broker cluster, or `up --topic-replicas`).
// Partitions and the rest of the config still come from the manifests.
func OverrideReplication(replicas int16, minInsync int) TopicOption {
	return func(o *topicOptions) { o.replicas, o.minInsync = replicas, minInsync }
}

// WithSettleTimeout bounds the wait for created topics to show up with a
// leader for every partition (default 10s).
func WithSettleTimeout(d time.Duration) TopicOption { return func(o *topicOptions) { o.settle = d } }

// TopicResult says what EnsureTopics did.
type TopicResult struct {
	Created  []string
	Existing []string
	// Capped maps a topic to the replication factor it was created with
	// when CapReplication lowered it.
	Capped map[string]int16
}

// Mismatch is an existing topic whose partition count differs from its
// KafkaTopic.
type Mismatch struct {
	manifests.Origin
	Topic              string
	Declared, Existing int32
}

// MismatchError reports existing topics that differ from the manifests.
// EnsureTopics still creates the missing topics when it returns one; the
// caller decides whether running on is acceptable (keyed ordering across a
// partition-count change is not preserved).
type MismatchError struct{ Mismatches []Mismatch }

func (e *MismatchError) Error() string {
	var b strings.Builder
	for i, m := range e.Mismatches {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s: KafkaTopic %q: spec.partitions: declares %d partitions but topic %s exists with %d",
			m.File, m.Topic, m.Declared, m.Topic, m.Existing)
	}
	return b.String()
}

// EnsureTopics creates every KafkaTopic that does not exist yet, with the
// declared partitions, replicas and config, through the cluster admin API.
// Existing topics are left alone; one whose partition count differs from
// its manifest is reported in a *MismatchError. It returns once every
// created topic has a leader for each partition, so producers started next
// do not race topic propagation.
func EnsureTopics(ctx context.Context, admin sarama.ClusterAdmin, topics []manifests.KafkaTopic, opts ...TopicOption) (TopicResult, error) {
	o := topicOptions{settle: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	res := TopicResult{Capped: map[string]int16{}}
	existing, err := admin.ListTopics()
	if err != nil {
		return res, fmt.Errorf("broker: list topics: %w", err)
	}
	nbrokers := 0
	if o.capReplication || o.replicas > 0 {
		if nbrokers, err = BrokerCount(admin); err != nil {
			return res, err
		}
	}
	if o.replicas > 0 && !o.capReplication && int(o.replicas) > nbrokers {
		return res, fmt.Errorf("%w: a replication factor of %d needs %d brokers, the cluster has %d", ErrTooFewBrokers, o.replicas, o.replicas, nbrokers)
	}

	var mismatches []Mismatch
	var errs []error
	for _, t := range topics {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if d, ok := existing[t.TopicName]; ok {
			res.Existing = append(res.Existing, t.TopicName)
			if t.Partitions > 0 && d.NumPartitions != t.Partitions {
				mismatches = append(mismatches, Mismatch{Origin: t.Origin, Topic: t.TopicName, Declared: t.Partitions, Existing: d.NumPartitions})
			}
			continue
		}
		detail := &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: t.Replicas, ConfigEntries: map[string]*string{}}
		if o.replicas > 0 {
			detail.ReplicationFactor = o.replicas
		}
		if o.capReplication && nbrokers > 0 && int(detail.ReplicationFactor) > nbrokers {
			detail.ReplicationFactor = int16(nbrokers)
			res.Capped[t.TopicName] = detail.ReplicationFactor
		}
		for k, v := range t.Config {
			detail.ConfigEntries[k] = &v
		}
		if o.minInsync > 0 {
			v := strconv.Itoa(o.minInsync)
			detail.ConfigEntries["min.insync.replicas"] = &v
		}
		err := admin.CreateTopic(t.TopicName, detail, false)
		switch {
		case err == nil:
			res.Created = append(res.Created, t.TopicName)
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			res.Existing = append(res.Existing, t.TopicName) // created concurrently
		default:
			errs = append(errs, fmt.Errorf("%s: KafkaTopic %q: create topic %s (partitions %d, replicas %d): %w",
				t.File, t.Name, t.TopicName, detail.NumPartitions, detail.ReplicationFactor, err))
		}
	}
	if len(res.Created) > 0 {
		if err := waitForLeaders(ctx, admin, res.Created, o.settle); err != nil {
			errs = append(errs, err)
		}
	}
	if len(mismatches) > 0 {
		errs = append(errs, &MismatchError{Mismatches: mismatches})
	}
	return res, errors.Join(errs...)
}

// waitForLeaders polls topic metadata until every partition of every
// topic has a leader.
func waitForLeaders(ctx context.Context, admin sarama.ClusterAdmin, topics []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sort.Strings(topics)
	var last error
	for {
		md, err := admin.DescribeTopics(topics)
		if err == nil {
			last = nil
			for _, t := range md {
				if t.Err != sarama.ErrNoError {
					last = fmt.Errorf("topic %s: %w", t.Name, t.Err)
					break
				}
				for _, p := range t.Partitions {
					if p.Leader < 0 || p.Err != sarama.ErrNoError {
						last = fmt.Errorf("topic %s partition %d has no leader yet", t.Name, p.ID)
						break
					}
				}
			}
			if last == nil && len(md) == len(topics) {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: created topics not ready within %s: %w", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Package lag reads consumer lag: for each consumer group, topic and
// partition, how far the group's committed offset is behind the end of the
// partition. It asks Kafka itself (OffsetFetch for the group, ListOffsets
// for the partition), so it works the same against the embedded broker and
// any Kafka, and means what Strimzi's Kafka Exporter's
// kafka_consumergroup_lag means on a cluster.
package lag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/IBM/sarama"
)

// Partition is one partition's lag for one consumer group.
type Partition struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's next offset to read; -1 when the group has
	// committed nothing on this partition yet.
	Committed int64 `json:"committed"`
	// Start and End are the partition's first offset and the offset the
	// next record will get.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Lag is End - Committed; with nothing committed, every record still in
	// the partition (End - Start), which is what the group will read on
	// an earliest initial offset.
	Lag int64 `json:"lag"`
}

// Group names a consumer group and the topics it reads.
type Group struct {
	Name   string
	Topics []string
}

// Read returns the lag of every partition of each group's topics, sorted by
// group, topic and partition. An error names the group or topic it is about.
func Read(ctx context.Context, client sarama.Client, groups []Group) ([]Partition, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	// Not admin.Close: that would close the caller's client.
	ends := map[string][]offsets{}
	for _, g := range groups {
		for _, t := range g.Topics {
			if _, done := ends[t]; done {
				continue
			}
			o, err := topicOffsets(ctx, client, t)
			if err != nil {
				return nil, err
			}
			ends[t] = o
		}
	}
	var out []Partition
	for _, g := range groups {
		want := map[string][]int32{}
		for _, t := range g.Topics {
			for p := range ends[t] {
				want[t] = append(want[t], int32(p))
			}
		}
		resp, err := admin.ListConsumerGroupOffsets(g.Name, want)
		if err == nil && resp.Err != sarama.ErrNoError {
			err = resp.Err
		}
		if errors.Is(err, sarama.ErrGroupIDNotFound) {
			// A group nobody has joined yet (kfake says so; Kafka answers
			// with no offsets): it has read nothing.
			resp, err = &sarama.OffsetFetchResponse{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("consumer group %s: offsets: %w", g.Name, err)
		}
		for _, t := range g.Topics {
			for p, o := range ends[t] {
				committed := int64(-1)
				if b := resp.GetBlock(t, int32(p)); b != nil {
					if b.Err != sarama.ErrNoError {
						return nil, fmt.Errorf("consumer group %s: %s/%d: %w", g.Name, t, p, b.Err)
					}
					committed = b.Offset
				}
				out = append(out, Partition{Group: g.Name, Topic: t, Partition: int32(p), Committed: committed,
					Start: o.start, End: o.end, Lag: behind(committed, o)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out, nil
}

type offsets struct{ start, end int64 }

// behind is the records a group has still to read on a partition. A commit
// below the log start (records deleted by retention) counts from the start:
// those records can no longer be read, so they are not lag.
func behind(committed int64, o offsets) int64 {
	from := committed
	if from < o.start {
		from = o.start
	}
	if from > o.end {
		return 0
	}
	return o.end - from
}

// topicOffsets reads the first and next offset of every partition of topic,
// the partitions in parallel (one ListOffsets request each way per leader
// would be fewer requests, but sarama's GetOffset is what the client keeps
// metadata for, and a topic has a handful of partitions).
func topicOffsets(ctx context.Context, client sarama.Client, topic string) ([]offsets, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	out := make([]offsets, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		if int(p) >= len(parts) || p < 0 {
			return nil, fmt.Errorf("topic %s: partition ids are not 0..%d", topic, len(parts)-1)
		}
	}
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err == nil {
				var end int64
				end, err = client.GetOffset(topic, p, sarama.OffsetNewest)
				out[p] = offsets{start: start, end: end}
			}
			if err != nil {
				errs[i] = fmt.Errorf("topic %s partition %d: %w", topic, p, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

// Total sums the lag of a group over all its partitions.
func Total(parts []Partition) map[string]int64 {
	out := map[string]int64{}
	for _, p := range parts {
		out[p.Group] += p.Lag
	}
	return out
}

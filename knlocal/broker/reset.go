package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

// Reset deletes the given topics and consumer groups from a cluster and
// waits until they are gone, so the next EnsureTopics starts from empty
// topics and the next consumer group from its initialOffset. It is for
// tests that share one external Kafka between runs, never for a cluster
// that holds anything of value. Missing topics and groups are fine.
func Reset(ctx context.Context, admin sarama.ClusterAdmin, topics, groups []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Groups first: a group's committed offsets outlive its topics.
	for _, g := range groups {
		if err := deleteGroup(ctx, admin, g); err != nil {
			return err
		}
	}
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("broker: list topics: %w", err)
	}
	var doomed []string
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			doomed = append(doomed, t)
		}
	}
	sort.Strings(doomed)
	for _, t := range doomed {
		if err := admin.DeleteTopic(t); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return fmt.Errorf("broker: delete topic %s: %w", t, err)
		}
	}
	for len(doomed) > 0 {
		existing, err := admin.ListTopics()
		if err == nil {
			left := doomed[:0]
			for _, t := range doomed {
				if _, ok := existing[t]; ok {
					left = append(left, t)
				}
			}
			doomed = left
			if len(doomed) == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: topics %v still listed after deletion (%v)", doomed, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// deleteGroup deletes a consumer group, waiting for the members of a plane
// that just stopped to leave it.
func deleteGroup(ctx context.Context, admin sarama.ClusterAdmin, group string) error {
	for {
		err := admin.DeleteConsumerGroup(group)
		if err == nil || errors.Is(err, sarama.ErrGroupIDNotFound) {
			return nil
		}
		if !errors.Is(err, sarama.ErrNonEmptyGroup) && !errors.Is(err, sarama.ErrOffsetsLoadInProgress) &&
			!errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) && !errors.Is(err, sarama.ErrNotCoordinatorForConsumer) {
			return fmt.Errorf("broker: delete consumer group %s: %w", group, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: delete consumer group %s: %w (%v)", group, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

package validate

import (
	"fmt"
	"strconv"

	"orderflow.dev/knlocal/manifests"
)

// StrimziClusterLabel is the label by which a topic operator picks the
// KafkaTopics of its Kafka cluster; a topic without it is never created.
const StrimziClusterLabel = "strimzi.io/cluster"

// kafkaTopicConfigs are the topic-level configuration names of Apache
// Kafka 4.x (org.apache.kafka.common.config.TopicConfig and the log
// configs it lists). A key not here would be refused by the broker and
// leave the KafkaTopic NotReady.
var kafkaTopicConfigs = map[string]bool{
	"cleanup.policy": true, "compression.type": true, "compression.gzip.level": true,
	"compression.lz4.level": true, "compression.zstd.level": true, "delete.retention.ms": true,
	"file.delete.delay.ms": true, "flush.messages": true, "flush.ms": true,
	"follower.replication.throttled.replicas": true, "index.interval.bytes": true,
	"leader.replication.throttled.replicas": true, "local.retention.bytes": true,
	"local.retention.ms": true, "max.compaction.lag.ms": true, "max.message.bytes": true,
	"message.timestamp.after.max.ms": true, "message.timestamp.before.max.ms": true,
	"message.timestamp.type": true, "min.cleanable.dirty.ratio": true,
	"min.compaction.lag.ms": true, "min.insync.replicas": true, "preallocate": true,
	"remote.storage.enable": true, "remote.log.copy.disable": true, "remote.log.delete.on.disable": true,
	"retention.bytes": true, "retention.ms": true, "segment.bytes": true,
	"segment.index.bytes": true, "segment.jitter.ms": true, "segment.ms": true,
	"unclean.leader.election.enable": true,
}

// topicLint is what a deployment wants of a KafkaTopic beyond what
// Strimzi refuses (manifests.StrimziTopic.Validate): a topic operator to
// create it, its size stated rather than left to the broker, config keys
// Kafka knows, and a min.insync.replicas its replicas can meet.
func topicLint(t *manifests.StrimziTopic) []manifests.FieldProblem {
	var probs []manifests.FieldProblem
	fail := func(field, format string, a ...any) {
		probs = append(probs, manifests.FieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if t.Labels[StrimziClusterLabel] == "" {
		fail("metadata.labels", "no %s label: no topic operator would create this topic", StrimziClusterLabel)
	}
	if t.Spec.Partitions == nil {
		fail("spec.partitions", "missing: the broker's num.partitions would decide")
	}
	if t.Spec.Replicas == nil {
		fail("spec.replicas", "missing: the broker's default.replication.factor would decide")
	}
	for k := range t.Spec.Config {
		if !kafkaTopicConfigs[k] {
			fail("spec.config."+k, "not a Kafka topic configuration")
		}
	}
	if s, ok, _ := t.ConfigString("min.insync.replicas"); ok && t.Spec.Replicas != nil {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			fail("spec.config.min.insync.replicas", "%q is not a number", s)
		case n < 1 || int32(n) > *t.Spec.Replicas:
			fail("spec.config.min.insync.replicas", "%d with %d replicas: every acks=all write would fail", n, *t.Spec.Replicas)
		}
	}
	return probs
}

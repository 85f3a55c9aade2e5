package validate

import (
	"encoding/json"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KafkaTopic is Strimzi's KafkaTopic (kafka.strimzi.io v1beta2 and v1),
// modelled here because Strimzi publishes no Go module. The shape and the
// bounds are those of Strimzi's own model class, read from the io.strimzi:api
// 0.49.0 jar on Maven Central (io.strimzi.api.kafka.model.topic
// .KafkaTopicSpec: topicName String; partitions Integer @Minimum(1);
// replicas Integer @Minimum(1) @Maximum(32767); config Map<String,Object>),
// from which Strimzi's crd-generator writes the CRD's OpenAPI schema.
// spec.config is free-form in the CRD; its keys are checked against
// Kafka's topic configuration names below.
type KafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              KafkaTopicSpec `json:"spec"`
	// Status is written by the topic operator; accepted so a round-tripped
	// object still decodes.
	Status json.RawMessage `json:"status,omitempty"`
}

type KafkaTopicSpec struct {
	TopicName  string                     `json:"topicName,omitempty"`
	Partitions *int32                     `json:"partitions,omitempty"`
	Replicas   *int32                     `json:"replicas,omitempty"`
	Config     map[string]json.RawMessage `json:"config,omitempty"`
}

// Name is the Kafka topic name: spec.topicName, or metadata.name.
func (t *KafkaTopic) TopicName() string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Name
}

// ConfigString renders a config value as Kafka takes it (the topic
// operator sends strings): a string as is, a number or boolean as written.
func (t *KafkaTopic) ConfigString(key string) (string, bool, error) {
	raw, ok := t.Spec.Config[key]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, err
	}
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(v), true, nil
	default:
		return "", true, fmt.Errorf("must be a string, number or boolean")
	}
}

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

func (t *KafkaTopic) validate() []fieldProblem {
	var probs []fieldProblem
	fail := func(field, format string, a ...any) {
		probs = append(probs, fieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if t.Labels[StrimziClusterLabel] == "" {
		fail("metadata.labels", "no %s label: no topic operator would create this topic", StrimziClusterLabel)
	}
	if p := t.Spec.Partitions; p == nil {
		fail("spec.partitions", "missing: the broker's num.partitions would decide")
	} else if *p < 1 {
		fail("spec.partitions", "must be at least 1 (Strimzi @Minimum(1)), got %d", *p)
	}
	if r := t.Spec.Replicas; r == nil {
		fail("spec.replicas", "missing: the broker's default.replication.factor would decide")
	} else if *r < 1 || *r > 32767 {
		fail("spec.replicas", "must be 1..32767 (Strimzi @Minimum(1) @Maximum(32767)), got %d", *r)
	}
	for k := range t.Spec.Config {
		if !kafkaTopicConfigs[k] {
			fail("spec.config."+k, "not a Kafka topic configuration")
			continue
		}
		if _, _, err := t.ConfigString(k); err != nil {
			fail("spec.config."+k, "%v", err)
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

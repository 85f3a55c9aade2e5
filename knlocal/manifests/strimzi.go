package manifests

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// StrimziTopic is Strimzi's StrimziTopic (kafka.strimzi.io v1beta2 and v1),
// modelled here because Strimzi publishes no Go module. The shape and the
// bounds are those of Strimzi's own model class, read from the io.strimzi:api
// 0.49.0 jar on Maven Central (io.strimzi.api.kafka.model.topic
// .StrimziTopicSpec: topicName String; partitions Integer @Minimum(1);
// replicas Integer @Minimum(1) @Maximum(32767); config Map<String,Object>),
// from which Strimzi's crd-generator writes the CRD's OpenAPI schema.
// spec.config is free-form in the CRD; its keys are checked against
// Kafka's topic configuration names below.
type StrimziTopic struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       StrimziTopicSpec `json:"spec"`
	// Status is written by the topic operator; accepted so a round-tripped
	// object still decodes.
	Status json.RawMessage `json:"status,omitempty"`
}

type StrimziTopicSpec struct {
	TopicName  string                     `json:"topicName,omitempty"`
	Partitions *int32                     `json:"partitions,omitempty"`
	Replicas   *int32                     `json:"replicas,omitempty"`
	Config     map[string]json.RawMessage `json:"config,omitempty"`
}

// Name is the Kafka topic name: spec.topicName, or metadata.name.
func (t *StrimziTopic) TopicName() string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Name
}

// ConfigString renders a config value as Kafka takes it (the topic
// operator sends strings): a string as is, a number or boolean as written.
func (t *StrimziTopic) ConfigString(key string) (string, bool, error) {
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

// Validate checks what Strimzi's CRD schema refuses (its OpenAPI bounds:
// partitions @Minimum(1), replicas @Minimum(1) @Maximum(32767)), and that
// each config value is one Kafka can take. Left out, partitions and
// replicas are the broker's defaults.
func (t *StrimziTopic) Validate() []FieldProblem {
	var probs []FieldProblem
	fail := func(field, format string, a ...any) {
		probs = append(probs, FieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if p := t.Spec.Partitions; p != nil && *p < 1 {
		fail("spec.partitions", "must be at least 1 (Strimzi @Minimum(1)), got %d", *p)
	}
	if r := t.Spec.Replicas; r != nil && (*r < 1 || *r > 32767) {
		fail("spec.replicas", "must be 1..32767 (Strimzi @Minimum(1) @Maximum(32767)), got %d", *r)
	}
	for k := range t.Spec.Config {
		if _, _, err := t.ConfigString(k); err != nil {
			fail("spec.config."+k, "%v", err)
		}
	}
	return probs
}

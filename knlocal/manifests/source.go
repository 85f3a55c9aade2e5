package manifests

import (
	"fmt"

	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
)

// ReadSource reads a KafkaSource that Admit admitted (its Typed, defaulted)
// into the fields the plane runs, with what a cluster gives the fields it
// leaves out, as Load does. So a check outside the plane (deploy/validate)
// reasons about the same delivery: retries, backoff and timeout as the
// dispatcher applies them. The problems are what the plane and Knative's
// Kafka control plane cannot run (a duration it cannot read).
func ReadSource(o Object, ks *kafkasourcesv1beta1.KafkaSource) (KafkaSource, []FieldProblem) {
	var probs []FieldProblem
	c := conv{Object: o, fail: func(field, format string, a ...any) {
		probs = append(probs, FieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}}
	s, _ := c.source(ks)
	return s, probs
}

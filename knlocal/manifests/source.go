package manifests

import "fmt"

// ReadSource reads one rendered KafkaSource (v1beta1 or v1) exactly as
// Load does: admitted by the plane's own checks, then read into the fields
// the plane runs, with what a cluster gives the fields it leaves out. So a
// check outside the plane (deploy/validate) reasons about the same
// delivery: retries, backoff and timeout as the dispatcher applies them.
// The problems are what the plane refuses, each with its field: what the
// webhooks refuse, and what the plane and Knative's Kafka control plane
// cannot run (a duration it cannot read). ok is false when o is no
// KafkaSource of a version the plane reads.
func ReadSource(o Object) (s KafkaSource, probs []FieldProblem, ok bool) {
	if o.Kind != KindKafkaSource {
		return KafkaSource{}, nil, false
	}
	if o.Namespace == "" {
		o = inNamespace(o, DefaultNamespace)
	}
	typed, probs, ok := admit(o)
	if !ok || len(probs) > 0 {
		return KafkaSource{}, probs, ok
	}
	c := conv{Object: o, fail: func(field, format string, a ...any) {
		probs = append(probs, FieldProblem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}}
	s, _ = c.source(sourceSpec(typed))
	return s, probs, true
}

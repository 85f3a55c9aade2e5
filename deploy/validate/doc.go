// Package validate proves the Knative manifests under knative/ without a
// cluster: it renders a kustomization with kustomize's own engine and
// checks every object the way the cluster would, then what no cluster
// checks.
//
//  1. Render: knlocal/manifests.Render, kustomize's own engine
//     (sigs.k8s.io/kustomize/api krusty v0.21.2, the engine of kustomize
//     v5.8.2, default options) over an in-memory copy of the tree, with
//     stand-ins for the production secrets that are never committed.
//  2. Per object (check.go): the kinds a topology is made of admitted as
//     a cluster admits them (admit.go, decode.go): strict decoding into
//     the real API types (eventing-kafka-broker v0.50.1 KafkaSource
//     v1beta1/v1 and KafkaSink v1alpha1; eventing v0.50.0 SinkBinding and
//     PingSource v1; Strimzi KafkaTopic as knlocal/manifests models it),
//     unknown fields being errors with their path; then SetDefaults and
//     Validate with the contexts Knative's webhooks use, and a
//     KafkaSource's delivery as its ConsumerGroup is validated. Here
//     besides: core v1 Secret and ConfigMap, PrometheusRule, what a
//     deployment wants of a KafkaTopic (topics.go), and the Kafka security
//     a KafkaSource's controller builds from spec.net.
//  3. Across objects: every sink and dead-letter sink exists (a KafkaSink of
//     the render or a function's Service); every topic read or written is
//     declared; the event catalog (orderflow.dev/shared/events) agrees with
//     who publishes where (SinkBindings) and who reads what (KafkaSources);
//     every event a function publishes is consumed or terminal; every
//     Secret key a func.yaml reads exists.
//  4. Scale (scale.go): each func.yaml's deploy.options.scale read as func
//     reads it (strictly), its annotations validated by Knative Serving's
//     own code, a function that may scale to zero fed by a delivery that
//     outwaits a cold start, and in the production render max within the
//     deliveries that can be in flight and min 0 not defeated by ticks
//     (docs/scaling.md).
//
// Each problem names the file (and the overlay that patched it), the object
// and the field.
//
// The local plane (knlocal/manifests) reads the same kinds into structs of
// its own, not Knative's types, which would bring client-go into every
// program that embeds it. This package is the guard that the two read
// alike (agree_test.go): the shapes of the structs field by field, every
// value of knative/ (base, dev, prod) read both ways, and edits of it that
// one side takes or refuses.
package validate

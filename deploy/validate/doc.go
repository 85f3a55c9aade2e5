// Package validate proves the Knative manifests under knative/ without a
// cluster: it renders a kustomization with kustomize's own engine and
// checks every object the way the cluster would, then what no cluster
// checks.
//
//  1. Render (render.go): sigs.k8s.io/kustomize/api krusty v0.21.2, the
//     engine of kustomize v5.8.2, default options.
//  2. Per object (check.go): strict decoding into the real API types
//     (eventing-kafka-broker v0.50.1 KafkaSource v1beta1/v1 and KafkaSink
//     v1alpha1; eventing v0.50.0 SinkBinding and PingSource v1; core v1
//     Secret and ConfigMap; Strimzi KafkaTopic as modelled in strimzi.go),
//     unknown fields being errors with their path; then SetDefaults and
//     Validate with the contexts Knative's webhooks use; for KafkaSources
//     also the delivery validation their ConsumerGroup goes through and
//     the Kafka security their controller builds from spec.net.
//  3. Across objects: every sink and dead-letter sink exists (a KafkaSink of
//     the render or a function's Service); every topic read or written is
//     declared; the event catalog (orderflow.dev/shared/events) agrees with
//     who publishes where (SinkBindings) and who reads what (KafkaSources);
//     every event a function publishes is consumed or terminal; every
//     Secret key a func.yaml reads exists.
//
// Each problem names the file (and the overlay that patched it), the object
// and the field.
package validate

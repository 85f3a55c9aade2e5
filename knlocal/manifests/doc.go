// Package manifests reads a topology's Knative manifests (a kustomization,
// knative/ in a func project) the way a cluster does, into the few typed
// fields the local plane runs, so that the plane runs exactly the topology
// a cluster would run from the same files.
//
//  1. Render (render.go): kustomize's own engine,
//     sigs.k8s.io/kustomize/api krusty v0.21.2 (what kustomize v5.8.2 is
//     built from), default options, as `kustomize build` runs it: bases,
//     overlays, patches and generators included. Each object says which
//     file declared it and which kustomizations patched it, from
//     kustomize's build metadata (switched on in memory, never on disk).
//  2. Admit (admit.go): each object of a modelled kind decoded strictly
//     into its real API type (eventing-kafka-broker v0.50.1 KafkaSource
//     v1beta1/v1 and KafkaSink v1alpha1; eventing v0.50.0 SinkBinding and
//     PingSource v1; Strimzi's KafkaTopic as modelled in strimzi.go), an
//     unknown field being an error with its path (decode.go); then
//     SetDefaults and Validate with the contexts Knative's webhooks use,
//     and a KafkaSource's delivery as its ConsumerGroup is validated.
//  3. Load (load.go): the admitted objects read into the plane's fields
//     (types.go), values as the controllers and the dispatcher take them
//     (a KafkaSource's delivery defaults, durations read as the control
//     plane reads them: ParseDuration).
//
// Every problem names the file, the object and the field, e.g.
//
//	knative/base/order.yaml: KafkaSource "order": spec.delivery.backofPolicy: unknown field
//
// deploy/validate checks the same objects for a cluster and adds what no
// cluster checks; its agree_test.go reads knative/ both ways, this package
// and Knative's own control-plane code, and fails on any field read
// differently.
package manifests

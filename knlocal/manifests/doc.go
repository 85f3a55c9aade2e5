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
//     (decode.go: sigs.k8s.io/json, as the API server decodes under strict
//     field validation, an unknown or duplicate field being an error with
//     its path) into the plane's own wire structs (wire.go), which have
//     the JSON shape of the real API types (eventing-kafka-broker v0.50.1
//     KafkaSource v1beta1/v1 and KafkaSink v1alpha1; eventing v0.50.0
//     SinkBinding and PingSource v1; Strimzi's KafkaTopic as modelled in
//     strimzi.go); then the defaults and checks of Knative's webhooks,
//     restated for those fields, and a KafkaSource's delivery as its
//     ConsumerGroup is validated. Knative's own Go types are not imported:
//     through knative.dev/pkg they bring client-go, some 700 packages, into
//     every program that embeds the plane, and a cold build of it would
//     take twice as long (docs/performance.md).
//  3. Load (load.go): the admitted objects read into the plane's fields
//     (types.go), values as the controllers and the dispatcher take them
//     (a KafkaSource's delivery defaults, durations read as the control
//     plane reads them: ParseDuration).
//
// Every problem names the file, the object and the field, e.g.
//
//	knative/base/order.yaml: KafkaSource "order": spec.delivery.backofPolicy: unknown field
//
// deploy/validate admits the same objects with Knative's own types
// (SetDefaults and Validate as the webhooks run them) and is the guard
// that the two readings agree: its TestWireShapesAreKnatives holds each
// wire struct to Knative's type field by field, and its agreement tests
// read knative/ (base, dev and prod) both ways, and edits of it field by
// field, failing on any value read or refused differently.
package manifests

// Package manifests reads the Knative manifests under knative/ into the few
// typed fields the local plane needs, so that `orderflow up` runs exactly the
// topology a cluster would run from the same files.
//
// What it reads: a kustomization.yaml's `resources:` (files, and directories
// holding their own kustomization.yaml), each file split into YAML documents,
// and of those the kinds KafkaTopic (Strimzi), KafkaSink, KafkaSource,
// SinkBinding and PingSource. Other kinds are kept (as Object) and
// otherwise ignored.
//
// Strictness: a typo in a field of a modelled kind would silently change
// behaviour on one side only (the cluster's API server rejects unknown
// fields of these CRDs, the local plane would not), so an unknown field is an
// error naming the file, the object and the field path, e.g.
//
//	knative/base/order.yaml: KafkaSource "order": spec.delivery.backofPolicy: unknown field
//
// Each document is converted with sigs.k8s.io/yaml.YAMLToJSONStrict (which
// also rejects duplicate keys) and decoded with DisallowUnknownFields into a
// struct that models the whole shape of the CRD fields we accept; a
// reflective walk over the same struct produces the field path that
// encoding/json alone does not give. Parts of a spec the local plane does not
// use but a valid manifest may carry (spec.net, KafkaSink spec.auth,
// SinkBinding spec.subject.selector, Strimzi spec.config values) are
// accepted as opaque JSON: that is the documented allow-list.
//
// Values are read as a cluster reads them: defaults as the Knative types
// and controllers apply them (KafkaSink contentMode binary; KafkaSource
// initialOffset latest, ordering ordered, consumers 1; PingSource schedule
// every minute; a KafkaSource's delivery as conv.delivery describes), and
// delivery durations with the ISO-8601 library and rules Knative uses
// (ParseDuration). deploy/validate's agree_test.go reads knative/ both ways,
// this package against kustomize and the real Knative types and code, and
// fails on any field read differently.
package manifests

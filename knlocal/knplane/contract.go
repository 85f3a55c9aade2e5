// Package knplane runs Knative's own Kafka data plane (eventing-kafka-broker's
// Java receiver and dispatcher, built by knlocal/scripts/knative-dataplane.sh) in
// place of the local plane's KafkaSink ingress and KafkaSources: the same
// knative/ manifests become the data-plane contract that Knative's control
// plane would write into the receiver's and the dispatcher's ConfigMaps.
package knplane

import (
	"errors"
	"fmt"
	"strings"

	"orderflow.dev/knlocal/manifests"
)

// The contract is the protobuf message dev.knative.eventing.kafka.broker
// Contract (proto/contract.proto of eventing-kafka-broker), which the data
// plane reads as protobuf JSON (JsonFormat, unknown fields ignored). Only
// the fields a KafkaSink or a KafkaSource uses are modelled; enum values
// are written by name, as protobuf JSON prints them.

// Contract is the data-plane contract of one process.
type Contract struct {
	Generation uint64     `json:"generation"`
	Resources  []Resource `json:"resources"`
}

// Resource is a KafkaSink (Ingress set) or a KafkaSource (Egresses set).
type Resource struct {
	UID                 string               `json:"uid"`
	Topics              []string             `json:"topics"`
	BootstrapServers    string               `json:"bootstrapServers"`
	Ingress             *Ingress             `json:"ingress,omitempty"`
	Egresses            []Egress             `json:"egresses,omitempty"`
	AbsentAuth          *struct{}            `json:"absentAuth,omitempty"`
	CloudEventOverrides *CloudEventOverrides `json:"cloudEventOverrides,omitempty"`
	Reference           Reference            `json:"reference"`
	FeatureFlags        FeatureFlags         `json:"featureFlags"`
}

// Ingress is where the receiver serves a KafkaSink.
type Ingress struct {
	ContentMode string `json:"contentMode"` // BINARY | STRUCTURED
	Path        string `json:"path"`
}

// Egress is a KafkaSource's consumer group and delivery.
type Egress struct {
	ConsumerGroup string        `json:"consumerGroup"`
	Destination   string        `json:"destination"`
	DiscardReply  *struct{}     `json:"discardReply,omitempty"`
	UID           string        `json:"uid"`
	EgressConfig  *EgressConfig `json:"egressConfig,omitempty"`
	DeliveryOrder string        `json:"deliveryOrder"` // ORDERED | UNORDERED
	KeyType       string        `json:"keyType"`       // String
	Reference     Reference     `json:"reference"`
	VReplicas     int32         `json:"vReplicas"`
	FeatureFlags  struct{}      `json:"featureFlags"`
}

// EgressConfig is a delivery spec: retries, their backoff (milliseconds),
// the timeout of one attempt (milliseconds, 0 for the data plane's
// default) and the dead-letter sink's URL.
type EgressConfig struct {
	DeadLetter    string `json:"deadLetter,omitempty"`
	Retry         uint32 `json:"retry"`
	BackoffPolicy string `json:"backoffPolicy"` // Exponential | Linear
	BackoffDelay  uint64 `json:"backoffDelay"`
	Timeout       uint64 `json:"timeout,omitempty"`
}

// CloudEventOverrides are a source's ceOverrides.extensions.
type CloudEventOverrides struct {
	Extensions map[string]string `json:"extensions"`
}

// Reference names the user-facing object a resource came from.
type Reference struct {
	UUID         string `json:"uuid"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	GroupVersion string `json:"groupVersion"`
}

// FeatureFlags of a resource: EventType auto-creation is off, since it
// needs the Kubernetes API.
type FeatureFlags struct {
	EnableEventTypeAutocreate bool `json:"enableEventTypeAutocreate"`
}

// GroupVersions of the objects, as the control plane writes them.
const (
	kafkaSinkGroupVersion   = "eventing.knative.dev/v1alpha1"
	kafkaSourceGroupVersion = "sources.knative.dev/v1beta1"
)

// Resolver gives a manifest destination's URL in the running topology.
type Resolver func(d manifests.Destination) (string, error)

// SinkContract is the receiver's contract: every KafkaSink of set, as
// the KafkaSink reconciler writes it (getSinkContractResource).
func SinkContract(set *manifests.Set, brokers []string, generation uint64) (Contract, error) {
	if len(brokers) == 0 {
		return Contract{}, errors.New("knplane: no bootstrap servers for the KafkaSinks")
	}
	c := Contract{Generation: generation, Resources: []Resource{}}
	for _, k := range set.Sinks {
		mode, err := contentMode(k.ContentMode)
		if err != nil {
			return Contract{}, fmt.Errorf("KafkaSink %s/%s: %w", k.Namespace, k.Name, err)
		}
		ref := Reference{UUID: uid(manifests.KindKafkaSink, k.Namespace, k.Name), Namespace: k.Namespace, Name: k.Name,
			Kind: manifests.KindKafkaSink, GroupVersion: kafkaSinkGroupVersion}
		c.Resources = append(c.Resources, Resource{
			UID: ref.UUID, Topics: []string{k.Topic}, BootstrapServers: strings.Join(brokers, ","),
			Ingress:    &Ingress{ContentMode: mode, Path: "/" + k.Namespace + "/" + k.Name},
			AbsentAuth: &struct{}{}, Reference: ref,
		})
	}
	return c, nil
}

// SourceContract is the dispatcher's contract: every KafkaSource of set
// with its subscriber and dead-letter sink resolved, as the KafkaSource
// reconciler (through its ConsumerGroup and Consumer) writes it: replies
// discarded, the delivery spec in milliseconds, one egress per source.
func SourceContract(set *manifests.Set, brokers []string, resolve Resolver, generation uint64) (Contract, error) {
	if len(brokers) == 0 {
		return Contract{}, errors.New("knplane: no bootstrap servers for the KafkaSources")
	}
	c := Contract{Generation: generation, Resources: []Resource{}}
	var errs []error
	for _, s := range set.Sources {
		r, err := sourceResource(s, brokers, resolve)
		if err != nil {
			errs = append(errs, fmt.Errorf("KafkaSource %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		c.Resources = append(c.Resources, r)
	}
	return c, errors.Join(errs...)
}

func sourceResource(s manifests.KafkaSource, brokers []string, resolve Resolver) (Resource, error) {
	// The control plane commits the log-end offsets of a new "latest"
	// group before the dispatcher sees it; the dispatcher itself only knows
	// auto.offset.reset (earliest, from its ConfigMap). Nothing here does
	// that commit, so a latest source would read from the start: refuse it.
	if s.InitialOffset == manifests.OffsetLatest {
		return Resource{}, errors.New("initialOffset latest: Knative's control plane commits the starting offsets of such a group, which is not emulated here; use earliest")
	}
	dest, err := resolve(s.Sink)
	if err != nil {
		return Resource{}, fmt.Errorf("spec.sink: %w", err)
	}
	order := "ORDERED"
	if s.Ordering == manifests.OrderingUnordered {
		order = "UNORDERED"
	}
	policy := "Exponential"
	if s.Delivery.BackoffPolicy == manifests.BackoffLinear {
		policy = "Linear"
	}
	if s.Delivery.Retry < 0 || s.Delivery.BackoffDelay < 0 || s.Delivery.Timeout < 0 {
		return Resource{}, fmt.Errorf("spec.delivery: negative retry, backoffDelay or timeout")
	}
	cfg := &EgressConfig{Retry: uint32(s.Delivery.Retry), BackoffPolicy: policy,
		BackoffDelay: uint64(s.Delivery.BackoffDelay.Milliseconds()), Timeout: uint64(s.Delivery.Timeout.Milliseconds())}
	if dl := s.Delivery.DeadLetterSink; dl != nil {
		if cfg.DeadLetter, err = resolve(*dl); err != nil {
			return Resource{}, fmt.Errorf("spec.delivery.deadLetterSink: %w", err)
		}
	}
	ref := Reference{UUID: uid(manifests.KindKafkaSource, s.Namespace, s.Name), Namespace: s.Namespace, Name: s.Name,
		Kind: manifests.KindKafkaSource, GroupVersion: kafkaSourceGroupVersion}
	consumers := max(s.Consumers, 1)
	r := Resource{
		UID: ref.UUID, Topics: s.Topics, BootstrapServers: strings.Join(brokers, ","), AbsentAuth: &struct{}{}, Reference: ref,
		Egresses: []Egress{{
			ConsumerGroup: s.ConsumerGroup, Destination: dest, DiscardReply: &struct{}{}, UID: ref.UUID + "-egress",
			EgressConfig: cfg, DeliveryOrder: order, KeyType: "String", Reference: ref, VReplicas: consumers,
		}},
	}
	if len(s.CEOverrides) > 0 {
		r.CloudEventOverrides = &CloudEventOverrides{Extensions: s.CEOverrides}
	}
	return r, nil
}

func contentMode(m string) (string, error) {
	switch m {
	case "", manifests.ContentModeBinary:
		return "BINARY", nil
	case manifests.ContentModeStructured:
		return "STRUCTURED", nil
	}
	return "", fmt.Errorf("contentMode %q: want binary or structured", m)
}

// uid stands in for the object's Kubernetes UID: stable across runs, unique
// per object.
func uid(kind, namespace, name string) string {
	return strings.ToLower(kind) + "-" + namespace + "-" + name
}

package manifests

import (
	"encoding/json"
	"reflect"
)

// The wire structs are the plane's own model of the kinds it runs: the
// JSON shape of Knative's API types field for field (eventing-kafka-broker
// v0.50.1 KafkaSink v1alpha1 and KafkaSource v1beta1/v1; eventing v0.50.0
// SinkBinding and PingSource v1; knative.dev/pkg duck/v1 Destination,
// KReference, SourceSpec; eventing duck/v1 DeliverySpec; metav1's
// ObjectMeta and LabelSelector; core v1 SecretKeySelector), so that
// strict decoding (decode.go) refuses exactly the fields a cluster
// refuses. Knative's own types bring client-go with them, hundreds of
// packages for a few fields; deploy/validate's TestWireShapesAreKnatives
// walks both and fails on any field, or JSON type, that differs.
//
// Pointers tell "left out" from "zero", as in Knative's types.
// json.RawMessage marks what the plane never reads and Kubernetes writes
// (status, timestamps, owner references, managed fields): accepted as
// any JSON, as a cluster accepts what it wrote itself.

// TypeMeta is metav1.TypeMeta.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is metav1.ObjectMeta.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	SelfLink                   string            `json:"selfLink,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          json.RawMessage   `json:"creationTimestamp,omitempty"`
	DeletionTimestamp          json.RawMessage   `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            json.RawMessage   `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
	ManagedFields              json.RawMessage   `json:"managedFields,omitempty"`
}

// KReferenceWire is duck/v1 KReference.
type KReferenceWire struct {
	Kind       string  `json:"kind"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	APIVersion string  `json:"apiVersion,omitempty"`
	Group      string  `json:"group,omitempty"`
	Address    *string `json:"address,omitempty"`
}

// DestinationWire is duck/v1 Destination; URI is an apis.URL, a string on
// the wire.
type DestinationWire struct {
	Ref      *KReferenceWire `json:"ref,omitempty"`
	URI      string          `json:"uri,omitempty"`
	CACerts  *string         `json:"CACerts,omitempty"`
	Audience *string         `json:"audience,omitempty"`
}

// CEOverridesWire is duck/v1 CloudEventOverrides.
type CEOverridesWire struct {
	Extensions map[string]string `json:"extensions,omitempty"`
}

// SourceSpecWire is duck/v1 SourceSpec, inlined in every source's spec.
type SourceSpecWire struct {
	Sink        DestinationWire  `json:"sink,omitempty"`
	CEOverrides *CEOverridesWire `json:"ceOverrides,omitempty"`
}

// DeliveryWire is eventing duck/v1 DeliverySpec.
type DeliveryWire struct {
	DeadLetterSink *DestinationWire `json:"deadLetterSink,omitempty"`
	Retry          *int32           `json:"retry,omitempty"`
	Timeout        *string          `json:"timeout,omitempty"`
	BackoffPolicy  *string          `json:"backoffPolicy,omitempty"`
	BackoffDelay   *string          `json:"backoffDelay,omitempty"`
	RetryAfterMax  *string          `json:"retryAfterMax,omitempty"`
	Format         *string          `json:"format,omitempty"`
}

// KafkaSinkWire is eventing-kafka-broker's KafkaSink v1alpha1.
type KafkaSinkWire struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       struct {
		Topic             string   `json:"topic"`
		NumPartitions     *int32   `json:"numPartitions,omitempty"`
		ReplicationFactor *int16   `json:"replicationFactor,omitempty"`
		BootstrapServers  []string `json:"bootstrapServers"`
		ContentMode       *string  `json:"contentMode,omitempty"`
		Auth              *struct {
			Secret *struct {
				Ref *struct {
					Name string `json:"name"`
				} `json:"ref,omitempty"`
			} `json:"secret,omitempty"`
		} `json:"auth,omitempty"`
	} `json:"spec,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
}

// SecretValueWire is eventing-kafka-broker's SecretValueFromSource: a key
// of a Secret (core v1 SecretKeySelector).
type SecretValueWire struct {
	SecretKeyRef *struct {
		Name     string `json:"name,omitempty"`
		Key      string `json:"key"`
		Optional *bool  `json:"optional,omitempty"`
	} `json:"secretKeyRef,omitempty"`
}

// KafkaSASLWire is bindings v1beta1 KafkaSASLSpec.
type KafkaSASLWire struct {
	Enable   bool            `json:"enable,omitempty"`
	User     SecretValueWire `json:"user,omitempty"`
	Password SecretValueWire `json:"password,omitempty"`
	Type     SecretValueWire `json:"type,omitempty"`
}

// KafkaTLSWire is bindings KafkaTLSSpec.
type KafkaTLSWire struct {
	Enable bool            `json:"enable,omitempty"`
	Cert   SecretValueWire `json:"cert,omitempty"`
	Key    SecretValueWire `json:"key,omitempty"`
	CACert SecretValueWire `json:"caCert,omitempty"`
}

// KafkaSourceSpecWire is what KafkaSource v1beta1 and v1 share: all of
// their spec but the Kafka security (net), which a cluster's controller
// resolves from Secrets and the plane takes from its own settings
// (broker.FromEnv).
type KafkaSourceSpecWire struct {
	Consumers        *int32        `json:"consumers,omitempty"`
	BootstrapServers []string      `json:"bootstrapServers"`
	Topics           []string      `json:"topics"`
	ConsumerGroup    string        `json:"consumerGroup,omitempty"`
	InitialOffset    string        `json:"initialOffset,omitempty"`
	Delivery         *DeliveryWire `json:"delivery,omitempty"`
	Ordering         *string       `json:"ordering,omitempty"`
	SourceSpecWire   `json:",inline"`
}

// KafkaSourceWire is eventing-kafka-broker's KafkaSource v1beta1.
type KafkaSourceWire struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       struct {
		KafkaSourceSpecWire `json:",inline"`
		Net                 struct {
			SASL KafkaSASLWire `json:"sasl,omitempty"`
			TLS  KafkaTLSWire  `json:"tls,omitempty"`
		} `json:"net,omitempty"`
	} `json:"spec,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
}

// KafkaSourceV1Wire is eventing-kafka-broker's KafkaSource v1: v1beta1's
// fields, and SASL's roleARN and tokenProvider (OAUTHBEARER), which the
// conversion to v1beta1, the version a cluster stores, drops.
type KafkaSourceV1Wire struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       struct {
		KafkaSourceSpecWire `json:",inline"`
		Net                 struct {
			SASL struct {
				KafkaSASLWire `json:",inline"`
				RoleARN       SecretValueWire `json:"roleARN,omitempty"`
				TokenProvider SecretValueWire `json:"tokenProvider,omitempty"`
			} `json:"sasl,omitempty"`
			TLS KafkaTLSWire `json:"tls,omitempty"`
		} `json:"net,omitempty"`
	} `json:"spec,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
}

// LabelSelectorWire is metav1.LabelSelector.
type LabelSelectorWire struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values,omitempty"`
	} `json:"matchExpressions,omitempty"`
}

// SinkBindingWire is eventing's SinkBinding v1; its subject is
// knative.dev/pkg's tracker.Reference.
type SinkBindingWire struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       struct {
		SourceSpecWire `json:",inline"`
		Subject        struct {
			APIVersion string             `json:"apiVersion,omitempty"`
			Kind       string             `json:"kind,omitempty"`
			Namespace  string             `json:"namespace,omitempty"`
			Name       string             `json:"name,omitempty"`
			Selector   *LabelSelectorWire `json:"selector,omitempty"`
		} `json:"subject"`
	} `json:"spec"`
	Status json.RawMessage `json:"status"`
}

// PingSourceWire is eventing's PingSource v1.
type PingSourceWire struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       struct {
		SourceSpecWire `json:",inline"`
		Schedule       string `json:"schedule,omitempty"`
		Timezone       string `json:"timezone,omitempty"`
		ContentType    string `json:"contentType,omitempty"`
		Data           string `json:"data,omitempty"`
		DataBase64     string `json:"dataBase64,omitempty"`
	} `json:"spec,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
}

// wireTypes are the versions of each kind the plane reads, and what it
// decodes them into.
var wireTypes = map[string]reflect.Type{
	"sources.knative.dev/v1beta1, " + KindKafkaSource: reflect.TypeFor[KafkaSourceWire](),
	"sources.knative.dev/v1, " + KindKafkaSource:      reflect.TypeFor[KafkaSourceV1Wire](),
	"eventing.knative.dev/v1alpha1, " + KindKafkaSink: reflect.TypeFor[KafkaSinkWire](),
	"sources.knative.dev/v1, " + KindSinkBinding:      reflect.TypeFor[SinkBindingWire](),
	"sources.knative.dev/v1, " + KindPingSource:       reflect.TypeFor[PingSourceWire](),
	"kafka.strimzi.io/v1beta2, " + KindKafkaTopic:     reflect.TypeFor[StrimziTopic](),
	"kafka.strimzi.io/v1, " + KindKafkaTopic:          reflect.TypeFor[StrimziTopic](),
}

// WireType is the Go type the plane decodes apiVersion and kind into; ok
// is false for a kind or version it does not run.
func WireType(apiVersion, kind string) (t reflect.Type, ok bool) {
	t, ok = wireTypes[apiVersion+", "+kind]
	return t, ok
}

package manifests

import "encoding/json"

// The wire structs model the full shape of the fields we accept, so that
// anything else is an unknown field. They mirror the upstream Go types
// (Strimzi KafkaTopic v1beta2; eventing-kafka-broker KafkaSink v1alpha1 and
// KafkaSource v1beta1; eventing SinkBinding v1; knative.dev/pkg duck/v1
// Destination/KReference; eventing duck/v1 DeliverySpec). Pointers tell
// "left out" from "zero".

type wireHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

type wireMeta struct {
	Name         string            `json:"name"`
	GenerateName string            `json:"generateName,omitempty"`
	Namespace    string            `json:"namespace,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type wireKafkaTopic struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   wireMeta `json:"metadata"`
	Spec       struct {
		TopicName  string `json:"topicName,omitempty"`
		Partitions *int32 `json:"partitions,omitempty"`
		Replicas   *int16 `json:"replicas,omitempty"`
		// Values may be strings, numbers or booleans; kept raw and
		// rendered to the strings CreateTopics takes.
		Config map[string]json.RawMessage `json:"config,omitempty"`
	} `json:"spec"`
}

type wireKafkaSink struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   wireMeta `json:"metadata"`
	Spec       struct {
		Topic             string          `json:"topic"`
		NumPartitions     *int32          `json:"numPartitions,omitempty"`
		ReplicationFactor *int16          `json:"replicationFactor,omitempty"`
		BootstrapServers  []string        `json:"bootstrapServers"`
		ContentMode       *string         `json:"contentMode,omitempty"`
		Auth              json.RawMessage `json:"auth,omitempty"` // secret refs: cluster-only
	} `json:"spec"`
}

type wireKRef struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Group      string `json:"group,omitempty"`
	Address    string `json:"address,omitempty"`
}

type wireDestination struct {
	Ref      *wireKRef `json:"ref,omitempty"`
	URI      string    `json:"uri,omitempty"`
	CACerts  *string   `json:"CACerts,omitempty"`
	Audience *string   `json:"audience,omitempty"`
}

type wireDelivery struct {
	DeadLetterSink *wireDestination `json:"deadLetterSink,omitempty"`
	Retry          *int32           `json:"retry,omitempty"`
	Timeout        *string          `json:"timeout,omitempty"`
	BackoffPolicy  *string          `json:"backoffPolicy,omitempty"`
	BackoffDelay   *string          `json:"backoffDelay,omitempty"`
	// Accepted for compatibility, not used by the local plane.
	RetryAfterMax *string `json:"retryAfterMax,omitempty"`
	Format        *string `json:"format,omitempty"`
}

type wireCEOverrides struct {
	Extensions map[string]string `json:"extensions,omitempty"`
}

type wireKafkaSource struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   wireMeta `json:"metadata"`
	Spec       struct {
		Consumers        *int32           `json:"consumers,omitempty"`
		BootstrapServers []string         `json:"bootstrapServers"`
		Net              json.RawMessage  `json:"net,omitempty"` // SASL/TLS secret refs: cluster-only
		Topics           []string         `json:"topics"`
		ConsumerGroup    string           `json:"consumerGroup,omitempty"`
		InitialOffset    string           `json:"initialOffset,omitempty"`
		Delivery         *wireDelivery    `json:"delivery,omitempty"`
		Ordering         *string          `json:"ordering,omitempty"`
		Sink             *wireDestination `json:"sink,omitempty"`
		CEOverrides      *wireCEOverrides `json:"ceOverrides,omitempty"`
	} `json:"spec"`
}

type wireSinkBinding struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   wireMeta `json:"metadata"`
	Spec       struct {
		Subject struct {
			APIVersion string          `json:"apiVersion"`
			Kind       string          `json:"kind"`
			Namespace  string          `json:"namespace,omitempty"`
			Name       string          `json:"name,omitempty"`
			Selector   json.RawMessage `json:"selector,omitempty"`
		} `json:"subject"`
		Sink        *wireDestination `json:"sink,omitempty"`
		CEOverrides *wireCEOverrides `json:"ceOverrides,omitempty"`
	} `json:"spec"`
}

// wireKustomization is the part of kustomize's Kustomization the local
// plane honours. The transformers that only touch metadata are accepted and
// ignored; those that would change what the plane runs are refused by name
// (see unsupportedKustomizeFields), so an overlay is never half-applied.
type wireKustomization struct {
	APIVersion        string          `json:"apiVersion,omitempty"`
	Kind              string          `json:"kind,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
	Namespace         string          `json:"namespace,omitempty"`
	Resources         []string        `json:"resources,omitempty"`
	CommonLabels      json.RawMessage `json:"commonLabels,omitempty"`
	Labels            json.RawMessage `json:"labels,omitempty"`
	CommonAnnotations json.RawMessage `json:"commonAnnotations,omitempty"`
}

var unsupportedKustomizeFields = []string{
	"bases", "components", "patches", "patchesStrategicMerge", "patchesJson6902",
	"namePrefix", "nameSuffix", "images", "replicas", "configMapGenerator",
	"secretGenerator", "generators", "transformers", "replacements", "vars",
	"helmCharts", "crds", "openapi", "configurations", "generatorOptions", "sortOptions",
	"buildMetadata", "validators",
}

type wirePingSource struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   wireMeta `json:"metadata"`
	Spec       struct {
		Schedule    string           `json:"schedule"`
		Timezone    string           `json:"timezone,omitempty"`
		ContentType string           `json:"contentType,omitempty"`
		Data        string           `json:"data,omitempty"`
		DataBase64  string           `json:"dataBase64,omitempty"`
		Sink        *wireDestination `json:"sink,omitempty"`
		CEOverrides *wireCEOverrides `json:"ceOverrides,omitempty"`
	} `json:"spec"`
}

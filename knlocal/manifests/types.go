package manifests

import (
	"fmt"
	"time"
)

// Kinds the local plane understands.
const (
	KindKafkaTopic  = "KafkaTopic"
	KindKafkaSink   = "KafkaSink"
	KindKafkaSource = "KafkaSource"
	KindSinkBinding = "SinkBinding"
	KindPingSource  = "PingSource"
	// KindService is the Knative Service a function becomes on a cluster
	// (`func deploy`); it is never declared in knative/, only referenced.
	KindService = "Service"
)

// Values of the enumerated fields.
const (
	ContentModeBinary     = "binary"
	ContentModeStructured = "structured"

	OffsetEarliest = "earliest"
	OffsetLatest   = "latest"

	OrderingOrdered   = "ordered"
	OrderingUnordered = "unordered"

	BackoffLinear      = "linear"
	BackoffExponential = "exponential"
)

// KafkaTopic is a Strimzi KafkaTopic: a topic that must exist.
type KafkaTopic struct {
	Origin
	Name       string // metadata.name
	Namespace  string
	TopicName  string // spec.topicName, defaulting to metadata.name
	Partitions int32  // -1 when left out: the broker's default
	Replicas   int16  // -1 when left out: the broker's default
	// Config holds spec.config as strings, the form Kafka's CreateTopics
	// takes; YAML numbers and booleans are rendered as written.
	Config map[string]string
}

// KafkaSink is an HTTP ingress writing CloudEvents into one topic.
type KafkaSink struct {
	Origin
	Name             string
	Namespace        string
	Topic            string
	ContentMode      string // binary (default) | structured
	BootstrapServers []string
}

// KReference names another object (duck/v1 KReference).
type KReference struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string // defaulted to the referring object's namespace
}

func (r KReference) String() string {
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// Destination is a duck/v1 Destination: a reference, a URI, or both (then
// the URI is relative to the reference's address).
type Destination struct {
	Ref *KReference
	URI string
}

// IsZero reports whether neither ref nor uri is set.
func (d Destination) IsZero() bool { return d.Ref == nil && d.URI == "" }

func (d Destination) String() string {
	switch {
	case d.Ref != nil && d.URI != "":
		return d.Ref.String() + " + " + d.URI
	case d.Ref != nil:
		return d.Ref.String()
	default:
		return d.URI
	}
}

// Delivery is a KafkaSource's delivery as a cluster's dispatcher runs it:
// defaults applied and durations read as Knative reads them (see
// ParseDuration and conv.delivery).
type Delivery struct {
	Retry         int           // attempts = Retry + 1
	BackoffPolicy string        // linear | exponential
	BackoffDelay  time.Duration // base of the backoff schedule
	Timeout       time.Duration // per attempt
	// DeadLetterSink is nil when none is configured.
	DeadLetterSink *Destination
}

// KafkaSource consumes topics and delivers each record, as a CloudEvent, to
// its sink.
type KafkaSource struct {
	Origin
	Name             string
	Namespace        string
	BootstrapServers []string
	Topics           []string
	ConsumerGroup    string
	InitialOffset    string // earliest | latest (default)
	Ordering         string // ordered (default) | unordered
	Consumers        int32  // spec.consumers: members of the consumer group, default 1
	Delivery         Delivery
	Sink             Destination
	// CEOverrides are spec.ceOverrides.extensions, set on every event
	// delivered.
	CEOverrides map[string]string
}

// SinkBinding injects K_SINK (the resolved Sink) into its subject.
type SinkBinding struct {
	Origin
	Name      string
	Namespace string
	Subject   KReference
	Sink      Destination
}

// PingSource sends a CloudEvent (type dev.knative.sources.ping) with Data
// to its sink on a cron schedule.
type PingSource struct {
	Origin
	Name        string
	Namespace   string
	Schedule    string // five-field cron, as Knative takes it
	Timezone    string // "" for UTC
	ContentType string
	Data        []byte
	Sink        Destination
	CEOverrides map[string]string
}

// Set is everything Load read.
type Set struct {
	Dir       string // the directory given to Load
	Namespace string // the kustomization's namespace, "" if none
	Topics    []KafkaTopic
	Sinks     []KafkaSink
	Sources   []KafkaSource
	Bindings  []SinkBinding
	Pings     []PingSource
	// Objects lists every object rendered, in kustomize's order, the
	// modelled kinds included; other kinds appear only here.
	Objects []Object
}

// Topic returns the KafkaTopic declaring the Kafka topic name.
func (s *Set) Topic(topicName string) (KafkaTopic, bool) {
	for _, t := range s.Topics {
		if t.TopicName == topicName {
			return t, true
		}
	}
	return KafkaTopic{}, false
}

// Sink returns the KafkaSink namespace/name.
func (s *Set) Sink(namespace, name string) (KafkaSink, bool) {
	for _, k := range s.Sinks {
		if k.Namespace == namespace && k.Name == name {
			return k, true
		}
	}
	return KafkaSink{}, false
}

// Source returns the KafkaSource namespace/name.
func (s *Set) Source(namespace, name string) (KafkaSource, bool) {
	for _, k := range s.Sources {
		if k.Namespace == namespace && k.Name == name {
			return k, true
		}
	}
	return KafkaSource{}, false
}

// BindingFor returns the SinkBinding whose subject is the Service
// namespace/name: where that function's K_SINK points.
func (s *Set) BindingFor(namespace, service string) (SinkBinding, bool) {
	for _, b := range s.Bindings {
		if b.Subject.Kind == KindService && b.Subject.Namespace == namespace && b.Subject.Name == service {
			return b, true
		}
	}
	return SinkBinding{}, false
}

// Error is one problem in the manifests. Its text names the file, the
// object and the field, so a reader can go straight to the line.
type Error struct {
	File  string
	Kind  string // may be empty (problem with the file itself)
	Name  string
	Field string // dotted path, may be empty
	Msg   string
}

func (e *Error) Error() string {
	s := e.File + ": "
	if e.Kind != "" {
		s += fmt.Sprintf("%s %q: ", e.Kind, e.Name)
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

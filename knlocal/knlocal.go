// Package knlocal is Knative on one machine, for the func projects of any
// topology: from the same knative/ manifests a cluster applies (rendered
// by kustomize, read into Knative's own API types) it runs a Kafka broker
// (embedded, or given bootstrap servers), the KafkaSinks' ingress, the
// KafkaSources' dispatch with Knative's retry and dead-letter rules, the
// PingSources, the SinkBindings' K_SINK, and each function as its own
// process, the way `func run --builder=host` runs it.
//
// The packages, from the bottom up: manifests (knative/ and func.yaml),
// broker, sink, source, runner, funcbuild, activator (the readiness gate),
// door (the bearer token on doors others can reach), statedir, kafkalog
// and lag (reading topics and consumer groups), planemetrics, tracing, and
// plane, which wires them; knplane runs Knative's own Java data plane in
// place of sink and source, and knconform holds the two side by side.
//
// It knows nothing of any one topology. What it calls itself where others
// see it (the environment variables it reads, its own metrics, its Kafka
// clients) is a Naming, orderflow's unless a plane is given another.
package knlocal

import "strings"

// Naming is what the stand-in calls itself where others see it.
type Naming struct {
	// EnvPrefix prefixes the environment variables it reads:
	// <EnvPrefix>KAFKA_SASL_MECHANISM and the other Kafka settings
	// (package broker), <EnvPrefix>TOKEN (package door).
	EnvPrefix string
	// MetricPrefix prefixes the names of its own Prometheus metrics, those
	// Knative's data plane has no name for (<MetricPrefix>_dead_letters_total);
	// with dashes for underscores it also prefixes its Kafka client ids.
	MetricPrefix string
}

// Default is the naming of a plane that is given none: orderflow's, the
// topology this stand-in was first written for.
var Default = Naming{EnvPrefix: "ORDERFLOW_", MetricPrefix: "orderflow"}

// OrDefault fills what n leaves empty from Default.
func (n Naming) OrDefault() Naming {
	if n.EnvPrefix == "" {
		n.EnvPrefix = Default.EnvPrefix
	}
	if n.MetricPrefix == "" {
		n.MetricPrefix = Default.MetricPrefix
	}
	return n
}

// Env is the environment variable name under n's prefix.
func (n Naming) Env(name string) string { return n.OrDefault().EnvPrefix + name }

// Metric is the metric name under n's prefix.
func (n Naming) Metric(name string) string { return n.OrDefault().MetricPrefix + "_" + name }

// ClientID is the Kafka client id of one of the stand-in's clients.
func (n Naming) ClientID(role string) string {
	return strings.ReplaceAll(n.OrDefault().MetricPrefix, "_", "-") + "-" + role
}

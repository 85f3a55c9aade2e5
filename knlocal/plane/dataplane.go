package plane

import (
	"context"

	"orderflow.dev/knlocal/manifests"
)

// DataPlane carries events between Kafka and HTTP in place of the plane's
// own KafkaSink ingress and KafkaSources: Knative's own receiver and
// dispatcher, say (knlocal/knplane). The plane still starts the broker,
// creates the topics, runs the functions and fires the PingSources; only
// the Kafka<->HTTP path is swapped.
type DataPlane interface {
	// Name says which data plane runs, for progress lines.
	Name() string
	// StartIngress starts serving every KafkaSink once the topics exist
	// and returns the ingress's base URL: each sink is at
	// <base>/<namespace>/<name>, as on a cluster (sink.Path).
	StartIngress(ctx context.Context, p *Plane) (string, error)
	// StartSources starts delivering every KafkaSource once the functions
	// are ready, and returns when their consumer groups have joined.
	StartSources(ctx context.Context, p *Plane) error
	// StopSources stops the deliveries; Close stops the rest. The plane
	// calls StopSources before it stops the functions (whose outboxes
	// still publish through the ingress as they stop) and Close after.
	StopSources() error
	Close() error
}

// Resolve turns a manifest destination into the URL it has in this
// plane: a Service is its function's process (or the fault proxy before
// it), a KafkaSink its ingress path.
func (p *Plane) Resolve(ctx context.Context, d manifests.Destination) (string, error) {
	return p.resolve(ctx, d)
}

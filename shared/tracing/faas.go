package tracing

import (
	"fmt"
	"os"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// FaaS is the resource of the function name, after the FaaS resource
// conventions: faas.name; faas.version, the Knative revision serving it
// (K_REVISION, which Knative Serving sets; left out elsewhere); and
// faas.instance, the process (the pod's name on a cluster, where the
// hostname is the pod's, and a process of its own per function locally).
// These describe the process, so they go on the resource, not on spans.
func FaaS(name string) []attribute.KeyValue {
	host, _ := os.Hostname()
	return faasResource(name, os.Getenv("K_REVISION"), host, os.Getpid())
}

func faasResource(name, revision, host string, pid int) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.FaaSName(name), semconv.FaaSInstance(fmt.Sprintf("%s/%d", host, pid))}
	if revision != "" {
		attrs = append(attrs, semconv.FaaSVersion(revision))
	}
	return attrs
}

package manifests

import (
	"errors"
	"fmt"
	"strings"
)

// ResolveOption tunes Resolve.
type ResolveOption func(*resolveConfig)

type resolveConfig struct {
	services []string // nil = any Service name is fine
}

// WithServices declares the Knative Services that exist (the functions);
// each is "name" (in the set's namespace) or "namespace/name". Without it,
// a reference to any Service is accepted, since Services are created by
// `func deploy`, not by the manifests.
func WithServices(names ...string) ResolveOption {
	return func(c *resolveConfig) {
		c.services = append(c.services, names...)
		if c.services == nil {
			c.services = []string{} // "none exist" differs from "not said"
		}
	}
}

// Resolve checks the cross-references of a loaded Set:
//   - every KafkaSource's sink and deadLetterSink, and every SinkBinding's
//     sink, refer to an existing KafkaSink or to a Service;
//   - every topic a KafkaSource reads and every topic a KafkaSink writes is
//     declared by a KafkaTopic (topics are never auto-created);
//   - every SinkBinding's subject is a Service (when WithServices is given,
//     a known one).
//
// All problems are returned together, each naming file, object and field.
func Resolve(s *Set, opts ...ResolveOption) error {
	cfg := resolveConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	fail := func(o Origin, kind, name, field, format string, a ...any) {
		errs = append(errs, &Error{File: o.Where(), Kind: kind, Name: name, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	var known map[string]bool // "ns/name"
	if cfg.services != nil {
		known = map[string]bool{}
		defNS := s.Namespace
		if defNS == "" {
			defNS = DefaultNamespace
		}
		for _, n := range cfg.services {
			if !strings.Contains(n, "/") {
				n = defNS + "/" + n
			}
			known[n] = true
		}
	}
	serviceKnown := func(ns, name string) bool {
		return known == nil || known[ns+"/"+name]
	}
	checkDest := func(o Origin, kind, name, field string, d Destination) {
		if d.Ref == nil {
			return // a plain URI is not checked: it may point anywhere
		}
		r := d.Ref
		group, _, _ := strings.Cut(r.APIVersion, "/")
		if !strings.Contains(r.APIVersion, "/") {
			group = "" // core group ("v1")
		}
		switch {
		case r.Kind == KindKafkaSink && group == "eventing.knative.dev":
			if _, ok := s.Sink(r.Namespace, r.Name); !ok {
				fail(o, kind, name, field+".ref", "KafkaSink %s/%s is not declared", r.Namespace, r.Name)
			}
		case r.Kind == KindService && (group == "serving.knative.dev" || group == ""):
			if !serviceKnown(r.Namespace, r.Name) {
				fail(o, kind, name, field+".ref", "Service %s/%s is not a known function", r.Namespace, r.Name)
			}
		default:
			fail(o, kind, name, field+".ref", "%s (%s) is not supported by the local plane: refer to a KafkaSink (eventing.knative.dev) or a Service (serving.knative.dev)", r.Kind, r.APIVersion)
		}
	}
	checkTopic := func(o Origin, kind, name, field, topic string) {
		if _, ok := s.Topic(topic); !ok {
			fail(o, kind, name, field, "topic %q is not declared by any KafkaTopic", topic)
		}
	}

	for _, src := range s.Sources {
		for i, t := range src.Topics {
			checkTopic(src.Origin, KindKafkaSource, src.Name, fmt.Sprintf("spec.topics[%d]", i), t)
		}
		checkDest(src.Origin, KindKafkaSource, src.Name, "spec.sink", src.Sink)
		if d := src.Delivery.DeadLetterSink; d != nil {
			checkDest(src.Origin, KindKafkaSource, src.Name, "spec.delivery.deadLetterSink", *d)
		}
	}
	for _, k := range s.Sinks {
		checkTopic(k.Origin, KindKafkaSink, k.Name, "spec.topic", k.Topic)
	}
	for _, b := range s.Bindings {
		if b.Subject.Kind != KindService {
			fail(b.Origin, KindSinkBinding, b.Name, "spec.subject.kind", "%q: the local plane binds only Services (functions)", b.Subject.Kind)
		} else if !serviceKnown(b.Subject.Namespace, b.Subject.Name) {
			fail(b.Origin, KindSinkBinding, b.Name, "spec.subject.name", "Service %s/%s is not a known function", b.Subject.Namespace, b.Subject.Name)
		}
		checkDest(b.Origin, KindSinkBinding, b.Name, "spec.sink", b.Sink)
	}
	return errors.Join(errs...)
}

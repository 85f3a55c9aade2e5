package manifests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// DefaultNamespace is used when neither the kustomization nor the object
// names one, as kubectl would.
const DefaultNamespace = "default"

// API groups each modelled kind belongs to: a kind of these names in
// another group is a mistake, not another kind.
var kindGroups = map[string]string{
	KindKafkaTopic:  "kafka.strimzi.io",
	KindKafkaSink:   "eventing.knative.dev",
	KindKafkaSource: "sources.knative.dev",
	KindSinkBinding: "sources.knative.dev",
	KindPingSource:  "sources.knative.dev",
}

// groupOf is the API group of apiVersion ("" for the core group's "v1").
func groupOf(apiVersion string) string {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return group
}

// kindsOf lists, sorted, the modelled kinds of an API group; none for a
// group the plane has no kind of.
func kindsOf(group string) []string {
	var kinds []string
	for k, g := range kindGroups {
		if g == group {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// Load renders the kustomization in dir with kustomize (RenderDir), admits
// every object of the modelled kinds as a cluster's webhooks would
// (admit.go), and reads them into the fields the plane runs. All problems
// found are returned together (errors.Join of *Error), not just the first.
func Load(dir string) (*Set, error) {
	objs, err := RenderDir(dir)
	var re *RenderError
	if errors.As(err, &re) {
		return nil, &Error{File: dir, Msg: "kustomize build: " + re.Err.Error()}
	}
	if err != nil {
		return nil, &Error{File: dir, Msg: err.Error()}
	}
	set := &Set{Dir: dir, Objects: objs}
	if set.Namespace, err = kustomizationNamespace(dir); err != nil {
		return nil, err
	}
	var errs []error
	for i, o := range objs {
		if o.Namespace == "" {
			// Where kubectl would apply it; the webhooks see it there.
			o = inNamespace(o, DefaultNamespace)
			objs[i] = o
		}
		fail := func(field, format string, a ...any) {
			errs = append(errs, &Error{File: o.Origin.Where(), Kind: o.Kind, Name: o.Name, Field: field, Msg: fmt.Sprintf(format, a...)})
		}
		typed, probs, modelled := admit(o)
		if !modelled {
			if group, ours := kindGroups[o.Kind]; ours {
				fail("apiVersion", "%q is not a version of %s %s the plane knows", o.APIVersion, group, o.Kind)
			} else if kinds := kindsOf(groupOf(o.APIVersion)); len(kinds) > 0 {
				// A misspelt kind, or one of Knative's the plane does not
				// run (a Broker, a Trigger): a cluster would run it or
				// refuse it, so the plane may not pass over it.
				fail("kind", "%q is not a kind of %s the plane runs (it runs %s)", o.Kind, groupOf(o.APIVersion), strings.Join(kinds, ", "))
			}
			continue // kept in Objects, otherwise not run
		}
		for _, p := range probs {
			fail(p.Field, "%s", p.Msg)
		}
		if len(probs) > 0 {
			continue
		}
		c := conv{Object: o, fail: fail}
		switch t := typed.(type) {
		case *StrimziTopic:
			set.Topics = append(set.Topics, c.topic(t))
		case *KafkaSinkWire:
			set.Sinks = append(set.Sinks, c.sink(t))
		case *KafkaSourceWire, *KafkaSourceV1Wire:
			if s, ok := c.source(sourceSpec(t)); ok {
				set.Sources = append(set.Sources, s)
			}
		case *SinkBindingWire:
			if b, ok := c.binding(t); ok {
				set.Bindings = append(set.Bindings, b)
			}
		case *PingSourceWire:
			if p, ok := c.ping(t); ok {
				set.Pings = append(set.Pings, p)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// inNamespace is o as the API server stores it when applied to namespace
// ns.
func inNamespace(o Object, ns string) Object {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(o.JSON))
	dec.UseNumber() // numbers written back as they came
	if dec.Decode(&m) == nil {
		if meta, ok := m["metadata"].(map[string]any); ok {
			meta["namespace"] = ns
			if data, err := json.Marshal(m); err == nil {
				o.JSON = data
			}
		}
	}
	o.Namespace = ns
	return o
}

// kustomizationNamespace is the namespace the kustomization in dir puts
// every object in ("" when it sets none).
func kustomizationNamespace(dir string) (string, error) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		var k types.Kustomization
		if err := yaml.Unmarshal(data, &k); err != nil {
			return "", &Error{File: filepath.Join(dir, name), Msg: err.Error()}
		}
		return k.Namespace, nil
	}
	return "", nil
}

// conv reads one admitted object into the plane's fields, recording what
// the plane cannot run.
type conv struct {
	Object
	fail   func(field, format string, a ...any)
	failed bool
}

func (c *conv) refuse(field, format string, a ...any) {
	c.failed = true
	c.fail(field, format, a...)
}

func (c *conv) origin() Origin { return c.Object.Origin }

func (c *conv) topic(t *StrimziTopic) KafkaTopic {
	out := KafkaTopic{Origin: c.origin(), Name: c.Name, Namespace: c.Namespace, TopicName: t.TopicName(),
		Partitions: -1, Replicas: -1, Config: map[string]string{}}
	if p := t.Spec.Partitions; p != nil {
		out.Partitions = *p
	}
	if r := t.Spec.Replicas; r != nil {
		out.Replicas = int16(*r)
	}
	for k := range t.Spec.Config {
		out.Config[k], _, _ = t.ConfigString(k) // Validate has checked each
	}
	return out
}

func (c *conv) sink(s *KafkaSinkWire) KafkaSink {
	return KafkaSink{Origin: c.origin(), Name: c.Name, Namespace: c.Namespace, Topic: s.Spec.Topic,
		ContentMode: *s.Spec.ContentMode, BootstrapServers: s.Spec.BootstrapServers}
}

// sourceSpec is the spec the KafkaSource versions share, nil for any
// other kind.
func sourceSpec(typed any) *KafkaSourceSpecWire {
	switch t := typed.(type) {
	case *KafkaSourceWire:
		return &t.Spec.KafkaSourceSpecWire
	case *KafkaSourceV1Wire:
		return &t.Spec.KafkaSourceSpecWire
	}
	return nil
}

func (c *conv) source(sp *KafkaSourceSpecWire) (KafkaSource, bool) {
	s := KafkaSource{Origin: c.origin(), Name: c.Name, Namespace: c.Namespace, BootstrapServers: sp.BootstrapServers,
		Topics: sp.Topics, ConsumerGroup: sp.ConsumerGroup, InitialOffset: sp.InitialOffset,
		Ordering: *sp.Ordering, Consumers: *sp.Consumers, CEOverrides: map[string]string{}}
	if s.ConsumerGroup == "" {
		// A cluster generates "knative-kafka-source-<uuid>" once and keeps
		// it for the object's life; a stable derived name gives the same
		// "resume where we left off" across local restarts.
		s.ConsumerGroup = "knative-kafka-source-" + c.Namespace + "-" + c.Name
	}
	s.Sink = c.destination(sp.Sink)
	s.Delivery = c.delivery(sp.Delivery)
	if o := sp.CEOverrides; o != nil {
		for k, v := range o.Extensions {
			s.CEOverrides[k] = v
		}
	}
	return s, !c.failed
}

// sourceDefaultDelivery is what the KafkaSource reconciler gives a source
// without spec.delivery (eventing-kafka-broker v0.50.1
// reconciler/source/source.go reconcileConsumerGroup).
func sourceDefaultDelivery() *DeliveryWire {
	return &DeliveryWire{Retry: new(int32(10)), BackoffPolicy: new(BackoffExponential), BackoffDelay: new("PT0.3S"), Timeout: new("PT600S")}
}

// delivery reads spec.delivery as a cluster runs it. Fields left out of a
// delivery that is there: no retry; backoff exponential from 200 ms (the
// consumer reconciler's default, reconciler/consumer/consumer.go); the
// dispatcher's timeout of 600 s (WebClientCloudEventSender.DEFAULT_TIMEOUT_MS).
// Without retry the control plane never reads backoffDelay. Durations are
// read as the control plane reads them (ParseDuration): one the webhook
// took may still be one it cannot read, and the source would never be
// ready, so the plane refuses it.
func (c *conv) delivery(w *DeliveryWire) Delivery {
	if w == nil {
		w = sourceDefaultDelivery()
	}
	d := Delivery{BackoffPolicy: BackoffExponential, BackoffDelay: 200 * time.Millisecond, Timeout: 600 * time.Second}
	if w.Retry != nil {
		d.Retry = int(*w.Retry)
	}
	if w.BackoffPolicy != nil {
		d.BackoffPolicy = *w.BackoffPolicy
	}
	var err error
	if s := w.BackoffDelay; s != nil && w.Retry != nil {
		if d.BackoffDelay, err = ParseDuration(*s); err != nil {
			c.refuse("spec.delivery.backoffDelay", "%v", err)
		}
	}
	if s := w.Timeout; s != nil {
		if d.Timeout, err = ParseDuration(*s); err != nil {
			c.refuse("spec.delivery.timeout", "%v", err)
		} else if d.Timeout == 0 {
			c.refuse("spec.delivery.timeout", "%q: must not be zero (Knative's webhook refuses it)", *s)
		}
	}
	if w.DeadLetterSink != nil {
		dls := c.destination(*w.DeadLetterSink)
		d.DeadLetterSink = &dls
	}
	return d
}

// destination reads an admitted duck/v1 Destination; its ref's namespace
// is the referring object's when left out (as SetDefaults makes it).
func (c *conv) destination(w DestinationWire) Destination {
	var d Destination
	if r := w.Ref; r != nil {
		ns := r.Namespace
		if ns == "" {
			ns = c.Namespace
		}
		d.Ref = &KReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: ns}
	}
	d.URI = w.URI
	return d
}

func (c *conv) binding(b *SinkBindingWire) (SinkBinding, bool) {
	sub := b.Spec.Subject
	out := SinkBinding{Origin: c.origin(), Name: c.Name, Namespace: c.Namespace,
		Subject: KReference{APIVersion: sub.APIVersion, Kind: sub.Kind, Name: sub.Name, Namespace: sub.Namespace},
		Sink:    c.destination(b.Spec.Sink)}
	return out, !c.failed
}

// ping reads a PingSource. Its schedule is checked again with the cron
// parser the plane runs it with (five fields, as Knative takes it).
func (c *conv) ping(p *PingSourceWire) (PingSource, bool) {
	out := PingSource{Origin: c.origin(), Name: c.Name, Namespace: c.Namespace, Schedule: p.Spec.Schedule,
		Timezone: p.Spec.Timezone, ContentType: p.Spec.ContentType, Data: []byte(p.Spec.Data), Sink: c.destination(p.Spec.Sink)}
	if _, err := ParseSchedule(out.Schedule, out.Timezone); err != nil {
		c.refuse("spec.schedule", "%v", err)
	}
	if p.Spec.DataBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(p.Spec.DataBase64)
		if err != nil {
			c.refuse("spec.dataBase64", "not base64: %v", err)
		}
		out.Data = b
	}
	if o := p.Spec.CEOverrides; o != nil {
		out.CEOverrides = o.Extensions
	}
	return out, !c.failed
}

package manifests

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// DefaultNamespace is used when neither the kustomization nor the object
// names one, as kubectl would.
const DefaultNamespace = "default"

// Load reads the kustomization in dir and every resource it lists,
// recursively, and returns the typed objects. All problems found are
// returned together (errors.Join of *Error), not just the first.
func Load(dir string) (*Set, error) {
	l := &loader{set: &Set{Dir: dir}, seen: map[string]Origin{}, visiting: map[string]bool{}}
	ns, err := l.kustomization(dir, "")
	l.set.Namespace = ns
	if err != nil {
		l.errs = append(l.errs, err)
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return l.set, nil
}

type loader struct {
	set      *Set
	errs     []error
	seen     map[string]Origin // kind/ns/name => where first defined
	visiting map[string]bool   // kustomization dirs on the current path
}

func (l *loader) fail(file, kind, name, field, format string, a ...any) {
	l.errs = append(l.errs, &Error{File: file, Kind: kind, Name: name, Field: field, Msg: fmt.Sprintf(format, a...)})
}

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomization loads one kustomization directory. outerNS is the namespace
// an enclosing kustomization imposes: as with kustomize, the outermost
// `namespace:` wins over inner ones and over metadata.namespace.
func (l *loader) kustomization(dir, outerNS string) (string, error) {
	var file string
	for _, n := range kustomizationNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			file = p
			break
		}
	}
	if file == "" {
		return "", &Error{File: dir, Msg: "no kustomization.yaml in this directory"}
	}
	abs, _ := filepath.Abs(dir)
	if l.visiting[abs] {
		return "", &Error{File: file, Msg: "kustomization includes itself (cycle)"}
	}
	l.visiting[abs] = true
	defer delete(l.visiting, abs)

	data, err := os.ReadFile(file)
	if err != nil {
		return "", &Error{File: file, Msg: err.Error()}
	}
	var generic map[string]any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return "", &Error{File: file, Msg: "invalid YAML: " + err.Error()}
	}
	for _, f := range unsupportedKustomizeFields {
		if _, ok := generic[f]; ok {
			l.fail(file, "", "", f, "not supported by the local plane (it would change what runs; render with kustomize instead)")
		}
	}
	var k wireKustomization
	for _, p := range decodeStrict(data, &k) {
		if !slices.Contains(unsupportedKustomizeFields, p.field) {
			l.fail(file, "", "", p.field, "%s", p.msg)
		}
	}
	ns := outerNS
	if ns == "" {
		ns = k.Namespace
	}
	for i, r := range k.Resources {
		field := fmt.Sprintf("resources[%d]", i)
		if strings.Contains(r, "://") || strings.HasPrefix(r, "github.com/") {
			l.fail(file, "", "", field, "remote resource %q is not supported by the local plane", r)
			continue
		}
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			l.fail(file, "", "", field, "%q: %v", r, errors.Unwrap(err))
			continue
		}
		if st.IsDir() {
			if _, err := l.kustomization(p, ns); err != nil {
				l.errs = append(l.errs, err)
			}
			continue
		}
		l.file(p, ns)
	}
	return ns, nil
}

// splitDocuments splits a multi-document YAML stream on `---` lines. A
// document holding only comments or blank lines (such as the comment block
// before the first `---` of a file) is dropped. The returned index is the
// 1-based position of the document in the file, counting dropped ones, so
// messages can point at it.
func splitDocuments(data []byte) (docs [][]byte, index []int) {
	var cur bytes.Buffer
	n := 1
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, slices.Clone(cur.Bytes()))
			index = append(index, n)
		}
		cur.Reset()
		n++
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if isSeparator(line) {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs, index
}

var separatorRE = regexp.MustCompile(`^---(\s.*)?$`)

func isSeparator(line string) bool { return separatorRE.MatchString(strings.TrimRight(line, "\r")) }

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "..." {
			return true
		}
	}
	return false
}

// API groups each modelled kind must belong to. Any version is accepted:
// KafkaSource is served as v1beta1 and v1, and the local plane reads the
// same fields from both.
var kindGroups = map[string]string{
	KindKafkaTopic:  "kafka.strimzi.io",
	KindKafkaSink:   "eventing.knative.dev",
	KindKafkaSource: "sources.knative.dev",
	KindSinkBinding: "sources.knative.dev",
	KindPingSource:  "sources.knative.dev",
}

func (l *loader) file(path, ns string) {
	data, err := os.ReadFile(path)
	if err != nil {
		l.fail(path, "", "", "", "%v", err)
		return
	}
	docs, index := splitDocuments(data)
	for i, doc := range docs {
		origin := Origin{File: path, Doc: index[i]}
		var h wireHeader
		if err := yaml.Unmarshal(doc, &h); err != nil {
			l.fail(path, "", "", "", "document %d: invalid YAML: %v", origin.Doc, err)
			continue
		}
		if h.Kind == "" {
			l.fail(path, "", "", "kind", "document %d: missing", origin.Doc)
			continue
		}
		objNS := ns
		if objNS == "" {
			objNS = h.Metadata.Namespace
		}
		if objNS == "" {
			objNS = DefaultNamespace
		}
		obj := Object{Origin: origin, APIVersion: h.APIVersion, Kind: h.Kind, Name: h.Metadata.Name, Namespace: objNS}
		l.set.Objects = append(l.set.Objects, obj)

		group, modelled := kindGroups[h.Kind]
		if !modelled {
			continue // kept in Objects, otherwise ignored
		}
		if g, _, _ := strings.Cut(h.APIVersion, "/"); g != group {
			l.fail(path, h.Kind, h.Metadata.Name, "apiVersion", "%q is not in API group %s", h.APIVersion, group)
			continue
		}
		if h.Metadata.Name == "" {
			l.fail(path, h.Kind, "", "metadata.name", "missing")
			continue
		}
		id := h.Kind + "/" + objNS + "/" + h.Metadata.Name
		if first, dup := l.seen[id]; dup {
			l.fail(path, h.Kind, h.Metadata.Name, "metadata.name", "defined twice (first in %s)", first.File)
			continue
		}
		l.seen[id] = origin

		c := &conv{l: l, file: path, kind: h.Kind, name: h.Metadata.Name, ns: objNS}
		switch h.Kind {
		case KindKafkaTopic:
			var w wireKafkaTopic
			if c.decode(doc, &w) {
				if t, ok := c.topic(&w, origin); ok {
					l.set.Topics = append(l.set.Topics, t)
				}
			}
		case KindKafkaSink:
			var w wireKafkaSink
			if c.decode(doc, &w) {
				if s, ok := c.sink(&w, origin); ok {
					l.set.Sinks = append(l.set.Sinks, s)
				}
			}
		case KindKafkaSource:
			var w wireKafkaSource
			if c.decode(doc, &w) {
				if s, ok := c.source(&w, origin); ok {
					l.set.Sources = append(l.set.Sources, s)
				}
			}
		case KindSinkBinding:
			var w wireSinkBinding
			if c.decode(doc, &w) {
				if b, ok := c.binding(&w, origin); ok {
					l.set.Bindings = append(l.set.Bindings, b)
				}
			}
		case KindPingSource:
			var w wirePingSource
			if c.decode(doc, &w) {
				if ps, ok := c.ping(&w, origin); ok {
					l.set.Pings = append(l.set.Pings, ps)
				}
			}
		}
	}
}

// conv converts one decoded object, recording problems against it.
type conv struct {
	l                    *loader
	file, kind, name, ns string
	failed               bool
}

func (c *conv) fail(field, format string, a ...any) {
	c.failed = true
	c.l.fail(c.file, c.kind, c.name, field, format, a...)
}

func (c *conv) decode(doc []byte, out any) bool {
	probs := decodeStrict(doc, out)
	for _, p := range probs {
		c.fail(p.field, "%s", p.msg)
	}
	return len(probs) == 0
}

func (c *conv) topic(w *wireKafkaTopic, o Origin) (KafkaTopic, bool) {
	t := KafkaTopic{Origin: o, Name: w.Metadata.Name, Namespace: c.ns, TopicName: w.Spec.TopicName,
		Partitions: -1, Replicas: -1, Config: map[string]string{}}
	if t.TopicName == "" {
		t.TopicName = t.Name
	}
	if p := w.Spec.Partitions; p != nil {
		if *p < 1 {
			c.fail("spec.partitions", "must be at least 1, got %d", *p)
		}
		t.Partitions = *p
	}
	if r := w.Spec.Replicas; r != nil {
		if *r < 1 {
			c.fail("spec.replicas", "must be at least 1, got %d", *r)
		}
		t.Replicas = *r
	}
	for k, raw := range w.Spec.Config {
		v, err := configValue(raw)
		if err != nil {
			c.fail(mapPath("spec.config", k), "%v", err)
			continue
		}
		t.Config[k] = v
	}
	return t, !c.failed
}

// configValue renders a Strimzi config value the way Kafka expects it:
// strings as they are, numbers and booleans as written in the YAML.
func configValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case json.Number:
		return v.String(), nil
	case bool:
		return fmt.Sprint(v), nil
	default:
		return "", fmt.Errorf("must be a string, number or boolean")
	}
}

func (c *conv) sink(w *wireKafkaSink, o Origin) (KafkaSink, bool) {
	s := KafkaSink{Origin: o, Name: w.Metadata.Name, Namespace: c.ns, Topic: w.Spec.Topic,
		ContentMode: ContentModeBinary, BootstrapServers: w.Spec.BootstrapServers}
	if s.Topic == "" {
		c.fail("spec.topic", "missing")
	}
	if len(s.BootstrapServers) == 0 {
		c.fail("spec.bootstrapServers", "missing (required on a cluster; the local plane ignores its value)")
	}
	if m := w.Spec.ContentMode; m != nil {
		switch *m {
		case ContentModeBinary, ContentModeStructured:
			s.ContentMode = *m
		default:
			c.fail("spec.contentMode", "%q is not binary or structured", *m)
		}
	}
	return s, !c.failed
}

// ceExtensionName is the CloudEvents rule for extension attribute names.
var ceExtensionName = regexp.MustCompile(`^[a-z0-9]+$`)

func (c *conv) source(w *wireKafkaSource, o Origin) (KafkaSource, bool) {
	sp := &w.Spec
	s := KafkaSource{Origin: o, Name: w.Metadata.Name, Namespace: c.ns, BootstrapServers: sp.BootstrapServers,
		Topics: sp.Topics, ConsumerGroup: sp.ConsumerGroup, InitialOffset: OffsetLatest,
		Ordering: OrderingOrdered, Consumers: 1, CEOverrides: map[string]string{}}
	if len(s.Topics) == 0 {
		c.fail("spec.topics", "missing")
	}
	for i, t := range s.Topics {
		if t == "" {
			c.fail(fmt.Sprintf("spec.topics[%d]", i), "empty topic name")
		}
	}
	if len(s.BootstrapServers) == 0 {
		c.fail("spec.bootstrapServers", "missing (required on a cluster; the local plane ignores its value)")
	}
	if s.ConsumerGroup == "" {
		// Knative generates "knative-kafka-source-<uuid>" once and keeps
		// it for the object's life; a stable derived name gives the same
		// "resume where we left off" across local restarts.
		s.ConsumerGroup = "knative-kafka-source-" + c.ns + "-" + s.Name
	}
	switch sp.InitialOffset {
	case "":
	case OffsetEarliest, OffsetLatest:
		s.InitialOffset = sp.InitialOffset
	default:
		c.fail("spec.initialOffset", "%q is not earliest or latest", sp.InitialOffset)
	}
	if o := sp.Ordering; o != nil {
		switch *o {
		case OrderingOrdered, OrderingUnordered:
			s.Ordering = *o
		default:
			c.fail("spec.ordering", "%q is not ordered or unordered", *o)
		}
	}
	if n := sp.Consumers; n != nil {
		if *n < 1 {
			c.fail("spec.consumers", "must be at least 1, got %d", *n)
		}
		s.Consumers = int(*n)
	}
	if sp.Sink == nil {
		c.fail("spec.sink", "missing")
	} else if d, ok := c.destination(sp.Sink, "spec.sink"); ok {
		s.Sink = d
	}
	s.Delivery = c.delivery(sp.Delivery)
	if sp.CEOverrides != nil {
		for k, v := range sp.CEOverrides.Extensions {
			if !ceExtensionName.MatchString(k) {
				c.fail(mapPath("spec.ceOverrides.extensions", k), "not a valid CloudEvents extension name (lower-case letters and digits only)")
				continue
			}
			s.CEOverrides[k] = v
		}
	}
	return s, !c.failed
}

// sourceDefaultDelivery is what the KafkaSource reconciler gives a source
// without spec.delivery (eventing-kafka-broker v0.50.1
// reconciler/source/source.go reconcileConsumerGroup).
var sourceDefaultDelivery = wireDelivery{Retry: new(int32(10)), BackoffPolicy: new(BackoffExponential),
	BackoffDelay: new("PT0.3S"), Timeout: new("PT600S")}

// delivery reads spec.delivery as a cluster runs it. Fields left out of a
// delivery that is there: no retry; backoff exponential from 200 ms (the
// consumer reconciler's default, reconciler/consumer/consumer.go); the
// dispatcher's timeout of 600 s (WebClientCloudEventSender.DEFAULT_TIMEOUT_MS).
// Without retry the control plane never reads backoffDelay, so then only
// the webhook's check applies to it.
func (c *conv) delivery(w *wireDelivery) Delivery {
	if w == nil {
		w = &sourceDefaultDelivery
	}
	d := Delivery{BackoffPolicy: BackoffExponential, BackoffDelay: 200 * time.Millisecond, Timeout: 600 * time.Second}
	if w.Retry != nil {
		if *w.Retry < 0 {
			c.fail("spec.delivery.retry", "must not be negative, got %d", *w.Retry)
		}
		d.Retry = int(*w.Retry)
	}
	if w.BackoffPolicy != nil {
		switch *w.BackoffPolicy {
		case BackoffLinear, BackoffExponential:
			d.BackoffPolicy = *w.BackoffPolicy
		default:
			c.fail("spec.delivery.backoffPolicy", "%q is not linear or exponential", *w.BackoffPolicy)
		}
	}
	var err error
	if s := w.BackoffDelay; s != nil {
		if w.Retry != nil {
			d.BackoffDelay, err = ParseDuration(*s)
		} else {
			err = checkDuration(*s)
		}
		if err != nil {
			c.fail("spec.delivery.backoffDelay", "%v", err)
		}
	}
	if s := w.Timeout; s != nil {
		if d.Timeout, err = ParseDuration(*s); err != nil {
			c.fail("spec.delivery.timeout", "%v", err)
		} else if d.Timeout == 0 {
			c.fail("spec.delivery.timeout", "%q: must not be zero (Knative's webhook refuses it)", *s)
		}
	}
	if w.RetryAfterMax != nil {
		if err := checkDuration(*w.RetryAfterMax); err != nil {
			c.fail("spec.delivery.retryAfterMax", "%v", err)
		}
	}
	if w.DeadLetterSink != nil {
		if dls, ok := c.destination(w.DeadLetterSink, "spec.delivery.deadLetterSink"); ok {
			d.DeadLetterSink = &dls
		}
	}
	return d
}

func (c *conv) destination(w *wireDestination, field string) (Destination, bool) {
	var d Destination
	ok := true
	if w.Ref == nil && w.URI == "" {
		c.fail(field, "needs ref or uri")
		return d, false
	}
	if r := w.Ref; r != nil {
		if r.Kind == "" {
			c.fail(field+".ref.kind", "missing")
			ok = false
		}
		if r.Name == "" {
			c.fail(field+".ref.name", "missing")
			ok = false
		}
		if r.APIVersion == "" && r.Group == "" {
			c.fail(field+".ref.apiVersion", "missing")
			ok = false
		}
		ns := r.Namespace
		if ns == "" {
			ns = c.ns
		}
		d.Ref = &KReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: ns}
	}
	if w.URI != "" {
		u, err := url.Parse(w.URI)
		switch {
		case err != nil:
			c.fail(field+".uri", "%v", err)
			ok = false
		case w.Ref == nil && !u.IsAbs():
			c.fail(field+".uri", "%q must be absolute when there is no ref", w.URI)
			ok = false
		}
		d.URI = w.URI
	}
	return d, ok
}

func (c *conv) binding(w *wireSinkBinding, o Origin) (SinkBinding, bool) {
	sub := w.Spec.Subject
	b := SinkBinding{Origin: o, Name: w.Metadata.Name, Namespace: c.ns}
	if sub.Kind == "" {
		c.fail("spec.subject.kind", "missing")
	}
	if sub.APIVersion == "" {
		c.fail("spec.subject.apiVersion", "missing")
	}
	if sub.Name == "" {
		if len(sub.Selector) > 0 {
			c.fail("spec.subject.selector", "label selectors are not supported by the local plane; name the subject")
		} else {
			c.fail("spec.subject.name", "missing")
		}
	}
	ns := sub.Namespace
	if ns == "" {
		ns = c.ns
	}
	b.Subject = KReference{APIVersion: sub.APIVersion, Kind: sub.Kind, Name: sub.Name, Namespace: ns}
	if w.Spec.Sink == nil {
		c.fail("spec.sink", "missing")
	} else if d, ok := c.destination(w.Spec.Sink, "spec.sink"); ok {
		b.Sink = d
	}
	return b, !c.failed
}

// ping converts a PingSource. Its schedule is checked with the same cron
// parser the plane runs it with (five fields, as Knative takes it).
func (c *conv) ping(w *wirePingSource, o Origin) (PingSource, bool) {
	ps := PingSource{Origin: o, Name: w.Metadata.Name, Namespace: c.ns, Schedule: w.Spec.Schedule,
		Timezone: w.Spec.Timezone, ContentType: w.Spec.ContentType}
	if ps.Schedule == "" {
		ps.Schedule = "* * * * *" // eventing v0.50.0 PingSourceSpec.SetDefaults
	}
	if _, err := ParseSchedule(ps.Schedule, ps.Timezone); err != nil {
		c.fail("spec.schedule", "%v", err)
	}
	switch {
	case w.Spec.Data != "" && w.Spec.DataBase64 != "":
		c.fail("spec.dataBase64", "set together with spec.data; use one")
	case w.Spec.DataBase64 != "":
		b, err := base64.StdEncoding.DecodeString(w.Spec.DataBase64)
		if err != nil {
			c.fail("spec.dataBase64", "not base64: %v", err)
		}
		ps.Data = b
	default:
		ps.Data = []byte(w.Spec.Data)
	}
	if w.Spec.Sink == nil {
		c.fail("spec.sink", "missing")
	} else if d, ok := c.destination(w.Spec.Sink, "spec.sink"); ok {
		ps.Sink = d
	}
	if w.Spec.CEOverrides != nil {
		ps.CEOverrides = w.Spec.CEOverrides.Extensions
	}
	return ps, !c.failed
}

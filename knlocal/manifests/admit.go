package manifests

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/rickb777/date/period"
	"github.com/robfig/cron/v3"
)

// admit decodes o strictly into its wire struct (wire.go) and gives it
// the defaults and the checks of Knative's admission webhooks, restated
// for the fields the wire structs model (eventing-kafka-broker v0.50.1,
// eventing v0.50.0, knative.dev/pkg, as the webhooks run them: a
// reference may name another namespace, spec.delivery.timeout is enabled,
// retryAfterMax and a reference's group are not, as in eventing's default
// config-features). Messages are Knative's. typed is one of
// *KafkaSourceWire, *KafkaSourceV1Wire, *KafkaSinkWire, *SinkBindingWire, *PingSourceWire or
// *StrimziTopic; ok is false for any other kind or version.
//
// deploy/validate holds this to Knative's own SetDefaults and Validate:
// its agreement tests edit the manifests field by field and fail when the
// plane and Knative's types take or refuse an edit differently.
func admit(o Object) (typed any, probs []FieldProblem, ok bool) {
	t, ok := WireType(o.APIVersion, o.Kind)
	if !ok {
		return nil, nil, false
	}
	v := reflect.New(t).Interface()
	if probs := DecodeStrict(o.JSON, v); len(probs) > 0 {
		return v, probs, true
	}
	c := &checks{}
	switch w := v.(type) {
	case *KafkaSourceWire:
		c.kafkaSource(&w.ObjectMeta, &w.Spec.KafkaSourceSpecWire)
	case *KafkaSourceV1Wire:
		c.kafkaSource(&w.ObjectMeta, &w.Spec.KafkaSourceSpecWire)
	case *KafkaSinkWire:
		c.kafkaSink(w)
	case *SinkBindingWire:
		c.sinkBinding(w)
	case *PingSourceWire:
		c.pingSource(w)
	case *StrimziTopic:
		c.probs = append(c.probs, w.Validate()...)
	}
	return v, c.probs, true
}

// checks gathers what the webhooks would refuse, each with its field.
type checks struct {
	probs []FieldProblem
	// as says, in brackets after each message, which check found it,
	// when that is not the object's own webhook.
	as string
}

func (c *checks) add(field, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if c.as != "" {
		msg += " [" + c.as + "]"
	}
	c.probs = append(c.probs, FieldProblem{Field: field, Msg: msg})
}

// missing is apis.ErrMissingField.
func (c *checks) missing(field string) { c.add(field, "missing field(s)") }

// invalid is apis.ErrInvalidValue.
func (c *checks) invalid(value any, field string, details ...string) {
	msg := fmt.Sprint("invalid value: ", value)
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	c.add(field, "%s", msg)
}

// required is a field that must be set, and be what valid takes.
func (c *checks) required(field, value string, valid func(string) bool, why string) {
	switch {
	case value == "":
		c.missing(field)
	case !valid(value):
		c.invalid(value, field, why)
	}
}

// KafkaSource: v1beta1 KafkaSource.SetDefaults and Validate, then its
// delivery as its ConsumerGroup is validated.
func (c *checks) kafkaSource(meta *ObjectMeta, sp *KafkaSourceSpecWire) {
	if sp.Consumers == nil {
		sp.Consumers = new(int32(1))
	}
	if sp.InitialOffset == "" {
		sp.InitialOffset = OffsetLatest
	}
	if sp.Ordering == nil {
		sp.Ordering = new(OrderingOrdered)
	}
	defaultRef(sp.Sink.Ref, meta.Namespace)
	if d := sp.Delivery; d != nil && d.DeadLetterSink != nil {
		defaultRef(d.DeadLetterSink.Ref, meta.Namespace)
	}

	c.sourceSpec("spec", &sp.SourceSpecWire)
	if len(sp.Topics) == 0 {
		c.missing("spec.topics")
	}
	if len(sp.BootstrapServers) == 0 {
		c.missing("spec.bootstrapServers")
	}
	if o := sp.InitialOffset; o != OffsetEarliest && o != OffsetLatest {
		c.invalid(o, "spec.initialOffset")
	}
	if o := *sp.Ordering; o != OrderingOrdered && o != OrderingUnordered {
		c.invalid(o, "spec.ordering")
	}
	// KafkaSource.Validate does not look at spec.delivery: the source
	// controller copies it into the ConsumerGroup it creates, whose
	// webhook runs eventing's DeliverySpec.Validate. A bad delivery is
	// thus accepted by `kubectl apply` and leaves the source never
	// Ready; the plane refuses it up front.
	c.as = "as the KafkaSource's ConsumerGroup is validated"
	c.delivery("spec.delivery", sp.Delivery)
	c.as = ""
}

// KafkaSink: v1alpha1 KafkaSink.SetDefaults and Validate.
func (c *checks) kafkaSink(s *KafkaSinkWire) {
	sp := &s.Spec
	if sp.ContentMode == nil || *sp.ContentMode == "" {
		sp.ContentMode = new(ContentModeBinary)
	}
	if m := *sp.ContentMode; m != ContentModeBinary && m != ContentModeStructured {
		c.invalid(m, "spec.contentMode")
	}
	if len(sp.BootstrapServers) == 0 {
		c.invalid(sp.BootstrapServers, "spec.bootstrapServers")
	}
	if sp.Topic == "" {
		c.invalid(sp.Topic, "spec.topic")
	}
	if r := sp.ReplicationFactor; r != nil && *r <= 0 {
		c.invalid(*r, "spec.replicationFactor")
	}
	if n := sp.NumPartitions; n != nil && *n <= 0 {
		c.invalid(*n, "spec.numPartitions")
	}
	if a := sp.Auth; a != nil && a.Secret != nil && a.Secret.Ref != nil && a.Secret.Ref.Name == "" {
		c.invalid("", "spec.auth.secret.ref.name")
	}
}

// SinkBinding: v1 SinkBinding.SetDefaults and Validate; its subject as
// knative.dev/pkg's tracker.Reference.Validate.
func (c *checks) sinkBinding(b *SinkBindingWire) {
	sub := &b.Spec.Subject
	if sub.Namespace == "" {
		sub.Namespace = b.Namespace
	}
	defaultRef(b.Spec.Sink.Ref, b.Namespace)

	c.required("spec.subject.apiVersion", sub.APIVersion, isQualifiedName, "not a qualified name: an optional DNS subdomain and '/', then up to 63 alphanumerics, '-', '_' or '.'")
	c.required("spec.subject.kind", sub.Kind, cIdentifier.MatchString, "not a C identifier")
	c.required("spec.subject.namespace", sub.Namespace, isDNS1123Label, "not a DNS-1123 label")
	switch {
	case sub.Selector != nil && sub.Name != "":
		c.add("spec.subject.selector, spec.subject.name", "expected exactly one, got both")
	case sub.Selector != nil:
		// A cluster binds whatever the selector matches; the plane has
		// no labels to match against.
		c.add("spec.subject.selector", "label selectors are not supported by the local plane; name the subject")
	case sub.Name != "":
		if !isDNS1123Label(sub.Name) {
			c.invalid(sub.Name, "spec.subject.name", "not a DNS-1123 label")
		}
	default:
		c.add("spec.subject.selector, spec.subject.name", "expected exactly one, got neither")
	}
	c.sourceSpec("spec", &b.Spec.SourceSpecWire)
	if sub.Namespace != "" && sub.Namespace != b.Namespace {
		c.invalid(sub.Namespace, "spec.subject.namespace")
	}
}

// PingSource: v1 PingSource.SetDefaults and Validate (the data size
// limit is unset, as in eventing's default config-ping-defaults).
func (c *checks) pingSource(p *PingSourceWire) {
	sp := &p.Spec
	if sp.Schedule == "" {
		sp.Schedule = "* * * * *"
	}
	if strings.Contains(sp.Schedule, "@every") {
		c.invalid("unsupported descriptor @every", "spec.schedule")
	}
	schedule := sp.Schedule
	if sp.Timezone != "" {
		schedule = "CRON_TZ=" + sp.Timezone + " " + schedule
	}
	parser := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	if _, err := parser.Parse(schedule); err != nil {
		if strings.HasPrefix(err.Error(), "provided bad location") {
			c.invalid(err, "spec.timezone")
		} else {
			c.invalid(err, "spec.schedule")
		}
	}
	jsonObject := func(s string) error {
		var m map[string]any
		return json.Unmarshal([]byte(s), &m)
	}
	switch {
	case sp.Data != "" && sp.DataBase64 != "":
		c.add("spec.data, spec.dataBase64", "expected exactly one, got both")
	case sp.DataBase64 != "":
		decoded, err := base64.StdEncoding.DecodeString(sp.DataBase64)
		if err != nil {
			c.invalid(err, "spec.dataBase64")
		} else if sp.ContentType == "application/json" {
			if err := jsonObject(string(decoded)); err != nil {
				c.invalid(err, "spec.dataBase64")
			}
		}
	case sp.Data != "" && sp.ContentType == "application/json":
		if err := jsonObject(sp.Data); err != nil {
			c.invalid(err, "spec.data")
		}
	}
	c.sourceSpec("spec", &sp.SourceSpecWire)
}

// sourceSpec is duck/v1 SourceSpec.Validate: the sink and the
// CloudEvent overrides.
func (c *checks) sourceSpec(at string, s *SourceSpecWire) {
	c.destination(at+".sink", &s.Sink)
	if s.CEOverrides == nil {
		return
	}
	keys := make([]string, 0, len(s.CEOverrides.Extensions))
	for k := range s.CEOverrides.Extensions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "":
			c.add(at+".ceOverrides.extensions", "invalid key name %q (keys MUST NOT be empty)", k)
		case !alphanumeric.MatchString(k):
			c.add(at+".ceOverrides.extensions", "invalid key name %q (keys are expected to be alphanumeric)", k)
		}
	}
}

var (
	alphanumeric = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	cIdentifier  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Sub   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelKeyName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

func isDNS1123Label(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }

// isQualifiedName is apimachinery's IsQualifiedName: a name of up to 63
// characters, with an optional DNS subdomain and '/' before it.
func isQualifiedName(s string) bool {
	name := s
	if prefix, n, found := strings.Cut(s, "/"); found {
		if prefix == "" || len(prefix) > 253 || !dns1123Sub.MatchString(prefix) {
			return false
		}
		name = n
	}
	return len(name) <= 63 && labelKeyName.MatchString(name)
}

// destination is duck/v1 ValidateDestination, in its order: a reference
// is checked only when no URI comes with it, a CA only when the others
// pass.
func (c *checks) destination(at string, d *DestinationWire) {
	if d.Ref == nil && d.URI == "" {
		c.add(at+".ref, "+at+".uri", "expected at least one, got none")
		return
	}
	var u *url.URL
	if d.URI != "" {
		var err error
		if u, err = url.Parse(d.URI); err != nil {
			// A cluster refuses it while decoding (apis.URL).
			c.invalid(err, at+".uri")
			return
		}
	}
	switch {
	case d.Ref != nil && u != nil && u.IsAbs():
		c.add(at+".[apiVersion, kind, name], "+at+".ref, "+at+".uri", "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present")
	case d.Ref == nil && u != nil && (!u.IsAbs() || u.Host == ""):
		c.invalid("Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent", at+".uri")
	case d.Ref != nil && u == nil:
		c.kreference(at+".ref", d.Ref)
	case d.CACerts != nil:
		block, _ := pem.Decode([]byte(*d.CACerts))
		switch {
		case block == nil:
			c.invalid("CA Cert provided is invalid", at+".caCert")
		case block.Type != "CERTIFICATE":
			c.invalid("CA Cert provided is not a certificate", at+".caCert")
		default:
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				c.invalid("CA Cert provided is invalid", at+".caCert")
			}
		}
	}
}

// kreference is duck/v1 KReference.Validate with the group feature off
// and references to other namespaces allowed.
func (c *checks) kreference(at string, r *KReferenceWire) {
	if r.Name == "" {
		c.missing(at + ".name")
	}
	if r.Group != "" {
		c.add(at+".group", "must not set the field(s)")
	}
	if r.APIVersion == "" {
		c.missing(at + ".apiVersion")
	}
	if r.Kind == "" {
		c.missing(at + ".kind")
	}
}

// defaultRef is Destination.SetDefaults: a reference without a namespace
// is in the referring object's.
func defaultRef(r *KReferenceWire, ns string) {
	if r != nil && r.Namespace == "" {
		r.Namespace = ns
	}
}

// delivery is eventing duck/v1 DeliverySpec.Validate, durations checked
// with the ISO-8601 library Knative builds with (duration.go).
func (c *checks) delivery(at string, d *DeliveryWire) {
	if d == nil {
		return
	}
	if d.DeadLetterSink != nil {
		c.destination(at+".deadLetterSink", d.DeadLetterSink)
	}
	if r := d.Retry; r != nil && *r < 0 {
		c.invalid(*r, at+".retry")
	}
	if s := d.Timeout; s != nil {
		if p, err := period.Parse(*s); err != nil || p.IsZero() {
			c.invalid(*s, at+".timeout")
		}
	}
	if p := d.BackoffPolicy; p != nil && *p != BackoffLinear && *p != BackoffExponential {
		c.invalid(*p, at+".backoffPolicy")
	}
	if s := d.BackoffDelay; s != nil {
		if _, err := period.Parse(*s); err != nil {
			c.invalid(*s, at+".backoffDelay")
		}
	}
	if f := d.Format; f != nil && *f != "binary" && *f != "json" {
		c.invalid(*f, at+".format")
	}
	if d.RetryAfterMax != nil {
		// eventing's delivery-retryafter feature, off by default.
		c.add(at+".retryAfterMax", "must not set the field(s)")
	}
}

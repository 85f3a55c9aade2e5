package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	kafkasinkv1alpha1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	kafkasourcesv1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1"
	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"

	"orderflow.dev/knlocal/manifests"
)

// WebhookContexts are the contexts Knative's admission webhooks default
// and validate with. Defaulting (eventing-kafka-broker webhook-kafka
// NewDefaultingAdmissionController): apis.AllowDifferentNamespace.
// Validation (NewValidationAdmissionController): the feature-flag store
// from the config-features ConfigMap, plus AllowDifferentNamespace; the
// webhook adds WithinCreate for a create.
//
// The flags are eventing's defaults (feature.NewFlagsConfigFromMap of an
// empty map), which are also the values of the config-features ConfigMap
// that eventing v0.50.0 ships (config/core/configmaps/features.yaml):
// delivery-timeout is enabled there. Without a store in the context,
// DeliverySpec.Validate treats every flag as disabled and refuses
// spec.delivery.timeout ("must not set the field(s)"); that is not what a
// cluster does, so the store is put in explicitly.
func WebhookContexts() (def, val context.Context) {
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		panic(err) // an empty map is always a valid configuration
	}
	def = apis.AllowDifferentNamespace(context.Background())
	val = apis.WithinCreate(apis.AllowDifferentNamespace(feature.ToContext(context.Background(), flags)))
	return def, val
}

// Admitted is an object as a cluster admits it: decoded into its API type,
// defaulted and validated as Knative's webhooks do. Typed is one of
// *kafkasourcesv1beta1.KafkaSource (v1 is served too; it is validated as
// v1 and read as v1beta1, the version a cluster stores it as),
// *kafkasinkv1alpha1.KafkaSink,
// *sourcesv1.SinkBinding, *sourcesv1.PingSource or *manifests.StrimziTopic
// (Strimzi publishes no Go module; the plane's model is the one there is).
type Admitted struct {
	manifests.Object
	Typed any
	// Decoded says the JSON decoded into Typed; when it did not, Typed is
	// empty and Problems say why.
	Decoded bool
	// Problems are what the cluster would refuse, each with its field; the
	// object is not to be used when there are any.
	Problems []manifests.FieldProblem
}

// Admit admits o when it is of a kind a topology of functions is made of;
// ok is false for any other kind (a Secret, a PrometheusRule), which the
// caller may know or not.
func Admit(o manifests.Object) (a Admitted, ok bool) {
	def, val := WebhookContexts()
	a.Object = o
	decode := func(into any) bool {
		a.Problems = append(a.Problems, DecodeStrict(o.JSON, into)...)
		a.Decoded = len(a.Problems) == 0
		return a.Decoded
	}
	type defaultValidator interface {
		SetDefaults(context.Context)
		Validate(context.Context) *apis.FieldError
	}
	admit := func(typed defaultValidator) {
		typed.SetDefaults(def)
		a.Problems = append(a.Problems, FieldErrors(typed.Validate(val), "")...)
	}
	admitAs := func(typed defaultValidator) {
		if decode(typed) {
			admit(typed)
		}
		a.Typed = typed
	}
	switch o.APIVersion + ", " + o.Kind {
	case "sources.knative.dev/v1beta1, " + manifests.KindKafkaSource:
		ks := &kafkasourcesv1beta1.KafkaSource{}
		if decode(ks) {
			admit(ks)
			a.kafkaSourceDelivery(val, ks)
		}
		a.Typed = ks
	case "sources.knative.dev/v1, " + manifests.KindKafkaSource:
		ks1 := &kafkasourcesv1.KafkaSource{}
		ks := &kafkasourcesv1beta1.KafkaSource{}
		if decode(ks1) {
			admit(ks1)
			if err := storeAsV1beta1(ks1, ks); err != nil {
				a.Problems = append(a.Problems, manifests.FieldProblem{Msg: err.Error()})
			}
			a.kafkaSourceDelivery(val, ks)
		}
		a.Typed = ks
	case "eventing.knative.dev/v1alpha1, " + manifests.KindKafkaSink:
		admitAs(&kafkasinkv1alpha1.KafkaSink{})
	case "sources.knative.dev/v1, " + manifests.KindSinkBinding:
		admitAs(&sourcesv1.SinkBinding{})
	case "sources.knative.dev/v1, " + manifests.KindPingSource:
		admitAs(&sourcesv1.PingSource{})
	case "kafka.strimzi.io/v1beta2, " + manifests.KindKafkaTopic, "kafka.strimzi.io/v1, " + manifests.KindKafkaTopic:
		t := &manifests.StrimziTopic{}
		if decode(t) {
			a.Problems = append(a.Problems, t.Validate()...)
		}
		a.Typed = t
	default:
		return a, false
	}
	return a, true
}

// storeAsV1beta1 converts an admitted v1 KafkaSource to v1beta1, the
// version a cluster stores and its controllers read, as eventing-kafka-
// broker's conversion webhook does (webhook-kafka NewConversionController,
// v1beta1 the hub; knative.dev/pkg conversion reconciler.convert): the
// admitted object as JSON decoded into v1, the hub's ConvertFrom, then the
// hub's SetDefaults, both with the request's context, which carries none
// of the admission webhooks' options. The conversion drops SASL's roleARN
// and tokenProvider, which only v1 has.
func storeAsV1beta1(v1 *kafkasourcesv1.KafkaSource, hub *kafkasourcesv1beta1.KafkaSource) error {
	ctx := context.Background()
	raw, err := json.Marshal(v1)
	if err != nil {
		return fmt.Errorf("conversion to v1beta1: %w", err)
	}
	in := &kafkasourcesv1.KafkaSource{}
	if err := json.Unmarshal(raw, in); err != nil {
		return fmt.Errorf("conversion to v1beta1: %w", err)
	}
	if err := hub.ConvertFrom(ctx, in); err != nil {
		return fmt.Errorf("conversion to v1beta1: %w", err)
	}
	hub.SetGroupVersionKind(kafkasourcesv1beta1.SchemeGroupVersion.WithKind(manifests.KindKafkaSource))
	hub.SetDefaults(ctx)
	return nil
}

// kafkaSourceDelivery validates a KafkaSource's delivery as its
// ConsumerGroup is validated. KafkaSource.Validate (v0.50.1) does not look
// at spec.delivery: the source controller copies it into the
// ConsumerGroup it creates, whose webhook runs eventing's
// DeliverySpec.Validate (internalskafkaeventing/v1alpha1
// ConsumerTemplateSpec.Validate). A bad delivery is thus accepted by
// `kubectl apply` and leaves the source never Ready; here it is refused up
// front.
func (a *Admitted) kafkaSourceDelivery(val context.Context, ks *kafkasourcesv1beta1.KafkaSource) {
	a.Problems = append(a.Problems, FieldErrors(ks.Spec.Delivery.Validate(val).ViaField("spec", "delivery"), "as the KafkaSource's ConsumerGroup is validated")...)
}

// FieldErrors lists a Knative field error's errors (warnings left out),
// each with its paths; what, when given, says in brackets which check
// found it.
func FieldErrors(fe *apis.FieldError, what string) []manifests.FieldProblem {
	if fe == nil {
		return nil
	}
	var out []manifests.FieldProblem
	for _, e := range fe.Filter(apis.ErrorLevel).WrappedErrors() {
		msg := e.Message
		if e.Details != "" {
			msg += " (" + e.Details + ")"
		}
		if what != "" {
			msg += " [" + what + "]"
		}
		out = append(out, manifests.FieldProblem{Field: strings.Join(e.Paths, ", "), Msg: msg})
	}
	return out
}

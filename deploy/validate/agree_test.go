package validate

// The local plane renders knative/ with kustomize, as this package does,
// and reads each object into structs of its own (knlocal/manifests
// wire.go), with Knative's defaults and checks restated; this package
// admits them with Knative's own types (admit.go). These tests hold the
// plane to what a cluster gets: every value the plane takes from the
// manifests, read both ways and compared field by field, and edits that
// one side takes or refuses (shape_test.go holds the structs' shapes).
//
//   - cluster: manifests.Render (kustomize's engine), each object decoded
//     into its real API type and defaulted as Knative's webhooks do (a v1
//     KafkaSource converted to v1beta1 as the conversion webhook does); a
//     KafkaSource's delivery as the eventing-kafka-broker control plane
//     turns it into the dispatcher's configuration (its own
//     EgressConfigFromDelivery and DurationMillisFromISO8601String);
//   - plane: manifests.Load and manifests.Resolve, as plane.Up calls them,
//     on the same directory, overlays included.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	kafkasinkv1alpha1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
	"knative.dev/eventing-kafka-broker/control-plane/pkg/contract"
	coreconfig "knative.dev/eventing-kafka-broker/control-plane/pkg/core/config"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"orderflow.dev/knlocal/manifests"
)

// fields is what one reader makes of a kustomization, flattened to
// "Kind namespace/name: field" -> value, so two readings compare key by key
// and a difference names the object and the field.
type fields map[string]string

func (f fields) set(kind, ns, name, field, value string) {
	f[kind+" "+ns+"/"+name+": "+field] = value
}

const absent = "(absent)"

// diff lists every key whose value differs, sorted:
//
//	KafkaSource orderflow/order: delivery.backoffDelay: plane 250 ms, cluster 200 ms
func diff(plane, cluster fields) []string {
	keys := map[string]bool{}
	for k := range plane {
		keys[k] = true
	}
	for k := range cluster {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		p, ok := plane[k]
		if !ok {
			p = absent
		}
		c, ok := cluster[k]
		if !ok {
			c = absent
		}
		if p != c {
			out = append(out, fmt.Sprintf("%s: plane %s, cluster %s", k, p, c))
		}
	}
	sort.Strings(out)
	return out
}

// The dispatcher's timeout when the control plane sends none
// (eventing-kafka-broker v0.50.1 data-plane WebClientCloudEventSender
// .DEFAULT_TIMEOUT_MS: Java, so not importable).
const dispatcherDefaultTimeoutMs = 600_000

// sourceDefaultDelivery is what the KafkaSource reconciler puts in the
// ConsumerGroup of a source without spec.delivery (eventing-kafka-broker
// v0.50.1 control-plane/pkg/reconciler/source/source.go
// reconcileConsumerGroup; unexported, so restated here).
func sourceDefaultDelivery() *eventingduckv1.DeliverySpec {
	exp := eventingduckv1.BackoffPolicyExponential
	return &eventingduckv1.DeliverySpec{Retry: ptr.To[int32](10), BackoffPolicy: &exp, BackoffDelay: ptr.To("PT0.3S"), Timeout: ptr.To("PT600S")}
}

// clusterDelivery is the delivery a KafkaSource's dispatcher runs with:
// the ConsumerGroup's delivery turned into the contract's EgressConfig by
// the consumer reconciler (EgressConfigFromDelivery with its default
// backoff delay of 200 ms, reconciler/consumer/consumer.go), then the
// dispatcher's own default timeout. The dead-letter sink is compared as
// written: resolving it to a URL needs a cluster.
func clusterDelivery(ks *kafkasourcesv1beta1.KafkaSource) (*contract.EgressConfig, error) {
	spec := ks.Spec.Delivery
	if spec == nil {
		spec = sourceDefaultDelivery()
	}
	noDLS := *spec
	noDLS.DeadLetterSink = nil
	eg, err := coreconfig.EgressConfigFromDelivery(context.Background(), nil, ks, &noDLS, 200)
	if err != nil {
		return nil, err
	}
	if eg == nil {
		eg = &contract.EgressConfig{}
	}
	if eg.Timeout == 0 {
		eg.Timeout = dispatcherDefaultTimeoutMs
	}
	return eg, nil
}

func ms(d time.Duration) string {
	if d%time.Millisecond != 0 {
		return d.String()
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func setDelivery(f fields, kind, ns, name string, retry uint32, policy string, backoffMs, timeoutMs string) {
	f.set(kind, ns, name, "delivery.retry", fmt.Sprint(retry))
	if retry > 0 { // with no retry the backoff is never used
		f.set(kind, ns, name, "delivery.backoffPolicy", policy)
		f.set(kind, ns, name, "delivery.backoffDelay", backoffMs)
	}
	f.set(kind, ns, name, "delivery.timeout", timeoutMs)
}

func dest(ns, apiVersion, kind, refNS, name, uri string, hasRef bool) string {
	var parts []string
	if hasRef {
		if refNS == "" { // resolved in the referring object's namespace
			refNS = ns
		}
		parts = append(parts, fmt.Sprintf("ref %s %s %s/%s", apiVersion, kind, refNS, name))
	}
	if uri != "" {
		parts = append(parts, "uri "+uri)
	}
	return strings.Join(parts, " + ")
}

func clusterDest(ns string, d duckv1.Destination) string {
	uri := ""
	if d.URI != nil {
		uri = d.URI.String()
	}
	if d.Ref == nil {
		return dest(ns, "", "", "", "", uri, false)
	}
	return dest(ns, d.Ref.APIVersion, d.Ref.Kind, d.Ref.Namespace, d.Ref.Name, uri, true)
}

func planeDest(ns string, d manifests.Destination) string {
	if d.Ref == nil {
		return dest(ns, "", "", "", "", d.URI, false)
	}
	return dest(ns, d.Ref.APIVersion, d.Ref.Kind, d.Ref.Namespace, d.Ref.Name, d.URI, true)
}

func setMap(f fields, kind, ns, name, field string, m map[string]string) {
	for k, v := range m {
		f.set(kind, ns, name, field+"["+k+"]", v)
	}
}

// generatedGroup stands for a consumer group left out: a cluster generates
// knative-kafka-source-<uuid> once per object, the plane a stable
// knative-kafka-source-<namespace>-<name>. Either keeps its offsets for the
// object's life, which is what matters.
const generatedGroup = "(generated)"

// clusterFields reads rendered objects as a cluster does. withFile adds
// the file that declared each object.
func clusterFields(t testing.TB, objs []manifests.Object, withFile bool) fields {
	t.Helper()
	def, _ := WebhookContexts()
	f := fields{}
	for _, o := range objs {
		kind, ns, name := o.Kind, o.Namespace, o.Name
		f.set(kind, ns, name, "apiVersion", o.APIVersion)
		if withFile {
			f.set(kind, ns, name, "file", o.File)
		}
		decode := func(into any) {
			t.Helper()
			if probs := DecodeStrict(o.JSON, into); len(probs) > 0 {
				t.Fatalf("%s: %v", o.Where(), probs)
			}
		}
		switch kind {
		case "KafkaTopic":
			var tp manifests.StrimziTopic
			decode(&tp)
			f.set(kind, ns, name, "topicName", tp.TopicName())
			size := func(p *int32) string {
				if p == nil {
					return "(broker default)"
				}
				return fmt.Sprint(*p)
			}
			f.set(kind, ns, name, "partitions", size(tp.Spec.Partitions))
			f.set(kind, ns, name, "replicas", size(tp.Spec.Replicas))
			for k := range tp.Spec.Config {
				v, _, err := tp.ConfigString(k)
				if err != nil {
					v = "error: " + err.Error()
				}
				f.set(kind, ns, name, "config["+k+"]", v)
			}
		case "KafkaSink":
			var s kafkasinkv1alpha1.KafkaSink
			decode(&s)
			s.SetDefaults(def)
			f.set(kind, ns, name, "topic", s.Spec.Topic)
			f.set(kind, ns, name, "contentMode", *s.Spec.ContentMode)
			f.set(kind, ns, name, "bootstrapServers", strings.Join(s.Spec.BootstrapServers, ","))
		case "KafkaSource":
			// Admitted as a cluster admits it: v1 is served too, and
			// stored (and read by the controllers) as v1beta1, converted
			// as the conversion webhook does.
			a, _ := Admit(o)
			if len(a.Problems) > 0 {
				t.Fatalf("%s: %v", o.Where(), a.Problems)
			}
			ks := a.Typed.(*kafkasourcesv1beta1.KafkaSource)
			var given struct {
				Spec struct {
					ConsumerGroup string `json:"consumerGroup"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(o.JSON, &given); err != nil {
				t.Fatalf("%s: %v", o.Where(), err)
			}
			group := ks.Spec.ConsumerGroup
			if given.Spec.ConsumerGroup == "" {
				group = generatedGroup
			}
			f.set(kind, ns, name, "topics", strings.Join(ks.Spec.Topics, ","))
			f.set(kind, ns, name, "consumerGroup", group)
			f.set(kind, ns, name, "initialOffset", string(ks.Spec.InitialOffset))
			f.set(kind, ns, name, "ordering", string(*ks.Spec.Ordering))
			f.set(kind, ns, name, "consumers", fmt.Sprint(*ks.Spec.Consumers))
			f.set(kind, ns, name, "bootstrapServers", strings.Join(ks.Spec.BootstrapServers, ","))
			f.set(kind, ns, name, "sink", clusterDest(ns, ks.Spec.Sink))
			if ks.Spec.CloudEventOverrides != nil {
				setMap(f, kind, ns, name, "ceOverrides", ks.Spec.CloudEventOverrides.Extensions)
			}
			eg, err := clusterDelivery(ks)
			if err != nil {
				f.set(kind, ns, name, "delivery", "refused: "+err.Error())
				continue
			}
			setDelivery(f, kind, ns, name, eg.Retry, strings.ToLower(eg.BackoffPolicy.String()),
				fmt.Sprintf("%d ms", eg.BackoffDelay), fmt.Sprintf("%d ms", eg.Timeout))
			if d := ks.Spec.Delivery; d != nil && d.DeadLetterSink != nil {
				f.set(kind, ns, name, "delivery.deadLetterSink", clusterDest(ns, *d.DeadLetterSink))
			}
		case "SinkBinding":
			var b sourcesv1.SinkBinding
			decode(&b)
			b.SetDefaults(def)
			sub := b.Spec.Subject
			f.set(kind, ns, name, "subject", fmt.Sprintf("%s %s %s/%s", sub.APIVersion, sub.Kind, sub.Namespace, sub.Name))
			f.set(kind, ns, name, "sink", clusterDest(ns, b.Spec.Sink))
		case "PingSource":
			var p sourcesv1.PingSource
			decode(&p)
			p.SetDefaults(def)
			f.set(kind, ns, name, "schedule", p.Spec.Schedule)
			f.set(kind, ns, name, "timezone", p.Spec.Timezone)
			f.set(kind, ns, name, "contentType", p.Spec.ContentType)
			data := []byte(p.Spec.Data)
			if p.Spec.DataBase64 != "" {
				var err error
				if data, err = base64.StdEncoding.DecodeString(p.Spec.DataBase64); err != nil {
					t.Fatalf("%s: %v", o.Where(), err)
				}
			}
			f.set(kind, ns, name, "data", fmt.Sprintf("%q", data))
			f.set(kind, ns, name, "sink", clusterDest(ns, p.Spec.Sink))
			if p.Spec.CloudEventOverrides != nil {
				setMap(f, kind, ns, name, "ceOverrides", p.Spec.CloudEventOverrides.Extensions)
			}
		}
	}
	return f
}

// planeFields reads a Set as the plane uses it. root, when not empty, is
// what Origin.File is made relative to for the file of each object.
func planeFields(set *manifests.Set, root string) fields {
	f := fields{}
	for _, o := range set.Objects {
		f.set(o.Kind, o.Namespace, o.Name, "apiVersion", o.APIVersion)
		if root != "" {
			rel, err := filepath.Rel(root, o.File)
			if err != nil {
				rel = o.File
			}
			f.set(o.Kind, o.Namespace, o.Name, "file", filepath.ToSlash(rel))
		}
	}
	size := func(n int64) string {
		if n == -1 {
			return "(broker default)"
		}
		return fmt.Sprint(n)
	}
	for _, t := range set.Topics {
		k := manifests.KindKafkaTopic
		f.set(k, t.Namespace, t.Name, "topicName", t.TopicName)
		f.set(k, t.Namespace, t.Name, "partitions", size(int64(t.Partitions)))
		f.set(k, t.Namespace, t.Name, "replicas", size(int64(t.Replicas)))
		setMap(f, k, t.Namespace, t.Name, "config", t.Config)
	}
	for _, s := range set.Sinks {
		k := manifests.KindKafkaSink
		f.set(k, s.Namespace, s.Name, "topic", s.Topic)
		f.set(k, s.Namespace, s.Name, "contentMode", s.ContentMode)
		f.set(k, s.Namespace, s.Name, "bootstrapServers", strings.Join(s.BootstrapServers, ","))
	}
	for _, s := range set.Sources {
		k, ns, name := manifests.KindKafkaSource, s.Namespace, s.Name
		group := s.ConsumerGroup
		if group == "knative-kafka-source-"+ns+"-"+name {
			group = generatedGroup
		}
		f.set(k, ns, name, "topics", strings.Join(s.Topics, ","))
		f.set(k, ns, name, "consumerGroup", group)
		f.set(k, ns, name, "initialOffset", s.InitialOffset)
		f.set(k, ns, name, "ordering", s.Ordering)
		f.set(k, ns, name, "consumers", fmt.Sprint(s.Consumers))
		f.set(k, ns, name, "bootstrapServers", strings.Join(s.BootstrapServers, ","))
		f.set(k, ns, name, "sink", planeDest(ns, s.Sink))
		setMap(f, k, ns, name, "ceOverrides", s.CEOverrides)
		d := s.Delivery
		setDelivery(f, k, ns, name, uint32(d.Retry), d.BackoffPolicy, ms(d.BackoffDelay), ms(d.Timeout))
		if d.DeadLetterSink != nil {
			f.set(k, ns, name, "delivery.deadLetterSink", planeDest(ns, *d.DeadLetterSink))
		}
	}
	for _, b := range set.Bindings {
		k := manifests.KindSinkBinding
		sub := b.Subject
		f.set(k, b.Namespace, b.Name, "subject", fmt.Sprintf("%s %s %s/%s", sub.APIVersion, sub.Kind, sub.Namespace, sub.Name))
		f.set(k, b.Namespace, b.Name, "sink", planeDest(b.Namespace, b.Sink))
	}
	for _, p := range set.Pings {
		k := manifests.KindPingSource
		f.set(k, p.Namespace, p.Name, "schedule", p.Schedule)
		f.set(k, p.Namespace, p.Name, "timezone", p.Timezone)
		f.set(k, p.Namespace, p.Name, "contentType", p.ContentType)
		f.set(k, p.Namespace, p.Name, "data", fmt.Sprintf("%q", p.Data))
		f.set(k, p.Namespace, p.Name, "sink", planeDest(p.Namespace, p.Sink))
		setMap(f, k, p.Namespace, p.Name, "ceOverrides", p.CEOverrides)
	}
	return f
}

// functionNames are the Services the plane resolves references against.
func functionNames(t testing.TB) []string {
	t.Helper()
	fns, err := LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range fns {
		names = append(names, fn.Name)
	}
	return names
}

// planeLoad is what plane.Up does with a manifests directory.
func planeLoad(t testing.TB, dir string) (*manifests.Set, error) {
	t.Helper()
	set, err := manifests.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := manifests.Resolve(set, manifests.WithServices(functionNames(t)...)); err != nil {
		return nil, err
	}
	return set, nil
}

func renderAt(t testing.TB, at, dir string) []manifests.Object {
	t.Helper()
	objs, err := manifests.Render(at, dir, manifests.RenderOptions{Files: prodSecrets(t)})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// agreement compares the plane with a cluster on dir, the cluster rendering
// the tree at clusterRoot and the plane reading the tree at planeRoot (the
// same tree, except where a test changes one side), as `orderflow up
// --manifests dir` reads it. The production overlay's secrets are never
// committed: the plane reads a copy of the tree holding the stand-ins the
// cluster side renders with.
func agreement(t testing.TB, clusterRoot, planeRoot, dir string) []string {
	t.Helper()
	cluster := clusterFields(t, renderAt(t, clusterRoot, dir), dir == "knative/base")
	if dir == "knative/overlays/prod" {
		planeRoot = withProdSecrets(t, planeRoot)
	}
	set, err := planeLoad(t, filepath.Join(planeRoot, dir))
	if err != nil {
		t.Fatalf("plane: %s: %v", dir, err)
	}
	fileRoot := ""
	if dir == "knative/base" {
		fileRoot = planeRoot
	}
	return diff(planeFields(set, fileRoot), cluster)
}

// withProdSecrets is a copy of at's knative/ with the production
// secrets' stand-ins (prodSecrets) in place.
func withProdSecrets(t testing.TB, at string) string {
	t.Helper()
	to := copyTreeFrom(t, at, nil)
	for rel, data := range prodSecrets(t) {
		if err := os.WriteFile(filepath.Join(to, rel), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// The plane reads from base, and from every object of each overlay, exactly
// what a cluster gets.
func TestPlaneReadsWhatAClusterGets(t *testing.T) {
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if d := agreement(t, root, root, dir); len(d) > 0 {
				t.Errorf("the plane and a cluster read %s differently:\n  %s", dir, strings.Join(d, "\n  "))
			}
			f := clusterFields(t, renderAt(t, root, dir), false)
			if len(f) < 200 { // a comparison of nothing would pass too
				t.Errorf("only %d fields compared", len(f))
			}
		})
	}
}

// loadErrors lists the messages of a Load error, the root made relative.
func loadErrors(err error, at string) []string {
	var out []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			out = append(out, loadErrors(e, at)...)
		}
		return out
	}
	if err != nil {
		out = append(out, strings.TrimPrefix(err.Error(), filepath.Clean(at)+string(filepath.Separator)))
	}
	return out
}

// The plane runs an overlay as kustomize renders it: dev's patches
// applied, each patched object naming the overlay; prod without its
// secrets (never committed) refused, naming the file kustomize missed.
func TestPlaneRunsOverlays(t *testing.T) {
	set, err := manifests.Load(filepath.Join(root, "knative/overlays/dev"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range set.Topics {
		rel := func(p string) string { r, _ := filepath.Rel(root, p); return filepath.ToSlash(r) }
		if tp.Partitions != 1 || !strings.HasPrefix(rel(tp.File), "knative/base/") || len(tp.PatchedBy) != 1 || rel(tp.PatchedBy[0]) != "knative/overlays/dev/kustomization.yaml" {
			t.Errorf("dev topic %s: %d partitions, from %s patched by %v; want 1, from base patched by dev", tp.Name, tp.Partitions, tp.File, tp.PatchedBy)
		}
	}
	_, err = manifests.Load(filepath.Join(root, "knative/overlays/prod"))
	if got := loadErrors(err, root); len(got) != 1 || !strings.Contains(got[0], "knative/overlays/prod: kustomize build: ") ||
		!strings.Contains(got[0], "secrets/orderflow-db.env") {
		t.Errorf("prod without its secrets: %v", got)
	}
}

// overlayChanges lists, as "Kind: field", what a cluster gets from overlay
// that differs from what the plane runs (base).
func overlayChanges(t testing.TB, at, overlay string) []string {
	t.Helper()
	strip := func(f fields) fields {
		out := fields{}
		for k, v := range f {
			if strings.HasPrefix(k, "Secret ") {
				continue // Secrets: identity only, and prod's differ on purpose
			}
			out[k] = v
		}
		return out
	}
	base := strip(clusterFields(t, renderAt(t, at, "knative/base"), false))
	over := strip(clusterFields(t, renderAt(t, at, overlay), false))
	seen := map[string]bool{}
	for _, line := range diff(base, over) {
		// "Kind ns/name: field: plane …" -> "Kind: field"
		kind, rest, _ := strings.Cut(line, " ")
		_, rest, _ = strings.Cut(rest, ": ")
		field, _, _ := strings.Cut(rest, ": plane ")
		seen[kind+": "+field] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// What a cluster runs and what the plane runs differ by exactly what each
// overlay says it changes: sizes, and in prod the retry schedule, Kafka
// security, the alerting rules (a PrometheusRule, which the plane keeps
// among its objects and does not run) and rarer ticks for the functions
// that scale to zero (docs/scaling.md). An overlay that starts changing anything else fails here.
var wantOverlayChanges = map[string][]string{
	"knative/overlays/dev": {
		"KafkaTopic: config[min.insync.replicas]", "KafkaTopic: partitions",
	},
	"knative/overlays/prod": {
		"KafkaSink: bootstrapServers",
		"KafkaSource: bootstrapServers", "KafkaSource: consumers", "KafkaSource: delivery.backoffDelay", "KafkaSource: delivery.retry",
		"KafkaTopic: config[min.insync.replicas]", "KafkaTopic: partitions", "KafkaTopic: replicas",
		"PingSource: schedule", "PrometheusRule: apiVersion",
	},
}

func TestOverlaysChangeOnlyWhatTheySay(t *testing.T) {
	for overlay, want := range wantOverlayChanges {
		if got := overlayChanges(t, root, overlay); !slices.Equal(got, want) {
			t.Errorf("%s changes\n  %s\nwant\n  %s", overlay, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// copyTree copies root's knative/ into a temporary root, with edits
// (repository-relative file -> old, new) applied.
func copyTree(t testing.TB, edits map[string][2]string) string {
	t.Helper()
	return copyTreeFrom(t, root, edits)
}

func copyTreeFrom(t testing.TB, from string, edits map[string][2]string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(filepath.Join(from, "knative"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if e, ok := edits[filepath.ToSlash(rel)]; ok {
			if !strings.Contains(string(data), e[0]) {
				return fmt.Errorf("%s does not contain %q", rel, e[0])
			}
			data = []byte(strings.Replace(string(data), e[0], e[1], 1))
			delete(edits, filepath.ToSlash(rel))
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) > 0 {
		t.Fatalf("files not found: %v", edits)
	}
	return to
}

// The comparison is sensitive: one value changed on one side only is found,
// and named by object and field.
func TestAgreementFindsAOneSidedChange(t *testing.T) {
	cases := []struct {
		name, dir, file, old, new string
		cluster                   bool // change what the cluster renders, not what the plane reads
		want                      string
	}{
		{"backoff delay", "knative/base", "knative/base/order.yaml", "backoffDelay: PT0.2S", "backoffDelay: PT0.5S", false,
			"KafkaSource orderflow/order: delivery.backoffDelay: plane 500 ms, cluster 200 ms"},
		{"timeout", "knative/base", "knative/base/payment.yaml", "timeout: PT10S", "timeout: PT1M", false,
			"KafkaSource orderflow/payment: delivery.timeout: plane 60000 ms, cluster 10000 ms"},
		{"retry", "knative/base", "knative/base/notify.yaml", "retry: 5", "retry: 6", true,
			"KafkaSource orderflow/notify: delivery.retry: plane 5, cluster 6"},
		{"consumer group", "knative/base", "knative/base/inventory.yaml", "consumerGroup: orderflow-inventory", "consumerGroup: inventory", false,
			"KafkaSource orderflow/inventory: consumerGroup: plane inventory, cluster orderflow-inventory"},
		{"partitions", "knative/base", "knative/base/topics.yaml", "partitions: 6", "partitions: 7", false,
			"KafkaTopic orderflow/orderflow.commands: partitions: plane 7, cluster 6"},
		{"topic config", "knative/base", "knative/base/topics.yaml", "cleanup.policy: delete", "cleanup.policy: compact", true,
			"KafkaTopic orderflow/orderflow.commands: config[cleanup.policy]: plane delete, cluster compact"},
		{"content mode", "knative/base", "knative/base/sinks.yaml", "contentMode: binary", "contentMode: structured", false,
			"KafkaSink orderflow/commands: contentMode: plane structured, cluster binary"},
		{"ping data", "knative/base", "knative/base/pingsources.yaml", `data: '{"task":"stalled-sagas"}'`, `data: '{"task":"x"}'`, false,
			`PingSource orderflow/analytics-stalled-sagas: data: plane "{\"task\":\"x\"}", cluster "{\"task\":\"stalled-sagas\"}"`},
		{"binding sink", "knative/base", "knative/base/order.yaml", "      kind: KafkaSink\n      name: orders", "      kind: KafkaSink\n      name: commands", true,
			"SinkBinding orderflow/order: sink: plane ref eventing.knative.dev/v1alpha1 KafkaSink orderflow/orders, cluster ref eventing.knative.dev/v1alpha1 KafkaSink orderflow/commands"},
		{"a patch in an overlay", "knative/overlays/prod", "knative/overlays/prod/kustomization.yaml", "retry: 8", "retry: 9", true,
			"KafkaSource orderflow/order: delivery.retry: plane 8, cluster 9"},
		{"namespace", "knative/base", "knative/base/kustomization.yaml", "namespace: orderflow", "namespace: shop", true,
			"KafkaSink orderflow/commands: apiVersion: plane eventing.knative.dev/v1alpha1, cluster (absent)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			changed := copyTree(t, map[string][2]string{c.file: {c.old, c.new}})
			clusterRoot, planeRoot := root, changed
			if c.cluster {
				clusterRoot, planeRoot = changed, copyTree(t, nil)
			}
			d := agreement(t, clusterRoot, planeRoot, c.dir)
			if !slices.Contains(d, c.want) {
				t.Errorf("want the difference\n  %s\ngot\n  %s", c.want, strings.Join(d, "\n  "))
			}
		})
	}
}

// An overlay that patches something new shows up as a change the plane
// does not run.
func TestOverlayChangesFindANewPatch(t *testing.T) {
	patch := "  - target:\n      group: sources.knative.dev\n      kind: KafkaSource\n    patch: |-\n      - op: replace\n        path: /spec/delivery/timeout\n        value: PT30S\n"
	at := copyTree(t, map[string][2]string{"knative/overlays/dev/kustomization.yaml": {"patches:\n", "patches:\n" + patch}})
	got := overlayChanges(t, at, "knative/overlays/dev")
	if !slices.Contains(got, "KafkaSource: delivery.timeout") {
		t.Errorf("a timeout patch in dev not found; changes: %v", got)
	}
}

// admission runs the per-object checks a cluster's webhooks make (strict
// decoding, SetDefaults, Validate, a KafkaSource's delivery as its
// ConsumerGroup is validated), without this package's own cross-checks.
func admission(objs []manifests.Object) []Problem {
	c := &checker{fns: map[string]Function{}, topics: map[string]*topicDecl{}, sinks: map[string]*sinkDecl{},
		secrets: map[string]*corev1.Secret{}, configs: map[string]*corev1.ConfigMap{}, objs: map[string]manifests.Object{}}
	for _, o := range objs {
		c.object(o)
	}
	return c.probs
}

// Both readers read the same edited file alike: where the cluster takes a
// value, the plane takes the same one; where the cluster refuses it (its
// webhooks, or its control plane so the source never becomes ready), the
// plane refuses it too, naming the field.
func TestPlaneAndClusterReadEditsAlike(t *testing.T) {
	cases := []struct {
		name, file, old, new string
		field                string // the field the edit is about
		refused              bool
	}{
		{"backoff delay with two decimals (Knative keeps one)", "knative/base/order.yaml", "backoffDelay: PT0.2S", "backoffDelay: PT0.25S", "spec.delivery.backoffDelay", false},
		{"backoff delay below a tenth of a second", "knative/base/order.yaml", "backoffDelay: PT0.2S", "backoffDelay: PT0.05S", "spec.delivery.backoffDelay", false},
		{"backoff delay with a decimal comma", "knative/base/order.yaml", "backoffDelay: PT0.2S", "backoffDelay: PT0,5S", "spec.delivery.backoffDelay", false},
		{"timeout in fractional minutes", "knative/base/payment.yaml", "timeout: PT10S", "timeout: PT1.5M", "spec.delivery.timeout", false},
		{"negative timeout (Knative takes its absolute value)", "knative/base/payment.yaml", "timeout: PT10S", "timeout: -PT10S", "spec.delivery.timeout", false},
		{"timeout in months", "knative/base/payment.yaml", "timeout: PT10S", "timeout: P1M", "spec.delivery.timeout", false},
		{"timeout with units out of order", "knative/base/payment.yaml", "timeout: PT10S", "timeout: PT1S1M", "spec.delivery.timeout", false},
		{"timeout of 3600 seconds (the control plane cannot hold it unnormalised)", "knative/base/payment.yaml", "timeout: PT10S", "timeout: PT3600S", "spec.delivery.timeout", true},
		{"zero timeout", "knative/base/payment.yaml", "timeout: PT10S", "timeout: PT0S", "spec.delivery.timeout", true},
		{"lower-case duration", "knative/base/payment.yaml", "timeout: PT10S", "timeout: pt10s", "spec.delivery.timeout", true},
		{"number without a unit", "knative/base/notify.yaml", "backoffDelay: PT0.2S", "backoffDelay: PT5", "spec.delivery.backoffDelay", true},
		{"backoff delay left out", "knative/base/notify.yaml", "    backoffDelay: PT0.2S\n", "", "spec.delivery.backoffDelay", false},
		{"retry left out", "knative/base/notify.yaml", "    retry: 5\n", "", "spec.delivery.retry", false},
		{"timeout left out", "knative/base/notify.yaml", "    timeout: PT10S\n", "", "spec.delivery.timeout", false},
		{"delivery left out", "knative/base/inventory.yaml",
			"  delivery:\n    retry: 5\n    backoffPolicy: exponential\n    backoffDelay: PT0.2S\n    timeout: PT10S\n    deadLetterSink:\n      ref:\n        apiVersion: eventing.knative.dev/v1alpha1\n        kind: KafkaSink\n        name: dlq-inventory\n",
			"", "spec.delivery", false},
		{"schedule left out", "knative/base/pingsources.yaml", "  schedule: \"* * * * *\"\n  contentType: application/json\n  data: '{\"task\":\"stalled-sagas\"}'",
			"  contentType: application/json\n  data: '{\"task\":\"stalled-sagas\"}'", "spec.schedule", false},
		// The plane's own structs and checks (knlocal/manifests wire.go,
		// admit.go) against Knative's types, kind by kind.
		{"KafkaSource served as v1", "knative/base/order.yaml", "apiVersion: sources.knative.dev/v1beta1", "apiVersion: sources.knative.dev/v1", "apiVersion", false},
		{"a field name in the wrong case", "knative/base/order.yaml", "  topics:\n    - orderflow.commands", "  Topics:\n    - orderflow.commands", "spec.Topics", true},
		{"an unknown field in metadata", "knative/base/order.yaml", "metadata:\n  name: order\n", "metadata:\n  name: order\n  lables: {app: order}\n", "metadata.lables", true},
		{"metadata a cluster writes itself", "knative/base/order.yaml", "metadata:\n  name: order\n", "metadata:\n  name: order\n  labels: {app: order}\n  annotations: {a: b}\n  finalizers: [x]\n  creationTimestamp: null\n", "metadata", false},
		{"Kafka security from Secrets", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n",
			"  net:\n    sasl:\n      enable: true\n      user:\n        secretKeyRef: {name: kafka-auth, key: user}\n      type:\n        secretKeyRef: {name: kafka-auth, key: mechanism, optional: true}\n    tls:\n      enable: true\n  consumerGroup: orderflow-order\n", "spec.net", false},
		{"an unknown field in Kafka security", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  net:\n    sasl:\n      enabel: true\n  consumerGroup: orderflow-order\n", "spec.net.sasl.enabel", true},
		{"an unknown ordering", "knative/base/order.yaml", "ordering: ordered", "ordering: random", "spec.ordering", true},
		{"unordered", "knative/base/order.yaml", "ordering: ordered", "ordering: unordered", "spec.ordering", false},
		{"an initial offset in capitals", "knative/base/order.yaml", "initialOffset: earliest", "initialOffset: Earliest", "spec.initialOffset", true},
		{"initial offset left out", "knative/base/order.yaml", "  initialOffset: earliest\n", "", "spec.initialOffset", false},
		{"no consumers", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  consumerGroup: orderflow-order\n  consumers: 0\n", "spec.consumers", false},
		{"three consumers", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  consumerGroup: orderflow-order\n  consumers: 3\n", "spec.consumers", false},
		{"consumers as a string", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  consumerGroup: orderflow-order\n  consumers: \"3\"\n", "spec.consumers", true},
		{"consumers beyond int32", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  consumerGroup: orderflow-order\n  consumers: 3000000000\n", "spec.consumers", true},
		{"consumers as a fraction", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "  consumerGroup: orderflow-order\n  consumers: 1.5\n", "spec.consumers", true},
		{"v1 with three consumers (converted to v1beta1 as stored)", "knative/base/order.yaml", "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n", "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n  consumers: 3\n", "spec.consumers", false},
		{"v1 with SASL's roleARN (v1 only; the conversion drops it)", "knative/base/order.yaml", "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n", "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n  net:\n    sasl:\n      enable: true\n      roleARN:\n        secretKeyRef: {name: kafka-auth, key: role}\n", "spec.net", false},
		{"SASL's roleARN in v1beta1", "knative/base/order.yaml", "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n", "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n  net:\n    sasl:\n      enable: true\n      roleARN:\n        secretKeyRef: {name: kafka-auth, key: role}\n", "spec.net.sasl.roleARN", true},
		{"v1 with an unknown field", "knative/base/order.yaml", "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n", "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata:\n  name: order\nspec:\n  consumerz: 3\n", "spec.consumerz", true},
		{"consumer group left out", "knative/base/order.yaml", "  consumerGroup: orderflow-order\n", "", "spec.consumerGroup", false},
		{"no topics", "knative/base/order.yaml", "  topics:\n    - orderflow.commands\n    - orderflow.inventory\n    - orderflow.payments\n", "  topics: []\n", "spec.topics", true},
		{"a negative retry", "knative/base/notify.yaml", "retry: 5", "retry: -1", "spec.delivery.retry", true},
		{"retry as a string", "knative/base/notify.yaml", "retry: 5", "retry: \"5\"", "spec.delivery.retry", true},
		{"an unknown backoff policy", "knative/base/notify.yaml", "backoffPolicy: exponential", "backoffPolicy: fibonacci", "spec.delivery.backoffPolicy", true},
		{"a linear backoff", "knative/base/notify.yaml", "backoffPolicy: exponential", "backoffPolicy: linear", "spec.delivery.backoffPolicy", false},
		{"retryAfterMax (a feature eventing ships off)", "knative/base/notify.yaml", "    retry: 5\n", "    retry: 5\n    retryAfterMax: PT1M\n", "spec.delivery.retryAfterMax", true},
		{"an unknown delivery format", "knative/base/notify.yaml", "    retry: 5\n", "    retry: 5\n    format: xml\n", "spec.delivery.format", true},
		{"delivery format json", "knative/base/notify.yaml", "    retry: 5\n", "    retry: 5\n    format: json\n", "spec.delivery.format", false},
		{"a reference by group (a feature eventing ships off)", "knative/base/order.yaml", "        kind: KafkaSink\n        name: dlq-order\n",
			"        kind: KafkaSink\n        name: dlq-order\n        group: eventing.knative.dev\n", "spec.delivery.deadLetterSink.ref.group", true},
		{"a dead-letter sink naming nothing", "knative/base/order.yaml", "    deadLetterSink:\n      ref:\n        apiVersion: eventing.knative.dev/v1alpha1\n        kind: KafkaSink\n        name: dlq-order\n",
			"    deadLetterSink: {}\n", "spec.delivery.deadLetterSink", true},
		{"a sink reference without its apiVersion", "knative/base/order.yaml", "    ref:\n      apiVersion: serving.knative.dev/v1\n", "    ref:\n", "spec.sink.ref.apiVersion", true},
		{"a sink reference with an absolute URI", "knative/base/order.yaml", "  sink:\n    ref:\n", "  sink:\n    uri: http://elsewhere.example/\n    ref:\n", "spec.sink", true},
		{"a sink reference with a relative URI", "knative/base/order.yaml", "  sink:\n    ref:\n", "  sink:\n    uri: /events\n    ref:\n", "spec.sink", false},
		{"a sink reference in its own namespace", "knative/base/order.yaml", "      kind: Service\n      name: order\n", "      kind: Service\n      name: order\n      namespace: orderflow\n", "spec.sink.ref.namespace", false},
		{"a CloudEvent override", "knative/base/order.yaml", "  ordering: ordered\n", "  ordering: ordered\n  ceOverrides:\n    extensions:\n      origin: tap\n", "spec.ceOverrides", false},
		{"a CloudEvent override that is no extension name", "knative/base/order.yaml", "  ordering: ordered\n", "  ordering: ordered\n  ceOverrides:\n    extensions:\n      bad-key: x\n", "spec.ceOverrides.extensions", true},
		{"an unknown content mode", "knative/base/sinks.yaml", "contentMode: binary", "contentMode: json", "spec.contentMode", true},
		{"content mode left out", "knative/base/sinks.yaml", "  contentMode: binary\n", "", "spec.contentMode", false},
		{"a sink without bootstrap servers", "knative/base/sinks.yaml", "  topic: orderflow.commands\n  bootstrapServers:\n    - orderflow-kafka-bootstrap.orderflow.svc:9092\n", "  topic: orderflow.commands\n", "spec.bootstrapServers", true},
		{"a sink of no partitions", "knative/base/sinks.yaml", "  topic: orderflow.commands\n", "  topic: orderflow.commands\n  numPartitions: 0\n", "spec.numPartitions", true},
		{"a replication factor beyond int16", "knative/base/sinks.yaml", "  topic: orderflow.commands\n", "  topic: orderflow.commands\n  replicationFactor: 40000\n", "spec.replicationFactor", true},
		{"sink auth naming no Secret", "knative/base/sinks.yaml", "  topic: orderflow.commands\n", "  topic: orderflow.commands\n  auth:\n    secret:\n      ref:\n        name: \"\"\n", "spec.auth.secret.ref.name", true},
		{"a binding's subject in another namespace", "knative/base/order.yaml", "    kind: Service\n    name: order\n", "    kind: Service\n    name: order\n    namespace: elsewhere\n", "spec.subject.namespace", true},
		{"a binding's subject by name and selector", "knative/base/order.yaml", "    kind: Service\n    name: order\n", "    kind: Service\n    name: order\n    selector:\n      matchLabels: {app: order}\n", "spec.subject", true},
		{"a binding's subject that is no DNS label", "knative/base/order.yaml", "    kind: Service\n    name: order\n", "    kind: Service\n    name: Order_1\n", "spec.subject.name", true},
		{"a binding's subject kind that is no identifier", "knative/base/order.yaml", "    kind: Service\n    name: order\n", "    kind: Ser-vice\n    name: order\n", "spec.subject.kind", true},
		{"a binding's subject apiVersion that is no qualified name", "knative/base/order.yaml", "    apiVersion: serving.knative.dev/v1\n    kind: Service\n", "    apiVersion: serving.knative.dev/v1/x\n    kind: Service\n", "spec.subject.apiVersion", true},
		{"a schedule every minute by descriptor", "knative/base/pingsources.yaml", `schedule: "* * * * *"`, `schedule: "@every 1m"`, "spec.schedule", true},
		{"a schedule of three fields", "knative/base/pingsources.yaml", `schedule: "* * * * *"`, `schedule: "* * *"`, "spec.schedule", true},
		{"an hourly schedule", "knative/base/pingsources.yaml", `schedule: "* * * * *"`, `schedule: "@hourly"`, "spec.schedule", false},
		{"a timezone", "knative/base/pingsources.yaml", "  contentType: application/json\n", "  timezone: Europe/Paris\n  contentType: application/json\n", "spec.timezone", false},
		{"an unknown timezone", "knative/base/pingsources.yaml", "  contentType: application/json\n", "  timezone: Mars/Olympus\n  contentType: application/json\n", "spec.timezone", true},
		{"JSON data that is no JSON object", "knative/base/pingsources.yaml", `data: '{"task":"outbox-sweep"}'`, `data: '{"task":'`, "spec.data", true},
		{"data as base64", "knative/base/pingsources.yaml", `data: '{"task":"outbox-sweep"}'`, `dataBase64: eyJ0YXNrIjoib3V0Ym94LXN3ZWVwIn0=`, "spec.dataBase64", false},
		{"data and data as base64", "knative/base/pingsources.yaml", `data: '{"task":"outbox-sweep"}'`, "data: '{\"task\":\"outbox-sweep\"}'\n  dataBase64: eyJ0YXNrIjoib3V0Ym94LXN3ZWVwIn0=", "spec.data", true},
		{"a ping sink by a relative URI alone", "knative/base/pingsources.yaml", "  sink:\n    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: order\n", "  sink:\n    uri: /events\n", "spec.sink.uri", true},
		{"a ping sink by URI with a CA that is no certificate", "knative/base/pingsources.yaml", "  sink:\n    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: order\n",
			"  sink:\n    uri: https://elsewhere.example/\n    CACerts: not a certificate\n", "spec.sink", true},
		{"a ping sink by URI with an audience", "knative/base/pingsources.yaml", "  sink:\n    ref:\n      apiVersion: serving.knative.dev/v1\n      kind: Service\n      name: order\n",
			"  sink:\n    uri: https://elsewhere.example/\n    audience: orders\n", "spec.sink", false},
		{"partitions as a word", "knative/base/topics.yaml", "partitions: 6", "partitions: six", "spec.partitions", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := copyTree(t, map[string][2]string{c.file: {c.old, c.new}})
			objs := renderAt(t, at, "knative/base")
			var refusals []string
			for _, p := range admission(objs) {
				if strings.HasPrefix(p.Field, c.field) {
					refusals = append(refusals, p.String())
				}
			}
			// What the webhooks refuse is never read further; what they
			// take may still be refused by the control plane.
			var cluster fields
			if len(refusals) == 0 {
				cluster = clusterFields(t, objs, true)
			}
			for k, v := range cluster {
				if strings.HasPrefix(v, "refused: ") {
					refusals = append(refusals, k+": "+v)
				}
			}
			set, err := planeLoad(t, filepath.Join(at, "knative/base"))
			switch {
			case c.refused && len(refusals) == 0:
				t.Fatalf("the cluster takes %q; the case says it refuses it", c.new)
			case !c.refused && len(refusals) > 0:
				t.Fatalf("the cluster refuses %q: %v", c.new, refusals)
			case c.refused && err == nil:
				t.Fatalf("the cluster refuses %q (%v); the plane takes it", c.new, refusals)
			case c.refused:
				if !strings.Contains(err.Error(), c.field) {
					t.Errorf("the plane refuses, but does not name %s: %v", c.field, err)
				}
				t.Logf("cluster: %s\nplane:   %v", strings.Join(refusals, "; "), strings.TrimPrefix(err.Error(), at+"/"))
			case err != nil:
				t.Fatalf("the cluster takes %q; the plane refuses it: %v", c.new, err)
			default:
				if d := diff(planeFields(set, at), cluster); len(d) > 0 {
					t.Errorf("read differently:\n  %s", strings.Join(d, "\n  "))
				}
			}
		})
	}
}

// ISO-8601 durations, as the cluster reads a delivery's backoffDelay or
// timeout (eventing's webhook, then the Kafka control plane's
// DurationMillisFromISO8601String) and as the plane does
// (manifests.ParseDuration): the same milliseconds, or refused by both.
func TestDurationsAsKnativeReadsThem(t *testing.T) {
	_, val := WebhookContexts()
	for _, s := range []string{
		"PT0.2S", "PT0.3S", "PT0.25S", "PT0.05S", "PT0,5S", "PT.5S", "PT10S", "PT600S", "PT3276.7S", "PT3276.8S", "PT3600S",
		"PT1M", "PT1.5M", "PT1H30M", "PT1H30M15.5S", "P1D", "P1DT12H", "P2W", "P1M", "P1Y", "P1Y2M3DT4H5M6.7S",
		"PT0S", "P0", "P0D", "-PT10S", "+PT10S", "PT1S1M", "PT1.5M2S", "PT0.0000000019S",
		"", "P", "PT", "10S", "300ms", "pt2s", "PT5", "PT1.S", "PTS", "PT1STT", "PT1D", "P1H", "P200000W", "PT99999999999999999999S",
	} {
		kn := "refused"
		if err := (&eventingduckv1.DeliverySpec{BackoffDelay: &s}).Validate(val); err == nil {
			if n, err := coreconfig.DurationMillisFromISO8601String(&s, 0); err == nil {
				kn = fmt.Sprintf("%d ms", n)
			}
		}
		ours := "refused"
		if d, err := manifests.ParseDuration(s); err == nil {
			ours = ms(d)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("%q: the plane's error does not quote the value: %v", s, err)
		}
		if kn != ours {
			t.Errorf("%-22q Knative %s, plane %s", s, kn, ours)
		} else {
			t.Logf("%-22q %s", s, kn)
		}
	}
}

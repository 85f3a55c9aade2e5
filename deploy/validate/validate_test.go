package validate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/shared/events"
)

const root = "../.."

// Overlays and what a cluster gets from each; base is what the local plane
// reads, rendered here too so it stays valid on its own.
var dirs = []string{"knative/base", "knative/overlays/dev", "knative/overlays/prod"}

// prodSecrets stands in for the production secret files, which are never
// committed: the committed .example files, and a throwaway CA.
func prodSecrets(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	dir := filepath.Join(root, "knative/overlays/prod/secrets")
	ex, err := filepath.Glob(filepath.Join(dir, "*.example"))
	if err != nil || len(ex) == 0 {
		t.Fatalf("no .example files in %s: %v", dir, err)
	}
	for _, f := range ex {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files["knative/overlays/prod/secrets/"+strings.TrimSuffix(filepath.Base(f), ".example")] = data
	}
	files["knative/overlays/prod/secrets/ca.crt"] = testCA(t)
	return files
}

func testCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orderflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func render(t testing.TB, dir string, override map[string]string) ([]manifests.Object, []Problem) {
	t.Helper()
	files := prodSecrets(t)
	for k, v := range override {
		files[k] = []byte(v)
	}
	objs, probs, err := Dir(root, dir, manifests.RenderOptions{Files: files})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return objs, probs
}

// treeObjects is how many objects of each kind the tree must declare,
// found from it: one KafkaSource, dead-letter KafkaSink and topic per
// function; a KafkaSink and topic per topic of the catalog; a SinkBinding
// per function that publishes.
func treeObjects(t *testing.T) (want map[string]int, fns []Function, topics, publishers map[string]bool) {
	t.Helper()
	fns, err := LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	topics, publishers = map[string]bool{}, map[string]bool{}
	for _, s := range events.All() {
		if s.Topic != "" {
			topics[s.Topic] = true
			if slices.ContainsFunc(fns, func(f Function) bool { return f.Name == s.Producer }) {
				publishers[s.Producer] = true
			}
		}
	}
	want = map[string]int{"KafkaSource": len(fns), "KafkaSink": len(topics) + len(fns), "KafkaTopic": len(topics) + len(fns), "SinkBinding": len(publishers)}
	return want, fns, topics, publishers
}

func TestRenderedOverlaysAreValid(t *testing.T) {
	want, fns, topics, publishers := treeObjects(t)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, probs := render(t, dir, nil)
			for _, p := range probs {
				t.Error(p)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
			}
			t.Logf("%s: %d objects %v", dir, len(objs), kinds)
			for kind, n := range want {
				if kinds[kind] != n {
					t.Errorf("%d %s objects, want %d (%d functions, %d topics, %d of the functions publish): %v", kinds[kind], kind, n, len(fns), len(topics), len(publishers), kinds)
				}
			}
			if kinds["PingSource"] < len(fns) || kinds["Secret"] < 1 {
				t.Errorf("unexpected object counts: %v", kinds)
			}
		})
	}
}

// spec decodes a rendered object's spec for the assertions below.
func spec(t *testing.T, objs []manifests.Object, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			var m struct {
				Spec map[string]any `json:"spec"`
			}
			if err := json.Unmarshal(o.JSON, &m); err != nil {
				t.Fatal(err)
			}
			return m.Spec
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// The overlays change what they say they change, and only that.
func TestOverlaySizing(t *testing.T) {
	dev, _ := render(t, "knative/overlays/dev", nil)
	prod, _ := render(t, "knative/overlays/prod", nil)
	for _, c := range []struct {
		objs                 []manifests.Object
		topic                string
		partitions, replicas float64
		minISR, retention    string
	}{
		{dev, "orderflow.orders", 1, 1, "1", "-1"},
		{dev, "orderflow.dlq.order", 1, 1, "1", "-1"},
		{prod, "orderflow.orders", 12, 3, "2", "-1"},
		{prod, "orderflow.payments", 12, 3, "2", "-1"},
		{prod, "orderflow.dlq.payment", 3, 3, "2", "-1"},
	} {
		s := spec(t, c.objs, "KafkaTopic", c.topic)
		cfg := s["config"].(map[string]any)
		if s["partitions"] != c.partitions || s["replicas"] != c.replicas || cfg["min.insync.replicas"] != c.minISR || cfg["retention.ms"] != c.retention {
			t.Errorf("%s: %v", c.topic, s)
		}
	}
	src := spec(t, prod, "KafkaSource", "payment")
	d := src["delivery"].(map[string]any)
	if src["consumers"] != 3.0 || d["retry"] != 8.0 || d["backoffDelay"] != "PT0.5S" || d["timeout"] != "PT10S" || d["deadLetterSink"] == nil {
		t.Errorf("prod payment source: %v", src)
	}
	if net := src["net"].(map[string]any); net["sasl"].(map[string]any)["enable"] != true || net["tls"].(map[string]any)["enable"] != true {
		t.Errorf("prod payment source net: %v", net)
	}
	if auth := spec(t, prod, "KafkaSink", "orders")["auth"]; auth == nil {
		t.Error("prod KafkaSink orders has no auth")
	}
	if _, ok := spec(t, dev, "KafkaSource", "payment")["net"]; ok {
		t.Error("dev sources should use the plain listener")
	}
}

func edit(t *testing.T, file, old, new string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	return map[string]string{file: strings.Replace(string(data), old, new, 1)}
}

// Broken manifests fail, and the message names the file and the field.
func TestBrokenManifests(t *testing.T) {
	cases := []struct {
		name string
		dirs []string // overlays rendered; all three when nil
		file string
		old  string
		new  string
		want []string // all must appear in one problem
	}{
		{"typo in a delivery field", nil, "knative/base/order.yaml",
			"backoffPolicy: exponential", "backofPolicy: exponential",
			[]string{"knative/base/order.yaml", `KafkaSource "order"`, "spec.delivery.backofPolicy", "unknown field"}},
		// prod sets backoffDelay and retry itself, so these two break
		// base and dev only.
		{"delivery duration not ISO-8601", []string{"knative/base", "knative/overlays/dev"}, "knative/base/inventory.yaml",
			"backoffDelay: PT0.2S", "backoffDelay: 200ms",
			[]string{"knative/base/inventory.yaml", `KafkaSource "inventory"`, "spec.delivery.backoffDelay", "invalid value: 200ms"}},
		{"zero delivery timeout", nil, "knative/base/notify.yaml",
			"timeout: PT10S", "timeout: PT0S",
			[]string{"knative/base/notify.yaml", "spec.delivery.timeout", "invalid value: PT0S"}},
		{"unknown backoff policy", nil, "knative/base/payment.yaml",
			"backoffPolicy: exponential", "backoffPolicy: fibonacci",
			[]string{"knative/base/payment.yaml", "spec.delivery.backoffPolicy", "invalid value: fibonacci"}},
		{"retry is not a number", []string{"knative/base", "knative/overlays/dev"}, "knative/base/analytics.yaml",
			"retry: 5", "retry: five",
			[]string{"knative/base/analytics.yaml", "spec.delivery.retry", "must be int32"}},
		{"dead-letter sink does not exist", nil, "knative/base/order.yaml",
			"name: dlq-order", "name: dlq-orders",
			[]string{"knative/base/order.yaml", `KafkaSource "order"`, "spec.delivery.deadLetterSink.ref.name", `KafkaSink "dlq-orders" does not exist`}},
		{"sink Service is not a function", nil, "knative/base/notify.yaml",
			"      kind: Service\n      name: notify\n---", "      kind: Service\n      name: notifier\n---",
			[]string{"knative/base/notify.yaml", "spec.sink.ref.name", `Service "notifier" is not a function`}},
		{"source reads an undeclared topic", nil, "knative/base/order.yaml",
			"    - orderflow.payments\n", "    - orderflow.payment\n",
			[]string{"knative/base/order.yaml", "spec.topics[2]", `topic "orderflow.payment" is not declared`}},
		{"sink writes an undeclared topic", nil, "knative/base/sinks.yaml",
			"topic: orderflow.dlq.notify", "topic: orderflow.dlq.notifications",
			[]string{"knative/base/sinks.yaml", `KafkaSink "dlq-notify"`, "spec.topic", "not declared"}},
		{"binding points a function at the wrong topic", nil, "knative/base/payment.yaml",
			"      kind: KafkaSink\n      name: payments", "      kind: KafkaSink\n      name: orders",
			[]string{"knative/base/payment.yaml", `SinkBinding "payment"`, "spec.sink", `K_SINK writes topic "orderflow.orders"`, "dev.orderflow.payment.completed.v1"}},
		{"a Secret key a function reads is missing", []string{"knative/base", "knative/overlays/dev"}, "knative/base/config.yaml",
			"  payment-gateway: ", "  payment-gw: ",
			[]string{"knative/base/config.yaml", `Secret "orderflow-db"`, "data.payment-gateway", "functions/payment/func.yaml reads it"}},
		{"replicas below Strimzi's minimum", []string{"knative/base"}, "knative/base/topics.yaml",
			"  replicas: 1", "  replicas: 0",
			[]string{"knative/base/topics.yaml", `KafkaTopic "orderflow.commands"`, "spec.replicas", "must be 1..32767"}},
		{"domain topic not kept forever", nil, "knative/base/topics.yaml",
			`retention.ms: "-1"`, `retention.ms: "604800000"`,
			[]string{"knative/base/topics.yaml", `KafkaTopic "orderflow.commands"`, "spec.config.retention.ms", "forever"}},
		{"unknown Kafka topic config", nil, "knative/base/topics.yaml",
			"cleanup.policy: delete", "cleanup.polcy: delete",
			[]string{"knative/base/topics.yaml", "spec.config.cleanup.polcy", "not a Kafka topic configuration"}},
		{"typo in a PingSource", nil, "knative/base/pingsources.yaml",
			"  contentType: application/json", "  contentTyp: application/json",
			[]string{"knative/base/pingsources.yaml", `PingSource "order-outbox-sweep"`, "spec.contentTyp", "unknown field"}},
		{"PingSource data the function refuses", nil, "knative/base/pingsources.yaml",
			`data: '{"task":"stalled-sagas"}'`, `data: '{"task":"stalled-saga"}'`,
			[]string{"knative/base/pingsources.yaml", `PingSource "analytics-stalled-sagas"`, "spec.data", "analytics refuses it"}},
		{"a function no PingSource ticks (the catalog's Tick is every function's)", nil, "knative/base/pingsources.yaml",
			"      kind: Service\n      name: inventory", "      kind: Service\n      name: order",
			[]string{"shared/events/catalog.go", events.Tick, "consumed by inventory, but no PingSource sends it to the inventory Service"}},
		{"bad PingSource schedule", nil, "knative/base/pingsources.yaml",
			`schedule: "* * * * *"`, `schedule: "every minute"`,
			[]string{"knative/base/pingsources.yaml", `PingSource "order-outbox-sweep"`, "spec.schedule"}},
		{"typo in a prod patch", []string{"knative/overlays/prod"}, "knative/overlays/prod/kustomization.yaml",
			"backoffDelay: PT0.5S", "backoffDelai: PT0.5S",
			[]string{"(patched by knative/overlays/prod/kustomization.yaml)", "spec.delivery.backoffDelai", "unknown field"}},
		{"prod Kafka credentials incomplete", []string{"knative/overlays/prod"}, "knative/overlays/prod/secrets/kafka-auth.env",
			"password=CHANGE-ME\n", "",
			[]string{`KafkaSource "order"`, "spec.net", "missing secret key", "password"}},
		{"prod CA is not PEM", []string{"knative/overlays/prod"}, "knative/overlays/prod/secrets/ca.crt",
			"", "not a certificate",
			[]string{`KafkaSink "orders"`, "spec.auth.secret", "failed to parse CA certificates"}},
		{"a kind the validator does not know", []string{"knative/base"}, "knative/base/config.yaml",
			"apiVersion: v1\nkind: Secret", "apiVersion: apps/v1\nkind: Deployment",
			[]string{"knative/base/config.yaml", `Deployment "orderflow-db"`, "not a kind this validator knows"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var override map[string]string
			if strings.HasPrefix(c.file, "knative/overlays/prod/secrets/") {
				files := prodSecrets(t)
				s := string(files[c.file])
				if c.old == "" {
					s = c.new
				} else {
					if !strings.Contains(s, c.old) {
						t.Fatalf("%s does not contain %q", c.file, c.old)
					}
					s = strings.Replace(s, c.old, c.new, 1)
				}
				override = map[string]string{c.file: s}
			} else {
				override = edit(t, c.file, c.old, c.new)
			}
			ds := c.dirs
			if ds == nil {
				ds = dirs
			}
			for _, dir := range ds {
				_, probs := render(t, dir, override)
				if len(probs) == 0 {
					t.Errorf("%s: no problem found", dir)
					continue
				}
				found := ""
				for _, p := range probs {
					s := p.String()
					ok := true
					for _, w := range c.want {
						ok = ok && strings.Contains(s, w)
					}
					if ok && found == "" {
						found = s
					}
				}
				if found == "" {
					t.Errorf("%s: no problem mentions all of %q; got:\n%s", dir, c.want, listProblems(probs))
				} else {
					t.Logf("%s: %s", dir, found)
				}
			}
		})
	}
}

func listProblems(probs []Problem) string {
	var b strings.Builder
	for _, p := range probs {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// The production overlay does not render without its secret files, and
// says which one is missing.
func TestProdNeedsItsSecretFiles(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root, "knative/overlays/prod/secrets/orderflow-db.env")); err == nil {
		t.Skip("a real orderflow-db.env is present")
	}
	_, err := manifests.Render(root, "knative/overlays/prod", manifests.RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "orderflow-db.env") {
		t.Fatalf("err = %v; want it to name secrets/orderflow-db.env", err)
	}
}

// The catalog rule: an event a function publishes is consumed by someone
// or marked terminal.
func TestCatalogUnconsumedEvent(t *testing.T) {
	fns, err := LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Render(root, "knative/overlays/dev", manifests.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extra := events.Spec{Type: "dev.orderflow.order.shipped.v1", Kind: events.KindFact, Producer: "order", Topic: events.TopicOrders}
	probs := check(objs, fns, append(events.All(), extra))
	want := "dev.orderflow.order.shipped.v1: published by order but consumed by nobody and not marked Terminal"
	if !strings.Contains(listProblems(probs), want) {
		t.Fatalf("want %q; got:\n%s", want, listProblems(probs))
	}
	extra.Terminal = true
	if probs := check(objs, fns, append(events.All(), extra)); len(probs) != 0 {
		t.Fatalf("terminal event still reported:\n%s", listProblems(probs))
	}
}

// Why WebhookContexts() puts the feature flags in: without them eventing's
// DeliverySpec.Validate refuses spec.delivery.timeout outright, which a
// cluster with the shipped config-features (delivery-timeout: enabled)
// does not.
func TestDeliveryTimeoutNeedsTheFeatureStore(t *testing.T) {
	timeout := "PT10S"
	d := &eventingduckv1.DeliverySpec{Timeout: &timeout}
	if err := d.Validate(context.Background()); err == nil || !strings.Contains(err.Error(), "must not set the field(s): timeout") {
		t.Fatalf("bare context: %v", err)
	}
	_, val := WebhookContexts()
	if err := d.Validate(val); err != nil {
		t.Fatalf("with the shipped flags: %v", err)
	}
}

// The functions' tick type is the one PingSource sends.
func TestTickIsPingSourceEventType(t *testing.T) {
	if events.Tick != sourcesv1.PingSourceEventType {
		t.Fatalf("catalog Tick %q, PingSource sends %q", events.Tick, sourcesv1.PingSourceEventType)
	}
}

package manifests

import (
	"strings"
	"testing"
)

// ReadSource reads a rendered KafkaSource exactly as Load does, and names
// what the plane could not run instead of dropping the source.
func TestReadSourceAsLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "kustomization.yaml", "resources: [s.yaml]\nnamespace: ns1\n")
	write(t, dir, "s.yaml", `{apiVersion: sources.knative.dev/v1beta1, kind: KafkaSource, metadata: {name: s},
  spec: {bootstrapServers: [k:9092], topics: [t], sink: {uri: "http://x/"}, consumers: 3,
    delivery: {retry: 3, backoffPolicy: linear, timeout: PT5S}}}
`)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := RenderDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, probs, ok := ReadSource(objs[0])
	want := set.Sources[0]
	if !ok || len(probs) > 0 || got.Delivery != want.Delivery || got.Ordering != OrderingOrdered || got.Consumers != 3 || want.Consumers != 3 {
		t.Errorf("ReadSource = %+v %v %v, Load = %+v", got, probs, ok, want)
	}

	for _, c := range []struct{ from, to, field, msg string }{
		// A timeout the webhook takes but Knative's Kafka control plane
		// cannot read.
		{`"PT5S"`, `"PT3600S"`, "spec.delivery.timeout", "PT3600S"},
		// One the webhooks refuse.
		{`"linear"`, `"fibonacci"`, "spec.delivery.backoffPolicy", "invalid value: fibonacci"},
		{`"consumers":3`, `"consumers":"3"`, "spec.consumers", "cannot be string: must be int32"},
	} {
		bad := objs[0]
		bad.JSON = []byte(strings.Replace(string(bad.JSON), c.from, c.to, 1))
		if string(bad.JSON) == string(objs[0].JSON) {
			t.Fatalf("%s is not in %s", c.from, objs[0].JSON)
		}
		_, probs, _ = ReadSource(bad)
		if len(probs) != 1 || probs[0].Field != c.field || !strings.Contains(probs[0].Msg, c.msg) {
			t.Errorf("%s: %+v", c.to, probs)
		}
	}

	if _, _, ok := ReadSource(Object{APIVersion: "v1", Kind: "Secret"}); ok {
		t.Error("a Secret read as a KafkaSource")
	}
}

package manifests

import (
	"strings"
	"testing"

	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
)

// ReadSource reads an admitted KafkaSource exactly as Load does, and names
// what the plane could not run instead of dropping the source.
func TestReadSourceAsLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "kustomization.yaml", "resources: [s.yaml]\nnamespace: ns1\n")
	write(t, dir, "s.yaml", `{apiVersion: sources.knative.dev/v1beta1, kind: KafkaSource, metadata: {name: s},
  spec: {bootstrapServers: [k:9092], topics: [t], sink: {uri: "http://x/"},
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
	a, _ := Admit(objs[0])
	got, probs := ReadSource(objs[0], a.Typed.(*kafkasourcesv1beta1.KafkaSource))
	if len(probs) > 0 || got.Delivery != set.Sources[0].Delivery || got.Ordering != OrderingOrdered || got.Consumers != 1 {
		t.Errorf("ReadSource = %+v %v, Load = %+v", got, probs, set.Sources[0])
	}

	// A timeout the webhook takes but Knative's Kafka control plane cannot
	// read.
	bad := objs[0]
	bad.JSON = []byte(strings.Replace(string(bad.JSON), `"PT5S"`, `"PT3600S"`, 1))
	a, _ = Admit(bad)
	_, probs = ReadSource(bad, a.Typed.(*kafkasourcesv1beta1.KafkaSource))
	if len(probs) != 1 || probs[0].Field != "spec.delivery.timeout" || !strings.Contains(probs[0].Msg, "PT3600S") {
		t.Errorf("PT3600S: %+v", probs)
	}
}

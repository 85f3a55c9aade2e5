package plane_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
)

// The plane runs a func project that is not orderflow's as it stands:
// testdata/greetings, two Go functions in the shape of func's cloudevents
// template (greeter, shouter) with their func.yaml, and the manifests a
// cluster would apply. Given no Command, the plane builds each function
// from its folder as func's host builder does, and runs the chain
// KafkaSource -> greeter -> KafkaSink -> KafkaSource -> shouter -> KafkaSink
// on the embedded broker, dead-lettering what greeter refuses, under the
// project's own naming.
func TestFuncProjectRunsAsItStands(t *testing.T) {
	root := filepath.Join("..", "testdata", "greetings")
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, plane.Options{
		Manifests: filepath.Join(root, "knative"), FunctionsDir: filepath.Join(root, "functions"), StateDir: state,
		Env:    map[string]string{"greeter/GREETING": "hello"}, // a Secret on a cluster
		Naming: knlocal.Naming{EnvPrefix: "GREETINGS_", MetricPrefix: "greetings"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, fn := range []string{"greeter", "shouter"} {
		if proc := p.Process(fn); proc == nil || !strings.HasPrefix(proc.Command()[0], filepath.Join(state, plane.BuildsDir, fn)) {
			t.Fatalf("%s runs %v, want the program built under %s", fn, proc, filepath.Join(state, plane.BuildsDir))
		}
	}

	producer, err := sarama.NewSyncProducer(p.Brokers, p.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, name := range []string{"Ada", "  ", "Bob"} {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "greet.names", Key: sarama.StringEncoder(name), Value: sarama.StringEncoder(name)}); err != nil {
			t.Fatal(err)
		}
	}

	// Both names come out of the far end shouted, keyed by the name.
	var shouts []string
	for _, msg := range consume(t, p, "greet.shouts", 2) {
		e, passthrough := source.ToEvent(msg, "greetings", "reader")
		if key := string(msg.Key); !passthrough || e.Type() != "greetings.shout" || (key != "Ada" && key != "Bob") {
			t.Fatalf("shout record: key %q, event %s", msg.Key, e)
		}
		shouts = append(shouts, string(e.Data()))
	}
	slices.Sort(shouts)
	if !slices.Equal(shouts, []string{"HELLO, ADA!", "HELLO, BOB!"}) {
		t.Fatalf("shouts %q", shouts)
	}

	// The blank name greeter refused (400) is a dead letter, not retried.
	letters := consume(t, p, "greet.dead-letters", 1)
	e, _ := source.ToEvent(letters[0], "greetings", "reader")
	if e.Extensions()[source.ErrorCodeExtension] != "400" || string(e.Data()) != "  " || e.Extensions()[source.ErrorDestExtension] != p.FunctionURL("greeter") {
		t.Fatalf("dead letter %s", e)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		g, s := p.SourceStats()["greeter"], p.SourceStats()["shouter"]
		if g.Received == 3 && g.Delivered == 2 && g.DeadLettered == 1 && g.Retried == 0 && s.Delivered == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source stats: greeter %+v, shouter %+v", g, s)
		}
	}
	// The plane's own metrics are under the project's prefix.
	if n, err := testutil.GatherAndCount(p.Metrics(), "greetings_dead_letters_total"); err != nil || n != 1 {
		t.Fatalf("greetings_dead_letters_total: %d series, %v", n, err)
	}
	if n, _ := testutil.GatherAndCount(p.Metrics(), "orderflow_dead_letters_total"); n != 0 {
		t.Fatalf("orderflow_dead_letters_total under another project's naming: %d series", n)
	}
}

// consume reads n records from the start of topic's partition 0.
func consume(t *testing.T, p *plane.Plane, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumerFromClient(p.Kafka())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	for len(out) < n {
		select {
		case msg := <-pc.Messages():
			out = append(out, msg)
		case <-time.After(60 * time.Second):
			t.Fatalf("%d of %d records on %s", len(out), n, topic)
		}
	}
	return out
}

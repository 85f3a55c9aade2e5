package replay

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kfake"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/eventlog"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/store/storetest"
)

// A log that holds both versions of order.created replays to the same read
// models as a log of v2 only. The committed fixture (shared/events/testdata:
// six orders' saga facts as the tree before v2 published them, and the same
// facts with each order.created as its v2 twin) is produced into Kafka three
// ways (v1 only, v2 only, and mixed: some orders' facts from each), and
// analytics' and order's read models are rebuilt from each log by replay,
// through the functions' own decoding, upcasters and folds. Every model must
// equal the one from the v2 log, order by order and field by field.
func TestLogsOfBothVersionsReplayToTheSameModels(t *testing.T) {
	v1, err := eventlog.ReadFile(committed(t, eventlog.V1))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := eventlog.ReadFile(committed(t, eventlog.V2))
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := eventlog.Mix(v1, v2, func(orderID string) bool {
		return strings.HasSuffix(orderID, "-1") || strings.HasSuffix(orderID, "-3") || strings.Contains(orderID, "declined")
	})
	if err != nil {
		t.Fatal(err)
	}
	versions := func(log []event.Event) (v1s, v2s int) {
		for _, e := range log {
			switch e.Type() {
			case events.OrderCreatedV1:
				v1s++
			case events.OrderCreated:
				v2s++
			}
		}
		return
	}
	if a, b := versions(mixed); a == 0 || b == 0 {
		t.Fatalf("the mixed log holds %d order.created.v1 and %d v2: want both", a, b)
	}

	set, err := manifests.Load(filepath.Join("..", "..", "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"analytics", "order"} {
		t.Run(name, func(t *testing.T) {
			fn, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := PlanFor(set, fn)
			if err != nil {
				t.Fatal(err)
			}
			want := rebuildFrom(t, fn, plan, v2, "v2")
			if name == "order" && dropEventStore(want) {
				t.Error("v2 log: the rebuilt event store holds an order.created.v1")
			}
			if len(want) != 6 {
				t.Fatalf("the v2 log rebuilt %d orders, want the fixture's 6: %v", len(want), want)
			}
			for label, log := range map[string][]event.Event{"v1": v1, "mixed": mixed} {
				got := rebuildFrom(t, fn, plan, log, label)
				if name == "order" {
					// order's event store keeps each fact as recorded, v1 or
					// v2 (the record is never rewritten; it is upcast when
					// loaded): it is the log's copy, not a read model. Its
					// read models, the view and the timeline, must agree.
					if !dropEventStore(got) {
						t.Errorf("%s log: the rebuilt event store holds no order.created.v1 as recorded", label)
					}
				}
				diffs, compared := Compare(want, got, nil)
				for _, d := range diffs {
					t.Errorf("%s log vs v2 log: %s", label, d)
				}
				if compared != len(want) || len(got) != len(want) {
					t.Errorf("%s log: %d orders rebuilt, %d compared; want %d", label, len(got), compared, len(want))
				}
			}
		})
	}
}

// dropEventStore drops a rebuilt order event store's rows from its
// snapshot, leaving the read models, and says whether it held an
// order.created.v1 as recorded.
func dropEventStore(snap map[string]map[string]string) (sawV1 bool) {
	for id, fields := range snap {
		for k, v := range fields {
			if !strings.HasPrefix(k, "events.") {
				continue
			}
			if strings.HasPrefix(v, events.OrderCreatedV1+" ") {
				sawV1 = true
			}
			delete(snap[id], k)
		}
	}
	return sawV1
}

// rebuildFrom produces log into a fresh embedded Kafka, each record to the
// topic the catalog gives its type, keyed by its order, as the KafkaSinks
// write them; then replays fn from it into a fresh store and returns the
// model's snapshot.
func rebuildFrom(t *testing.T, fn Function, plan Plan, log []event.Event, label string) map[string]map[string]string {
	t.Helper()
	topics := []string{events.TopicCommands, events.TopicOrders, events.TopicInventory, events.TopicPayments, events.TopicNotifications}
	cluster, err := broker.Start(broker.WithKfakeOptions(kfake.SeedTopics(3, topics...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	client, err := broker.NewClient(cluster.BootstrapServers(), "replay-mixed-"+label)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { producer.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, e := range log {
		spec, ok := events.Lookup(e.Type())
		if !ok || spec.Topic == "" {
			t.Fatalf("%s log: %s has no topic in the catalog", label, e.Type())
		}
		msg, err := sink.ProducerMessage(ctx, &e, manifests.KafkaSink{Topic: spec.Topic})
		if err != nil {
			t.Fatal(err)
		}
		msg.Key = sarama.StringEncoder(ce.String(e, ce.PartitionKey))
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
	into := storetest.Open(t, "mixed-"+label+"-"+fn.Name)
	res, err := Run(ctx, fn, Options{Client: client, Plan: plan, Into: into})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[handler.ReplayApplied] == 0 {
		t.Fatalf("%s log: replay of %s applied nothing: %v", label, fn.Name, res.Outcomes)
	}
	snap, err := fn.Snapshot(ctx, into)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func committed(t *testing.T, name string) string {
	t.Helper()
	path, err := eventlog.Committed(name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

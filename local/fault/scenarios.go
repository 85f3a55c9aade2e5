package fault

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
)

// Scenarios returns the suite, in order. Those that need a real broker run
// only when the suite has one (see Applicable).
func Scenarios() []Scenario {
	return []Scenario{
		{
			Name: "kill-restart",
			// Each function of the topology killed once, mid-run; the
			// plane's supervisor restarts it as a kubelet would.
			Inject: func(ctx context.Context, env *Env) error {
				if !sleep(ctx, 1500*time.Millisecond) {
					return nil
				}
				for _, fn := range slices.Sorted(maps.Keys(env.Plane.PIDs())) {
					if err := env.Plane.Kill(ctx, fn); err != nil {
						return fmt.Errorf("kill %s: %w", fn, err)
					}
					if !sleep(ctx, 700*time.Millisecond) {
						return nil
					}
				}
				return nil
			},
			Rate: 120,
		},
		{
			Name:      "duplicate-delivery",
			Configure: func(o *plane.Options) { o.DuplicateDelivery = true },
		},
		{
			Name: "transient-5xx",
			// A fifth of every function's deliveries answered 503 (at most
			// twice per event): retries absorb them.
			Configure: func(o *plane.Options) {
				o.TransientFaults = map[string]float64{}
				for _, fn := range fnserve.Names() {
					o.TransientFaults[fn] = 0.2
				}
			},
		},
		{
			Name:        "poison",
			Inject:      injectPoison,
			DeadLetters: expectedPoisonLetters,
			Rate:        150,
		},
		{
			// Every malformed shape of record a foreign producer could
			// write (HostileRecords), into every domain topic, twice: each
			// ends in the dead-letter topics, no partition stops.
			Name:        "hostile-records",
			Inject:      injectHostile,
			DeadLetters: expectedHostileCount,
			Rate:        150,
		},
		{
			Name:  "broker-restart",
			Needs: "kafka",
			Inject: func(ctx context.Context, env *Env) error {
				if !sleep(ctx, 2*time.Second) {
					return nil
				}
				return kafkaScript(ctx, env, "restart")
			},
			Rate: 60,
		},
		{
			Name:  "one-of-three-brokers-down",
			Needs: "cluster",
			Configure: func(o *plane.Options) {
				o.TopicReplicas, o.TopicMinInsync = 3, 2
			},
			Inject: func(ctx context.Context, env *Env) error {
				if !sleep(ctx, 2*time.Second) {
					return nil
				}
				if err := kafkaScript(ctx, env, "stop", "2"); err != nil {
					return err
				}
				if !sleep(ctx, 8*time.Second) {
					return nil
				}
				return kafkaScript(ctx, env, "start-cluster")
			},
			Rate: 60,
		},
	}
}

// Applicable filters the scenarios to what the broker allows: "kafka"
// scenarios need a real single node the script controls, "cluster" ones
// its three-broker cluster.
func Applicable(all []Scenario, broker string) (run, skipped []Scenario) {
	for _, s := range all {
		if s.Needs == "" || s.Needs == broker {
			run = append(run, s)
		} else {
			skipped = append(skipped, s)
		}
	}
	return run, skipped
}

// Select picks scenarios by name.
func Select(all []Scenario, names []string) ([]Scenario, error) {
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]Scenario{}
	var known []string
	for _, s := range all {
		byName[s.Name] = s
		known = append(known, s.Name)
	}
	var out []Scenario
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("no scenario %q (scenarios: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// poisonRounds is how often the poison set is written during a run.
const poisonRounds = 3

// poison is one bad record: what a misbehaving producer writes straight
// into a topic, past any ingress.
type poison struct {
	name    string
	ceType  string // the type the consumers see
	headers []sarama.RecordHeader
	value   string
}

// invalidOf is, per topic, a catalog type that travels on it, sent with a
// payload that breaks its schema.
var invalidOf = map[string]string{
	events.TopicCommands:      events.PlaceOrder,
	events.TopicOrders:        events.OrderCreated,
	events.TopicInventory:     events.InventoryReserved,
	events.TopicPayments:      events.PaymentCompleted,
	events.TopicNotifications: events.NotificationSent,
}

func poisonFor(topic string, round int) []poison {
	ce := func(typ, id string) []sarama.RecordHeader {
		return []sarama.RecordHeader{{Key: []byte("ce_specversion"), Value: []byte("1.0")}, {Key: []byte("ce_id"), Value: []byte(id)},
			{Key: []byte("ce_source"), Value: []byte("/poison")}, {Key: []byte("ce_type"), Value: []byte(typ)},
			{Key: []byte("content-type"), Value: []byte("application/json")}}
	}
	id := fmt.Sprintf("poison-%s-%d", topic, round)
	return []poison{
		// Not a CloudEvent: the source turns it into dev.knative.kafka.event.
		{name: "raw JSON", ceType: "dev.knative.kafka.event", value: `{"note":"not a cloudevent"}`},
		{name: "unknown type", ceType: "dev.orderflow.nope.v1", headers: ce("dev.orderflow.nope.v1", id+"-unknown"), value: `{}`},
		{name: "schema-invalid", ceType: invalidOf[topic], headers: ce(invalidOf[topic], id+"-invalid"), value: `{"orderId":"poison","lines":"many"}`},
	}
}

func injectPoison(ctx context.Context, env *Env) error {
	// Its own client: env.Kafka carries the run's follower of the orders
	// topic, and behind that follower's long-poll fetches every poison
	// write would wait (one request per connection at a time).
	kc, err := broker.NewClient(env.Plane.Brokers, "orderflow-fault-poison")
	if err != nil {
		return err
	}
	defer kc.Close()
	producer, err := sarama.NewSyncProducerFromClient(kc)
	if err != nil {
		return err
	}
	defer producer.Close()
	for round := 0; round < poisonRounds; round++ {
		if !sleep(ctx, 700*time.Millisecond) {
			return nil
		}
		for _, topic := range sortedTopics() {
			for _, p := range poisonFor(topic, round) {
				msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("poison-%d", round)),
					Value: sarama.StringEncoder(p.value), Headers: p.headers}
				if _, _, err := producer.SendMessage(msg); err != nil {
					return fmt.Errorf("%s into %s: %w", p.name, topic, err)
				}
			}
		}
	}
	return nil
}

func sortedTopics() []string {
	var out []string
	for t := range invalidOf {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// expectedPoisonLetters counts the dead letters the poison must cause: a
// record on a topic reaches every KafkaSource reading that topic, and each
// function refuses it (one dead letter) unless it ignores that type on
// purpose (200, dropped).
func expectedPoisonLetters(env *Env) int {
	want := 0
	for _, topic := range sortedTopics() {
		eachReader(env.Plane, topic, func(_ manifests.KafkaSource, app *handler.App) {
			for _, p := range poisonFor(topic, 0) {
				if !app.Ignores(p.ceType) {
					want += poisonRounds
				}
			}
		})
	}
	return want
}

// eachReader calls f for every KafkaSource that reads topic and delivers
// to one of the functions, with that function's edge (to ask what it
// handles, refuses and ignores).
func eachReader(p *plane.Plane, topic string, f func(src manifests.KafkaSource, app *handler.App)) {
	for _, src := range p.Set.Sources {
		if !slices.Contains(src.Topics, topic) || src.Sink.Ref == nil {
			continue
		}
		if app, err := fnserve.App(src.Sink.Ref.Name); err == nil {
			f(src, app)
		}
	}
}

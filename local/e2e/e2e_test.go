// Package e2e runs the real topology: a Kafka broker (embedded kfake, or
// the one named by ORDERFLOW_E2E_BROKERS), the KafkaSink ingresses and
// KafkaSource dispatchers of the local plane read from knative/base, and
// each function as its own process started from the orderflow binary, the
// way `orderflow up` does. Every test judges the run by the saga
// invariants.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/client"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/dlq"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/store/storetest"
)

var (
	binary   string // the orderflow CLI, built once
	fnBinary string // the slim binary serving one function, as `make build` puts it beside the CLI
	root     string // the checkout
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "orderflow-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "orderflow")
	fnBinary = filepath.Join(dir, "orderflow-fn")
	for out, pkg := range map[string]string{binary: "./cmd/orderflow", fnBinary: "./cmd/orderflow-fn"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = filepath.Join(root, "local")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	fmt.Println("e2e:", describeSetup())
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// brokers returns external bootstrap servers when the run is against a real
// Kafka, nil for the embedded broker.
func brokers() []string {
	if b := os.Getenv(EnvBrokers); b != "" {
		return strings.Split(b, ",")
	}
	return nil
}

// up starts the topology in a fresh state directory.
func up(t *testing.T, mutate func(*plane.Options)) *plane.Plane {
	t.Helper()
	state := t.TempDir()
	opts := plane.Options{
		Manifests:    filepath.Join(root, "knative", "base"),
		FunctionsDir: filepath.Join(root, "functions"),
		Brokers:      brokers(),
		StateDir:     state,
		Command:      func(name string) []string { return []string{fnBinary, name} },
		Progress:     testWriter{t},
		Env:          databaseEnv(t),
	}
	hook := orderflow.Wire(&opts)
	if mutate != nil {
		mutate(&opts)
	}
	if len(opts.Brokers) > 0 {
		resetKafka(t, opts) // a real Kafka outlives the tests: start from empty topics
	}
	// The plane's structured log goes to a file in the state directory; a
	// failed test prints its warnings and errors (why a group did not
	// join, why a sink write failed), which the short progress lines omit.
	logPath := filepath.Join(state, "plane.log")
	if opts.Log == nil {
		if f, err := os.Create(logPath); err == nil {
			t.Cleanup(func() { f.Close() })
			opts.Log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, opts)
	if err != nil {
		logTail(t, "plane log (warnings and errors)", logPath, 40)
		t.Fatalf("up: %v", err)
	}
	webhooks[p] = hook
	t.Cleanup(func() {
		if t.Failed() {
			logTail(t, "plane log (warnings and errors)", logPath, 40)
			for _, n := range slices.Sorted(maps.Keys(p.PIDs())) {
				if proc := p.Process(n); proc != nil {
					t.Logf("--- %s log tail:\n%s", n, proc.LogTail(15))
				}
			}
		}
		p.Close()
		delete(webhooks, p)
	})
	return p
}

// webhooks holds each running plane's customer-notification stub, for
// the tests that count what it received or make it fail.
var webhooks = map[*plane.Plane]*orderflow.Webhook{}

// databaseEnv points the functions at PostgreSQL when
// ORDERFLOW_TEST_POSTGRES_URL is set: one fresh schema per database a
// function's func.yaml reads (its own, the payment gateway's ledger), per
// test. Otherwise orderflow.Wire gives each its own SQLite file.
func databaseEnv(t *testing.T) map[string]string {
	if !storetest.OnPostgres() {
		return nil
	}
	env, err := orderflow.DatabaseEnv(filepath.Join(root, "functions"), fnserve.Names(), func(key string) (string, error) { return storetest.URL(t, key), nil })
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// kafkaClient is the plane's own client (closed with the plane).
func kafkaClient(_ *testing.T, p *plane.Plane) sarama.Client { return p.Kafka() }

func target(t *testing.T, p *plane.Plane) demo.Target {
	return demo.TargetOf(p.Endpoints(), kafkaClient(t, p), true)
}

func runDemo(t *testing.T, p *plane.Plane, orders int, seed uint64) demo.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, target(t, p), demo.Config{Orders: orders, Concurrency: 8, Seed: seed,
		RunID: fmt.Sprintf("e2e%d", seed), Timeout: 3 * time.Minute, Settle: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res.Print(&out)
	t.Log(out.String())
	return res
}

// expectSplit checks the outcome of every kind of order: those with one
// possible outcome all reached it, and the scarce ones sold at most the
// stock there was.
func expectSplit(t *testing.T, res demo.Result, orders int) {
	t.Helper()
	if !res.OK() {
		t.Fatalf("run failed:\n%s\nunexpected: %v", res.Check, res.Unexpected)
	}
	plan := demo.Plan(orders, 0, "x")
	want := map[demo.Kind]int{}
	for _, p := range plan {
		want[p.Kind]++
	}
	sole := map[demo.Kind]string{
		demo.Normal: "confirmed", demo.DeclinedToken: "cancelled:payment_declined",
		demo.DeclinedAmount: "cancelled:payment_declined", demo.UnknownSKU: "cancelled:unknown_sku",
	}
	for kind, outcome := range sole {
		if got := res.ByKind[kind][outcome]; got != want[kind] || len(res.ByKind[kind]) != 1 {
			t.Errorf("%s: %v, want all %d %s", kind, res.ByKind[kind], want[kind], outcome)
		}
	}
	scarce := res.ByKind[demo.Scarce]
	// 40 posters in stock: from 200 orders on, demand outruns them.
	bothSeen := orders < 200 || (scarce["cancelled:out_of_stock"] > 0 && scarce["confirmed"] > 0)
	if scarce["confirmed"]+scarce["cancelled:out_of_stock"] != want[demo.Scarce] || !bothSeen {
		t.Errorf("scarce: %v, want %d split between confirmed and out_of_stock", scarce, want[demo.Scarce])
	}
	if res.Check.Confirmed == 0 || res.Check.Cancelled == 0 {
		t.Errorf("outcomes %+v: both confirmed and cancelled orders expected", res.Check)
	}
}

func TestSagaEndToEnd(t *testing.T) {
	p := up(t, nil)
	const orders = 300
	res := runDemo(t, p, orders, 11)
	expectSplit(t, res, orders)

	// The read side agrees: analytics projected every outcome, and the
	// customer heard about each order exactly once (the webhook counts
	// distinct notification ids; notify is at-least-once underneath).
	c, err := client.New(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var view events.AnalyticsViewData
	for {
		if err := c.Query(context.Background(), p.FunctionURL("analytics"), events.AnalyticsQuery, events.AnalyticsQueryData{}, &view); err != nil {
			t.Fatal(err)
		}
		hooks := webhooks[p].Stats()
		if view.OrdersByState["confirmed"] == res.Check.Confirmed && view.OrdersByState["cancelled"] == res.Check.Cancelled && hooks.Distinct == orders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics %v (want %d confirmed, %d cancelled); webhook %d distinct of %d", view.OrdersByState,
				res.Check.Confirmed, res.Check.Cancelled, hooks.Distinct, orders)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if view.SagaDurationMillis.Count != orders || view.SagaDurationMillis.P50 <= 0 {
		t.Fatalf("saga durations %+v", view.SagaDurationMillis)
	}

	// One order's timeline, through the CLI.
	var some string
	for _, o := range res.Results {
		if o.Outcome == "confirmed" {
			some = o.ID
			break
		}
	}
	out := cli(t, p, "order", some)
	for _, want := range []string{"CONFIRMED", "order.place.v1", "inventory.reserved.v1", "payment.completed.v1", "order.confirmed.v1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("orderflow order %s:\n%s\nmissing %q", some, out, want)
		}
	}
}

func TestEveryEventDeliveredTwiceChangesNothing(t *testing.T) {
	p := up(t, func(o *plane.Options) { o.DuplicateDelivery = true })
	const orders = 200
	res := runDemo(t, p, orders, 12)
	expectSplit(t, res, orders)
	var delivered uint64
	for name, s := range p.SourceStats() {
		settled := s.Received - uint64(max(s.InFlight, 0))
		if s.Delivered+s.DeadLettered < 2*settled {
			t.Errorf("source %s: %+v, want every received event delivered twice", name, s)
		}
		delivered += s.Delivered
	}
	if delivered == 0 {
		t.Fatal("nothing delivered")
	}
}

// Bad input from anywhere: a producer writing raw JSON into the orders
// topic, a CloudEvent record that lacks required attributes, commands that
// break the schema or the catalogue. Each is refused with a 4xx naming the
// field, dead-lettered after one attempt, and listed by `orderflow dlq`
// with the reason.
func TestBadInputIsDeadLetteredWithItsReason(t *testing.T) {
	p := up(t, nil)
	kc := kafkaClient(t, p)
	producer, err := sarama.NewSyncProducerFromClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	// Into the commands topic (order reads it) and into the orders topic
	// (every other function reads that one).
	for _, topic := range []string{events.TopicCommands, events.TopicOrders} {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("raw-1"),
			Value: sarama.StringEncoder(`{"orderId":"raw-1","note":"not a CloudEvent"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("ce-broken"),
			Value: sarama.StringEncoder(`{}`), Headers: []sarama.RecordHeader{
				{Key: []byte("ce_specversion"), Value: []byte("1.0")}, {Key: []byte("ce_type"), Value: []byte(events.PlaceOrder)},
				{Key: []byte("ce_id"), Value: []byte("x")}, // no ce_source
			}}); err != nil {
			t.Fatal(err)
		}
	}

	c, err := client.New(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ingress := p.SinkURL("commands")
	send := func(id string, lines []events.Line, dataschema string) {
		// Straight to the ingress, past the client-side checks `place` does.
		e, err := events.New(events.PlaceOrder, events.PlaceOrderData{OrderID: id, CustomerID: "c", Email: "c@x.org",
			Currency: "EUR", PaymentToken: "tok_visa", Lines: lines}, nil, "/e2e")
		if err != nil {
			t.Fatal(err)
		}
		if dataschema != "" {
			e.SetDataSchema(dataschema)
		}
		if err := c.Send(context.Background(), ingress, e); err != nil {
			t.Fatal(err)
		}
	}
	send("bad-qty", []events.Line{{SKU: "sku-tee", Quantity: -2}}, "")
	send("bad-sku", []events.Line{{SKU: "sku-unicorn", Quantity: 1}}, "")
	send("bad-schema", []events.Line{{SKU: "sku-tee", Quantity: 1}}, "urn:orderflow:schema:dev.orderflow.order.place.v2.json")
	send("good", []events.Line{{SKU: "sku-tee", Quantity: 1}}, "")

	want := map[string]struct{ code, field string }{
		"bad-qty":    {"400", "lines[0].quantity"},
		"bad-sku":    {"422", "lines[0].sku"},
		"bad-schema": {"400", "dataschema"},
		"raw-1":      {"400", "type"},
		"ce-broken":  {"400", "type"},
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs, err := kafkalog.ReadAll(context.Background(), kc, p.Endpoints().DLQTopics["order"])
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]dlq.Letter{}
		for _, r := range recs {
			if l, ok := dlq.FromRecord(r); ok {
				if _, dup := got[l.OrderID]; dup {
					t.Fatalf("%s dead-lettered twice", l.OrderID)
				}
				got[l.OrderID] = l
			}
		}
		if len(got) == len(want) {
			for id, w := range want {
				l, ok := got[id]
				if !ok || l.Code != w.code || l.Field != w.field {
					t.Fatalf("%s: dead letter %+v, want code %s field %s", id, l, w.code, w.field)
				}
				if a := fmt.Sprint(l.Event.Extensions()["orderflowattempts"]); a != "1" {
					t.Fatalf("%s: %s attempts before dead-lettering, want 1 (a 4xx is not retried)", id, a)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters of order: %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The raw record and the broken one in the orders topic reached every
	// consumer of that topic; each refused them and dead-lettered them in
	// its own topic.
	var readers []string
	for _, s := range p.Set.Sources {
		if slices.Contains(s.Topics, events.TopicOrders) {
			readers = append(readers, s.Name)
		}
	}
	if len(readers) == 0 {
		t.Fatalf("no KafkaSource reads %s", events.TopicOrders)
	}
	for _, fn := range readers {
		deadline := time.Now().Add(30 * time.Second)
		for {
			recs, err := kafkalog.ReadAll(context.Background(), kc, p.Endpoints().DLQTopics[fn])
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 2 { // the raw record and the broken CloudEvent
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s dead letters: %d, want 2", fn, len(recs))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	out := cli(t, p, "dlq", "order")
	for _, want := range []string{"bad-qty", "lines[0].quantity", "bad-sku", `unknown SKU "sku-unicorn"`, "raw-1", "unknown event type"} {
		if !strings.Contains(out, want) {
			t.Fatalf("orderflow dlq:\n%s\nmissing %q", out, want)
		}
	}
	// The good order went through regardless.
	if out := cli(t, p, "order", "good"); !strings.Contains(out, "CONFIRMED") {
		t.Fatalf("good order:\n%s", out)
	}
}

func TestPlaceRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"place"}, "--sku is required"},
		{[]string{"place", "--sku", "sku-tee"}, `--sku "sku-tee": want SKU:QUANTITY`},
		{[]string{"place", "--sku", "sku-tee:0"}, "must be a whole number of at least 1"},
		{[]string{"place", "--sku", "sku-tee:two"}, "must be a whole number"},
		{[]string{"place", "--sku", "sku-tee:1", "--currency", "euro"}, "--currency"},
		{[]string{"place", "--sku", "sku-tee:1", "--ship-to", "Germany"}, "--ship-to"},
		{[]string{"place", "--sku", "sku-tee:1", "--email", "nobody"}, "--email"},
		{[]string{"place", "--sku", "sku-tee:1", "--state-dir", t.TempDir()}, "no orderflow is running"},
		{[]string{"place", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"demo", "--orders", "0"}, "--orders 0: must be at least 1"},
		{[]string{"up", "--brokers", "nohost"}, `"--brokers" flag: server "nohost": want host:port`},
		// An unset variable in --brokers "$KAFKA" is not the embedded broker.
		{[]string{"demo", "--brokers", ""}, `"--brokers" flag: an empty server`},
		{[]string{"bench", "--brokers", "k:9092,,k2:9092"}, `"--brokers" flag: an empty server`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want failure:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output:\n%s\nwant %q", out, tt.want)
			}
		})
	}
}

func cli(t *testing.T, p *plane.Plane, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--state-dir", p.Endpoints().StateDir}, args...)...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("orderflow %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// logTail logs the last n lines of the file at path, if it has any.
func logTail(t *testing.T, what, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("--- %s, last %d lines of %s:\n%s", what, len(lines), path, strings.Join(lines, "\n"))
}

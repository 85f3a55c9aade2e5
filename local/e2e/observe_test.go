package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/client"
	"orderflow.dev/local/jaegerapi"
	"orderflow.dev/shared/events"
)

// EnvJaeger names the Jaeger binary for TestOneOrderIsOneTrace (make test
// builds it from tools/jaeger into bin/jaeger).
const EnvJaeger = "ORDERFLOW_JAEGER"

// EnvRequireTools makes a missing external program a failure, not a skip:
// .ci/run sets it, having installed them all.
const EnvRequireTools = "ORDERFLOW_REQUIRE_TOOLS"

func needTool(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(EnvRequireTools) != "" {
		t.Fatalf("%s, and %s is set", why, EnvRequireTools)
	}
	t.Skip(why)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs a program for the test, its output in a log file
// shown when the test fails.
func startProcess(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s log tail:\n%s", name, b)
		}
	})
	return cmd
}

func hostPort(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Host
}

// promQuery asks Prometheus for an instant vector and sums it (0 when
// empty); ok is false while nothing matches.
func promQuery(t *testing.T, base, q string) (sum float64, ok bool) {
	t.Helper()
	sum, ok, err := promTry(base, q)
	if err != nil {
		t.Fatalf("prometheus %s: %v", q, err)
	}
	return sum, ok
}

func promTry(base, q string) (sum float64, ok bool, err error) {
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := client.GetJSON(context.Background(), base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return 0, false, err
	}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		sum += v
	}
	return sum, len(r.Data.Result) > 0, nil
}

// waitProm waits until cond holds for the query's value.
func waitProm(t *testing.T, base, q string, within time.Duration, what string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok, err := promTry(base, q)
		if err == nil && ok && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %s: %s = %v (any series: %v, error: %v) after %s", what, q, v, ok, err, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A real Prometheus scrapes the plane and every function while orders run:
// what it reads matches what the run did, lag goes back to zero, and a
// paused function's lag grows where Prometheus sees it.
func TestPrometheusSeesTheSaga(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		needTool(t, "prometheus not installed (.ci/run installs Debian's prometheus package)")
	}
	p := up(t, nil)
	ep := p.Endpoints()
	targets := []string{hostPort(ep.API)}
	for _, u := range ep.Functions {
		targets = append(targets, hostPort(u))
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: orderflow\n    static_configs:\n      - targets: [%s]\n",
		`"`+strings.Join(targets, `", "`)+`"`)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	startProcess(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitProm(t, base, `up{job="orderflow"}`, time.Minute, "all six targets up", func(v float64) bool { return v == float64(len(targets)) })

	const orders = 200
	res := runDemo(t, p, orders, 21)
	expectSplit(t, res, orders)

	// What the run did, as Prometheus read it from the functions.
	placed := waitProm(t, base, `sum(orderflow_deliveries_total{function="order",cloudevents_type="`+events.PlaceOrder+`",outcome="handled"})`,
		time.Minute, "every placement handled", func(v float64) bool { return v == orders })
	t.Logf("placements handled, as Prometheus read it: %v", placed)
	waitProm(t, base, `sum(orderflow_saga_outcomes_total{outcome="confirmed"})`, time.Minute, "confirmations",
		func(v float64) bool { return int(v) == res.Check.Confirmed })
	waitProm(t, base, `sum(orderflow_saga_outcomes_total{outcome="cancelled"})`, time.Minute, "cancellations",
		func(v float64) bool { return int(v) == res.Check.Cancelled })
	// The plane's view of the same deliveries: every 2xx the order
	// function answered is an http_events_sent_total to it.
	waitProm(t, base, `sum(http_events_sent_total{kn_source_name="order",http_response_status_code="200",dead_letter="false"})`, time.Minute,
		"the plane's dispatches to order match the function's deliveries", func(v float64) bool {
			// Queries come over HTTP and PingSource ticks from the
			// plane's ping runner: neither is a KafkaSource dispatch.
			got, _ := promQuery(t, base, `sum(orderflow_deliveries_total{function="order",http_response_status_code="200",cloudevents_type!~"`+
				strings.ReplaceAll(events.OrderQuery+"|"+events.Tick, ".", `\\.`)+`"})`)
			return v == got
		})
	waitProm(t, base, `sum(kafka_consumergroup_lag)`, time.Minute, "lag back to zero", func(v float64) bool { return v == 0 })
	waitProm(t, base, `max(orderflow_outbox_backlog)`, time.Minute, "outboxes empty", func(v float64) bool { return v == 0 })

	// A paused function falls behind, visibly.
	if err := p.Pause("payment"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < 20; i++ {
		cli(t, p, "place", "--no-wait", "--sku", "sku-tee:1")
	}
	behind := waitProm(t, base, `sum(kafka_consumergroup_lag{consumergroup="orderflow-payment"})`, time.Minute,
		"payment's lag grows while it is paused", func(v float64) bool { return v >= 10 })
	t.Logf("payment paused: lag %v", behind)
	if err := p.Resume(ctx, "payment"); err != nil {
		t.Fatal(err)
	}
	waitProm(t, base, `sum(kafka_consumergroup_lag)`, 2*time.Minute, "lag back to zero after resume", func(v float64) bool { return v == 0 })
}

// One order placed with tracing on is one trace in a real Jaeger, holding
// spans of the plane and of all five functions, each function's delivery
// a descendant of the delivery that caused it, every span named, kinded
// and attributed as OpenTelemetry's messaging and FaaS conventions say.
func TestOneOrderIsOneTrace(t *testing.T) {
	jaeger := os.Getenv(EnvJaeger)
	if jaeger == "" {
		if _, err := os.Stat(filepath.Join(root, "bin", "jaeger")); err == nil {
			jaeger = filepath.Join(root, "bin", "jaeger")
		} else {
			needTool(t, EnvJaeger+" not set and no bin/jaeger (make tools builds it)")
		}
	}
	// A Jaeger already listening would answer with traces of its own.
	if c, err := net.Dial("tcp", "127.0.0.1:16686"); err == nil {
		c.Close()
		t.Fatal("something already listens on 127.0.0.1:16686 (a Jaeger left running?); stop it first")
	}
	startProcess(t, jaeger)
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get("http://127.0.0.1:16686/api/services"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("jaeger did not answer on 127.0.0.1:16686 within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
	// Honoured by every process's resource (resource.New's environment
	// detector), so the trace shows it on each.
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=e2e")
	p := up(t, func(o *plane.Options) {})
	id := "ord-traced1"
	t.Logf("placed: %s", strings.TrimSpace(cli(t, p, "place", "--id", id, "--sku", "sku-tee:1")))

	// The order's trace, found as `orderflow trace` finds it: by the
	// correlation id every delivery span carries. Spans arrive in batches
	// from seven processes, so it is read again until it is whole.
	// Every function sees the order (each delivery is a span), and the plane.
	services := slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(p.Endpoints().Functions)), "orderflow-plane")))
	// Causation: inventory's delivery of order.created descends from the
	// order function's delivery of the placement; payment's from
	// inventory's; notify's (through order's) from payment's.
	chains := [][3]string{
		{"inventory", events.OrderCreated, "order: " + processOf(events.PlaceOrder)},
		{"payment", events.InventoryReserved, "inventory: " + processOf(events.OrderCreated)},
		{"notify", events.OrderConfirmed, "payment: " + processOf(events.InventoryReserved)},
	}
	var found jaegerapi.Trace
	var missing []string
	deadline = time.Now().Add(90 * time.Second)
	for {
		// The CLI's queries for the outcome are traces of their own; the
		// saga is the one trace with spans of every service.
		traces, err := jaegerapi.Find("http://127.0.0.1:16686", "order", "orderflow.correlation_id", id)
		var sagas []jaegerapi.Trace
		for _, tr := range traces {
			if slices.Equal(tr.Services(), services) {
				sagas = append(sagas, tr)
			}
		}
		missing = []string{fmt.Sprintf("one trace of %v (Jaeger has %d such of %d, error %v)", services, len(sagas), len(traces), err)}
		if len(sagas) == 1 {
			found = sagas[0]
			missing = nil
			for _, chain := range chains {
				ok := false
				for i, s := range found.Spans {
					if found.Service(i) == chain[0] && tagOf(s, "cloudevents.event_type") == chain[1] &&
						slices.Contains(found.Ancestors(i), chain[2]) {
						ok = true
					}
				}
				if !ok {
					missing = append(missing, fmt.Sprintf("a %s delivery of %s descending from %q", chain[0], chain[1], chain[2]))
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s, after 90 s: missing %s\n%s", id, strings.Join(missing, "; "), found.Text())
		}
		time.Sleep(time.Second)
	}
	t.Logf("%s", found.Text())
	for _, problem := range conventionProblems(found, "orderflow-plane") {
		t.Error(problem)
	}
	if png := os.Getenv("ORDERFLOW_TRACE_PNG"); png != "" {
		// How docs/trace-one-order.png is made: the trace this test checked.
		if err := found.Draw(png, "order "+id+": trace "+found.TraceID); err != nil {
			t.Fatal(err)
		}
	}
}

// processOf is the span name of a delivery of events of type typ:
// "process <topic>", the topic the catalog puts typ on.
func processOf(typ string) string { return "process " + events.MustLookup(typ).Topic }

func tagOf(s jaegerapi.Span, key string) string {
	tag, _ := s.Tag(key)
	v, _ := tag.Value.(string)
	return v
}

// conventionProblems lists what in tr departs from the conventions its
// spans follow (docs/tracing.md), as Jaeger received them: a function's
// delivery and the plane's dispatch are CONSUMER "process <topic>" spans,
// each HTTP attempt of a dispatch a CLIENT span under it and the parent of
// the function's delivery, the outbox relay's and the KafkaSink's writes
// PRODUCER "send <topic>" spans; Kafka spans carry messaging.system,
// operation and destination, the partition as a string; the plane's, the
// consumer group; every function's resource faas.name, not its spans.
func conventionProblems(tr jaegerapi.Trace, plane string) []string {
	var problems []string
	bad := func(i int, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s: ", tr.Service(i), tr.Spans[i].OperationName)+fmt.Sprintf(format, a...))
	}
	want := func(i int, key, value string) {
		if tag, ok := tr.Spans[i].Tag(key); !ok || fmt.Sprint(tag.Value) != value {
			bad(i, "%s = %v, want %q", key, tag.Value, value)
		}
	}
	kinds := map[string]int{}
	for i, s := range tr.Spans {
		svc, kind := tr.Service(i), tagOf(s, "span.kind")
		kinds[svc+" "+kind]++
		if env := tr.Processes[s.ProcessID]; tagOfProcess(env, "deployment.environment.name") != "e2e" {
			bad(i, "its resource lacks OTEL_RESOURCE_ATTRIBUTES' deployment.environment.name=e2e")
		}
		if svc != plane && tagOfProcess(tr.Processes[s.ProcessID], "faas.name") != svc {
			bad(i, "its resource's faas.name is %q, want %q", tagOfProcess(tr.Processes[s.ProcessID], "faas.name"), svc)
		}
		if _, ok := s.Tag("faas.name"); ok {
			bad(i, "faas.name is on the span, want it on the resource only")
		}
		op, topic, _ := strings.Cut(s.OperationName, " ")
		switch op {
		case "process", "send":
			wantKind := map[string]string{"process": "consumer", "send": "producer"}[op]
			if kind != wantKind {
				bad(i, "span.kind %q, want %q", kind, wantKind)
			}
			want(i, "messaging.system", "kafka")
			want(i, "messaging.operation.type", op)
			want(i, "messaging.operation.name", op)
			want(i, "messaging.destination.name", topic)
		case "POST":
			if kind != "client" {
				bad(i, "span.kind %q, want client", kind)
			}
			if p := tr.Parent(i); p < 0 || tr.Service(p) != plane || !strings.HasPrefix(tr.Spans[p].OperationName, "process ") {
				bad(i, "not under the plane's process span")
			}
			if _, ok := s.Tag("http.response.status_code"); !ok {
				bad(i, "no http.response.status_code")
			}
			continue
		default:
			continue
		}
		if op == "process" || svc == plane {
			// Where the record is known to be: read (a delivery, a
			// dispatch) or written (the KafkaSink's send).
			if tag, ok := s.Tag("messaging.destination.partition.id"); !ok || tag.Type != "string" {
				bad(i, "messaging.destination.partition.id %+v, want a string", tag)
			}
			if tag, ok := s.Tag("messaging.kafka.offset"); !ok || tag.Type != "int64" {
				bad(i, "messaging.kafka.offset %+v, want an int64", tag)
			}
		}
		switch {
		case op == "process" && svc == plane:
			if tagOf(s, "messaging.consumer.group.name") == "" {
				bad(i, "no messaging.consumer.group.name")
			}
		case op == "process":
			want(i, "faas.trigger", "pubsub")
			if tagOf(s, "faas.invocation_id") == "" {
				bad(i, "no faas.invocation_id")
			}
			// A delivery is a child of the HTTP attempt that made it.
			if p := tr.Parent(i); p < 0 || tr.Service(p) != plane || tagOf(tr.Spans[p], "span.kind") != "client" {
				bad(i, "not a child of the plane's CLIENT span")
			}
		}
	}
	for _, k := range []string{plane + " consumer", plane + " client", plane + " producer", "order producer", "inventory consumer", "payment consumer", "notify consumer", "analytics consumer"} {
		if kinds[k] == 0 {
			problems = append(problems, "no "+k+" span")
		}
	}
	return problems
}

func tagOfProcess(p jaegerapi.Process, key string) string {
	tag, _ := p.Tag(key)
	return fmt.Sprint(tag.Value)
}

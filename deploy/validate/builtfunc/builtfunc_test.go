// Package builtfunc starts each function binary that `func build
// --builder=host` produced (scripts/func-build.sh) and proves it serves:
// its readiness and liveness probes, and CloudEvents in binary mode, the way
// a KafkaSource and a PingSource deliver them, publishing what it emits to
// K_SINK. Nothing of the function's source is compiled here: the binary
// under test is the one func wrote to .func/build/result.
//
// It runs only when ORDERFLOW_FUNC_BUILDS names the folder scripts/func-build.sh
// built into (one sub-folder per function); otherwise it skips.
// ORDERFLOW_FUNC_ONLY (space-separated names) limits it to some functions.
package builtfunc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"sigs.k8s.io/yaml"

	"orderflow.dev/shared/events"
)

const root = "../../.."

// recorder is K_SINK: it records every CloudEvent POSTed to it, as a
// KafkaSink ingress would accept it (202).
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	e, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.events = append(r.events, *e)
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (r *recorder) waitFor(t *testing.T, typ string) event.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, e := range r.events {
			if e.Type() == typ {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("K_SINK received no %s", typ)
	return event.Event{}
}

var (
	template   = regexp.MustCompile(`^\{\{.*\}\}$`)
	databaseOf = regexp.MustCompile(`^\{\{\s*secret:orderflow-db:([-._a-zA-Z0-9]+)\s*\}\}$`)
)

// funcEnvs are the run.envs of func.yaml as `func deploy` would set them:
// literals as they are, and each database a cluster takes from the
// orderflow-db Secret a SQLite file of its own in dir (any other template
// is left to the caller).
func funcEnvs(t *testing.T, fn, dir string) []string {
	data, err := os.ReadFile(filepath.Join(root, "functions", fn, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Run struct {
			Envs []struct{ Name, Value string } `json:"envs"`
		} `json:"run"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range f.Run.Envs {
		value := strings.TrimSpace(e.Value)
		switch m := databaseOf.FindStringSubmatch(value); {
		case e.Name == "":
		case m != nil:
			out = append(out, e.Name+"=sqlite://"+filepath.Join(dir, m[1]+".db"))
		case !template.MatchString(value):
			out = append(out, e.Name+"="+e.Value)
		}
	}
	return out
}

type running struct {
	url   string
	sink  *recorder
	ready time.Duration
	cmd   *exec.Cmd
	log   *bytes.Buffer
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(t *testing.T, builds, fn string) *running {
	t.Helper()
	arch := runtime.GOARCH
	bin := filepath.Join(builds, fn, ".func", "build", "result", "f.linux."+arch)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no binary from func build: %v", err)
	}
	rec := &recorder{}
	sink := httptest.NewServer(rec)
	t.Cleanup(sink.Close)
	dir := t.TempDir()
	addr := freePort(t)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, funcEnvs(t, fn, dir)...)
	cmd.Env = append(cmd.Env, "LISTEN_ADDRESS="+addr, "K_SINK="+sink.URL)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{url: "http://" + addr, sink: rec, cmd: cmd, log: &log}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", fn, log.String())
		}
	})
	for {
		resp, err := http.Get(r.url + "/health/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("%s not ready after 30s (last: %v)", fn, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.ready = time.Since(began)
	return r
}

// send POSTs e in binary content mode, as the KafkaSource dispatcher does,
// and returns the status, the body and the type of the CloudEvent the
// response carries ("" when none).
func (r *running) send(t *testing.T, e event.Event) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	typ := ""
	if reply, err := cehttp.NewEventFromHTTPResponse(resp); err == nil {
		typ = reply.Type()
	}
	return resp.StatusCode, body, typ
}

func newEvent(t *testing.T, typ string, data any) event.Event {
	t.Helper()
	e, err := events.New(typ, data, nil, "/orderflow/builtfunc-test")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func tick(t *testing.T, task string) event.Event {
	// What a PingSource sends: type dev.knative.sources.ping, its data.
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetType(events.Tick)
	e.SetSource("/apis/v1/namespaces/orderflow/pingsources/test")
	_ = e.SetData(event.ApplicationJSON, map[string]string{"task": task})
	return e
}

func TestBuiltFunctions(t *testing.T) {
	builds := os.Getenv("ORDERFLOW_FUNC_BUILDS")
	if builds == "" {
		t.Skip("ORDERFLOW_FUNC_BUILDS is not set: run scripts/func-build.sh")
	}
	order := uuid.NewString()
	created := events.OrderCreatedData{OrderID: order, CustomerID: "c-1", Email: "c1@orderflow.test", Currency: "EUR",
		PaymentToken: "tok_ok", Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 1500}},
		SubtotalCents: 1500, TaxCents: 285, TotalCents: 1785, ShippingCountry: "DE"}
	// What each step of the saga does with its own event. A function
	// without a case here (one just added) gets the checks every function
	// gets: probes, a tick, a refusal, a clean stop.
	type step struct {
		send    event.Event
		publish string // type expected at K_SINK; "" for a reply
		reply   string // type of the HTTP reply expected; "" for none
	}
	steps := map[string]step{
		"order": {newEvent(t, events.PlaceOrder, events.PlaceOrderData{OrderID: order, CustomerID: "c-1", Email: "c1@orderflow.test",
			Currency: "EUR", PaymentToken: "tok_ok", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}), events.OrderCreated, ""},
		"inventory": {newEvent(t, events.OrderCreated, created), events.InventoryReserved, ""},
		"payment":   {newEvent(t, events.PaymentQuery, events.PaymentQueryData{}), "", events.PaymentView},
		"notify": {newEvent(t, events.OrderConfirmed, events.OrderConfirmedData{OrderID: order, Email: "c1@orderflow.test",
			TotalCents: 1500, Currency: "EUR", PaymentID: "pay-1"}), events.NotificationSent, ""},
		"analytics": {newEvent(t, events.AnalyticsQuery, events.AnalyticsQueryData{}), "", events.AnalyticsView},
	}
	fns := strings.Fields(os.Getenv("ORDERFLOW_FUNC_ONLY"))
	if len(fns) == 0 {
		dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
		if err != nil || len(dirs) == 0 {
			t.Fatalf("no functions/*/func.yaml under %s (%v)", root, err)
		}
		for _, d := range dirs {
			fns = append(fns, filepath.Base(filepath.Dir(d)))
		}
	}
	var summary []string
	for _, fn := range fns {
		t.Run(fn, func(t *testing.T) {
			r := start(t, builds, fn)
			for _, probe := range []string{"/health/readiness", "/health/liveness"} {
				resp, err := http.Get(r.url + probe)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %v %v", probe, resp, err)
				}
				resp.Body.Close()
			}
			if c, ok := steps[fn]; ok {
				status, body, replyType := r.send(t, c.send)
				if status/100 != 2 {
					t.Fatalf("%s: status %d: %s", c.send.Type(), status, body)
				}
				if replyType != c.reply {
					t.Fatalf("%s: reply of type %q, want %q: %s", c.send.Type(), replyType, c.reply, body)
				}
				if c.publish != "" {
					got := r.sink.waitFor(t, c.publish)
					if got.Extensions()["correlationid"] != c.send.Extensions()["correlationid"] {
						t.Errorf("published %s with correlationid %v, want %v", got.Type(), got.Extensions()["correlationid"], c.send.Extensions()["correlationid"])
					}
				}
			}
			// A PingSource tick: every function sweeps its outbox.
			if status, body, _ := r.send(t, tick(t, events.TaskOutboxSweep)); status/100 != 2 {
				t.Fatalf("outbox-sweep tick: status %d: %s", status, body)
			}
			// An event it cannot take is refused with 4xx (dead-lettered
			// by Knative without retry), not a crash or a 5xx.
			bad := event.New()
			bad.SetID(uuid.NewString())
			bad.SetType("dev.orderflow.nonsense.v1")
			bad.SetSource("/test")
			if status, _, _ := r.send(t, bad); status/100 != 4 {
				t.Errorf("unknown type: status %d, want 4xx", status)
			}
			if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- r.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit after SIGTERM: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("still running 15s after SIGTERM")
			}
			summary = append(summary, fmt.Sprintf("%s ready in %v", fn, r.ready.Round(time.Millisecond)))
		})
	}
	t.Logf("start to ready: %s", strings.Join(summary, ", "))
}

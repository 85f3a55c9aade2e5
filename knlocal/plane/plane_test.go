package plane_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
)

// TestMain doubles as the tiny topology's functions: the plane starts this
// test binary as each function's process, and the function's func.yaml
// tells it which one to be.
func TestMain(m *testing.M) {
	if fn := os.Getenv("PLANE_TEST_FUNCTION"); fn != "" {
		if err := serveFunction(fn); err != nil {
			fmt.Fprintln(os.Stderr, fn+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveFunction serves CloudEvents on LISTEN_ADDRESS until SIGTERM, as a
// Knative Function does. greet answers a name by publishing a greeting to
// K_SINK and refuses a blank one (400: not retried, dead-lettered);
// letters, the dead-letter sink, reports each dead letter to AUDIT_URL.
func serveFunction(name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/readiness", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		in, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch who := strings.TrimSpace(string(in.Data())); {
		case name == "letters":
			body, _ := json.Marshal(letter{in.ID(), in.Type(), string(in.Data()), in.Extensions()})
			err = post(r.Context(), os.Getenv("AUDIT_URL"), nil, body)
		case who == "":
			http.Error(w, "no name to greet", http.StatusBadRequest)
			return
		default:
			out := event.New()
			out.SetID(in.ID() + "/greeting")
			out.SetType("tiny.greeting")
			out.SetSource("/tiny/greet")
			out.SetExtension("partitionkey", who)
			_ = out.SetData("text/plain", os.Getenv("GREETING")+", "+who)
			err = post(r.Context(), os.Getenv("K_SINK"), &out, nil)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	srv := &http.Server{Addr: os.Getenv("LISTEN_ADDRESS"), Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// letter is what letters reports of a dead letter.
type letter struct {
	ID, Type, Data string
	Extensions     map[string]any
}

// post sends e as a binary-mode CloudEvent, or else body as JSON.
func post(ctx context.Context, url string, e *event.Event, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if e != nil {
		if err := cehttp.WriteRequest(ctx, binding.ToMessage(e), req); err != nil {
			return err
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}

// The plane runs a topology that is not orderflow's: two functions (this
// test binary), one KafkaSource with a Service as its dead-letter sink,
// one KafkaSink bound to greet by a SinkBinding.
func TestTinyTopology(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	audit := make(chan letter, 10)
	var routed atomic.Int64 // greet's publishes through the route RouteEnv gave it
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, plane.Options{
		Manifests: dir, FunctionsDir: filepath.Join(dir, "functions"), StateDir: t.TempDir(),
		Command:  func(string) []string { return []string{self} },
		Env:      map[string]string{"greet/GREETING": "hello"},
		RouteEnv: routeSinkThrough(t, "greet", &routed),
		FunctionEnv: func(p *plane.Plane, name string) map[string]string {
			if name == "letters" {
				return map[string]string{"AUDIT_URL": p.APIURL + "/audit"}
			}
			return nil
		},
		Routes: func(_ *plane.Plane, mux *http.ServeMux) {
			mux.HandleFunc("POST /audit", func(w http.ResponseWriter, r *http.Request) {
				var e letter
				if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				audit <- e
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Both functions run, letters only because the source dead-letters to it.
	eps := p.Endpoints()
	if len(eps.Functions) != 2 || eps.Functions["greet"] == "" || eps.Functions["letters"] == "" {
		t.Fatalf("functions %v, want greet and letters", eps.Functions)
	}
	var got plane.Endpoints
	if err := getJSON(p.APIURL+"/api/endpoints", &got); err != nil || got.Sinks["greetings"] != p.SinkURL("greetings") {
		t.Fatalf("GET /api/endpoints: %+v, %v", got, err)
	}

	producer, err := sarama.NewSyncProducer(p.Brokers, p.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	produce := func(value string) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "tiny.names", Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}
	greetings, err := sarama.NewConsumerFromClient(p.Kafka())
	if err != nil {
		t.Fatal(err)
	}
	defer greetings.Close()
	pc, err := greetings.ConsumePartition("tiny.greetings", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	expectGreeting := func(id, key, data string) {
		t.Helper()
		select {
		case msg := <-pc.Messages():
			e, passthrough := source.ToEvent(msg, "tiny", "reader")
			if !passthrough || e.Type() != "tiny.greeting" || e.ID() != id || string(msg.Key) != key || string(e.Data()) != data {
				t.Fatalf("greeting record: key %q, event %s", msg.Key, e)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no greeting %q on tiny.greetings", data)
		}
	}

	// A name goes from the topic through the source to greet, whose
	// greeting goes through K_SINK and the ingress to Kafka, keyed by its
	// partitionkey. The id is the one the source gave the plain record.
	produce("Ada")
	expectGreeting("partition:0/offset:0/greeting", "Ada", "hello, Ada")
	if routed.Load() == 0 {
		t.Fatal("greet's greeting did not go through the proxy RouteEnv put in front of its K_SINK")
	}

	// A blank name is refused (400, not retried) and its dead letter goes
	// to letters, which reports it where FunctionEnv told it to: the route
	// Routes added.
	produce("  ")
	select {
	case l := <-audit:
		ext := l.Extensions
		body, _ := base64.StdEncoding.DecodeString(fmt.Sprint(ext[source.ErrorDataExtension]))
		if l.ID != "partition:0/offset:1" || l.Type != source.PlainEventType || l.Data != "  " || ext[source.ErrorCodeExtension] != "400" ||
			strings.TrimSpace(string(body)) != "no name to greet" || ext[source.ErrorDestExtension] != p.FunctionURL("greet") {
			t.Fatalf("dead letter %+v, error body %q", l, body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no dead letter reached letters")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s := p.SourceStats()["greet"]
		if s.Received == 2 && s.Delivered == 1 && s.DeadLettered == 1 && s.Retried == 0 && s.InFlight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source stats %+v, want 2 received, 1 delivered, 1 dead-lettered, no retries", s)
		}
	}

	// A paused function stays down until Resume, which brings a new
	// replica up behind the same address with its environment; a pause is
	// planned, so it counts as no restart.
	before, url := p.Process("greet"), p.FunctionURL("greet")
	if err := p.Pause("greet"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // past the service's replacement of a dead replica
	if p.Process("greet") != nil || !before.Exited() {
		t.Fatal("paused greet was restarted before Resume")
	}
	if err := p.Resume(ctx, "greet"); err != nil {
		t.Fatal(err)
	}
	if after := p.Process("greet"); after == nil || after == before || p.FunctionURL("greet") != url || p.Restarts()["greet"] != 0 {
		t.Fatalf("after Resume: process %v (was %p), URL %s (was %s), restarts %v", after, before, p.FunctionURL("greet"), url, p.Restarts())
	}
	// Killed, a replica is replaced (a restart), behind the same address.
	if err := p.Kill(ctx, "greet"); err != nil {
		t.Fatal(err)
	}
	if p.Restarts()["greet"] != 1 || p.FunctionURL("greet") != url {
		t.Fatalf("after Kill: restarts %v, URL %s (was %s)", p.Restarts(), p.FunctionURL("greet"), url)
	}
	// The source's dispatcher restarted (left its group, joined again)
	// goes on from its committed offset: Bob's greeting, and no other.
	if err := p.RestartSource(ctx, "greet"); err != nil {
		t.Fatal(err)
	}
	if err := p.RestartSource(ctx, "nobody"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("restarting an unknown source: %v, want an error naming it", err)
	}
	produce("Bob")
	expectGreeting("partition:0/offset:2/greeting", "Bob", "hello, Bob")
	// Injection points this topology has none of say so.
	if err := p.FirePings(ctx, 1); err == nil || !strings.Contains(err.Error(), "no PingSource") {
		t.Errorf("a ping burst without PingSources: %v, want an error saying so", err)
	}
	if err := p.RefuseDeadLetters(true); err == nil || !strings.Contains(err.Error(), "KafkaSink") {
		t.Errorf("refusing dead letters that go to a Service: %v, want an error saying so", err)
	}
}

// routeSinkThrough is a RouteEnv putting a proxy in front of fn's K_SINK
// (whose address is known only once the plane runs), counting what goes
// through it; every replica of fn is given the same proxy.
func routeSinkThrough(t *testing.T, fn string, through *atomic.Int64) func(string, map[string]string) error {
	var mu sync.Mutex
	var proxy *httptest.Server
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if proxy != nil {
			proxy.Close()
		}
	})
	return func(name string, env map[string]string) error {
		if name != fn {
			return nil
		}
		sink, err := url.Parse(env["K_SINK"])
		if err != nil || sink.Host == "" {
			return fmt.Errorf("K_SINK %q is not a URL with a host", env["K_SINK"])
		}
		mu.Lock()
		defer mu.Unlock()
		if proxy == nil {
			forward := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: sink.Scheme, Host: sink.Host})
			proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				through.Add(1)
				forward.ServeHTTP(w, r)
			}))
		}
		sink.Host = strings.TrimPrefix(proxy.URL, "http://")
		env["K_SINK"] = sink.String()
		return nil
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

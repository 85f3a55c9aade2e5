package serving

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"orderflow.dev/knlocal/runner"
)

// envReplica makes this test binary a replica: an HTTP server on
// LISTEN_ADDRESS that answers each request after ?ms= milliseconds with
// its pid, and its readiness at /health/readiness (503 while the file
// named by envNotReady exists).
const (
	envReplica  = "SERVING_TEST_REPLICA"
	envNotReady = "SERVING_TEST_NOT_READY_FILE"
)

func TestMain(m *testing.M) {
	if os.Getenv(envReplica) != "" {
		serveReplica()
		return
	}
	os.Exit(m.Run())
}

func serveReplica() {
	mux := http.NewServeMux()
	mux.HandleFunc("/health/readiness", func(w http.ResponseWriter, _ *http.Request) {
		if f := os.Getenv(envNotReady); f != "" {
			if _, err := os.Stat(f); err == nil {
				http.Error(w, "store cannot write", http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, os.Getpid())
	})
	_ = http.ListenAndServe(os.Getenv("LISTEN_ADDRESS"), mux)
}

// starter starts replicas of a function "echo" whose func.yaml is in a
// temporary folder; notReady, when set, is the file whose presence makes
// them not ready.
func starter(t *testing.T, notReady string) Starter {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "func.yaml"), []byte("name: echo\nruntime: go\ncreated: 2026-12-04T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	return func(ctx context.Context, id int) (*runner.Process, error) {
		local := map[string]string{envReplica: "1"}
		if notReady != "" {
			local[envNotReady] = notReady
		}
		return runner.Start(runner.Spec{Name: "echo", Dir: dir, Local: local, Command: []string{os.Args[0]}, LogDir: logs,
			LogName: fmt.Sprintf("echo-%d", id)})
	}
}

// fast are windows a test can wait through.
var fast = Windows{Stable: 2 * time.Second, Panic: 400 * time.Millisecond, PanicThreshold: 2,
	MaxScaleUpRate: 1000, MaxScaleDownRate: 2, ScaleToZeroGrace: 500 * time.Millisecond, Tick: 200 * time.Millisecond}

func start(t *testing.T, cfg Config) *Service {
	t.Helper()
	cfg.Name = "echo"
	if cfg.Windows == (Windows{}) {
		cfg.Windows = fast
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// path is how a test's requests reach the service: through its listener
// (any client) or in process (the plane's sources, through a Router).
type path struct {
	name   string
	client func(s *Service) *http.Client
}

var paths = []path{
	{"listener", func(*Service) *http.Client { return http.DefaultClient }},
	{"router", func(s *Service) *http.Client {
		rt := NewRouter(nil)
		rt.Add(s)
		return &http.Client{Transport: rt}
	}},
}

// bothPaths runs test once per path: the two must behave alike.
func bothPaths(t *testing.T, test func(*testing.T, path)) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) { test(t, p) })
	}
}

func (p path) get(t *testing.T, s *Service, ms int) (int, string) {
	t.Helper()
	resp, err := p.client(s).Get(fmt.Sprintf("%s/?ms=%d", s.URL(), ms))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request to a service at zero is held while a replica starts, then
// answered: never refused for being early. Idle again, the service goes
// back to zero after the stable window and the grace.
func TestScaleToZeroAndBack(t *testing.T) { bothPaths(t, testScaleToZeroAndBack) }

func testScaleToZeroAndBack(t *testing.T, via path) {
	s := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 0, Max: 3, Target: 1, Utilization: 100}, Initial: 0})
	if st := s.Status(); st.Replicas != 0 {
		t.Fatalf("initial scale 0: %+v", st)
	}
	resp, err := http.Get(s.URL() + "/health/readiness")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a service at zero is ready (its activator takes requests): %v %v", resp, err)
	}
	resp.Body.Close()
	if code, body := via.get(t, s, 0); code != 200 {
		t.Fatalf("first request at zero: %d %s", code, body)
	}
	st := s.Status()
	if st.ColdStarts != 1 || st.Ready != 1 || len(st.Recent) != 1 || st.Recent[0] <= 0 {
		t.Fatalf("after the cold start: %+v", st)
	}
	waitFor(t, "scaled back to zero", 10*time.Second, func() bool { return s.Status().Replicas == 0 })
	if code, _ := via.get(t, s, 0); code != 200 || s.Status().ColdStarts != 2 {
		t.Fatalf("second cold start: %d, %+v", code, s.Status())
	}
}

// Load above the target per replica scales up, each request to the
// replica with the fewest in flight; the load gone, it scales down.
func TestScalesWithLoad(t *testing.T) { bothPaths(t, testScalesWithLoad) }

func testScalesWithLoad(t *testing.T, via path) {
	s := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 1, Max: 4, Target: 1, Utilization: 100}, Initial: 1})
	var stop atomic.Bool
	var wg sync.WaitGroup
	pids := sync.Map{}
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if code, body := via.get(t, s, 100); code == 200 {
					pids.Store(body, true)
				}
			}
		})
	}
	waitFor(t, "four replicas ready under four requests in flight", 15*time.Second, func() bool { return s.Status().Ready == 4 })
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	served := 0
	pids.Range(func(any, any) bool { served++; return true })
	if served < 3 {
		t.Errorf("requests reached %d replicas, want the load spread over at least 3", served)
	}
	waitFor(t, "back to min-scale 1", 15*time.Second, func() bool { st := s.Status(); return st.Replicas == 1 && st.Desired == 1 })
	if st := s.Status(); len(st.Events) < 2 {
		t.Errorf("scaling steps not recorded: %+v", st.Events)
	}
}

// A replica killed is replaced; a request it held gets 502 (the
// dispatcher retries it), and the next one is served.
func TestAKilledReplicaIsReplaced(t *testing.T) { bothPaths(t, testAKilledReplicaIsReplaced) }

func testAKilledReplicaIsReplaced(t *testing.T, via path) {
	s := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 2, Max: 2, Target: 100, Utilization: 100}, Initial: 2})
	procs := s.Processes()
	if len(procs) != 2 {
		t.Fatalf("%d replicas, want 2", len(procs))
	}
	done := make(chan int, 1)
	go func() { code, _ := via.get(t, s, 2000); done <- code }()
	waitFor(t, "the request in flight", 5*time.Second, func() bool { return s.Status().InFlight == 1 })
	for _, p := range procs {
		p.Kill()
	}
	if code := <-done; code != http.StatusBadGateway {
		t.Errorf("the request its replica died under: %d, want 502", code)
	}
	waitFor(t, "two new replicas", 15*time.Second, func() bool { return s.Status().Ready == 2 })
	for _, p := range s.Processes() {
		for _, old := range procs {
			if p == old {
				t.Fatal("a killed replica is still listed")
			}
		}
	}
	if code, _ := via.get(t, s, 0); code != 200 {
		t.Fatalf("after the replacement: %d", code)
	}
}

// A replica whose readiness fails gets no requests; with none ready the
// activator holds the request until one is.
func TestNotReadyReplicasGetNoRequests(t *testing.T) { bothPaths(t, testNotReadyReplicasGetNoRequests) }

func testNotReadyReplicasGetNoRequests(t *testing.T, via path) {
	flag := filepath.Join(t.TempDir(), "not-ready")
	s := start(t, Config{Start: starter(t, flag), Scale: Scale{Min: 1, Max: 1, Target: 100, Utilization: 100}, Initial: 1})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica seen not ready", 5*time.Second, func() bool { return s.Status().Ready == 0 })
	resp, err := http.Get(s.URL() + "/health/readiness")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !contains(string(b), "store cannot write") {
		t.Fatalf("the service's readiness: %d %q, want 503 naming the replica's reason", resp.StatusCode, b)
	}
	done := make(chan int, 1)
	go func() { code, _ := via.get(t, s, 0); done <- code }()
	waitFor(t, "the request held", 5*time.Second, func() bool { return s.Status().Held == 1 })
	os.Remove(flag)
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("held request: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request was not answered once the replica was ready")
	}
}

func TestPauseAnswersNothingAndResumeServes(t *testing.T) {
	bothPaths(t, testPauseAnswersNothingAndResumeServes)
}

func testPauseAnswersNothingAndResumeServes(t *testing.T, via path) {
	s := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 1, Max: 1, Target: 100, Utilization: 100}, Initial: 1})
	pid := s.Processes()[0].PID()
	s.Pause()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Error("the replica still runs while paused")
	}
	if code, _ := via.get(t, s, 0); code != 0 {
		t.Fatalf("a paused service answered %d; want no answer", code)
	}
	if err := s.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _ := via.get(t, s, 0); code != 200 {
		t.Fatalf("after resume: %d", code)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A burst at zero starts one replica, not one per request, even when the
// starter itself waits for the replica's readiness (as the plane's does,
// to retry a port taken under it): the replicas on their way count.
func TestBurstAtZeroStartsOneReplica(t *testing.T) { bothPaths(t, testBurstAtZeroStartsOneReplica) }

func testBurstAtZeroStartsOneReplica(t *testing.T, via path) {
	base := starter(t, "")
	var started atomic.Int64
	s := start(t, Config{Scale: Scale{Min: 0, Max: 3, Target: 100, Utilization: 100}, Initial: 0,
		Start: func(ctx context.Context, id int) (*runner.Process, error) {
			started.Add(1)
			time.Sleep(time.Second) // a slow start: the autoscaler ticks meanwhile
			p, err := base(ctx, id)
			if err == nil {
				err = p.WaitReady(ctx, 30*time.Second)
			}
			return p, err
		}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if code, body := via.get(t, s, 50); code != 200 {
				t.Errorf("request at zero: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	if n := started.Load(); n != 1 {
		t.Fatalf("%d replicas started for a burst at zero that one carries (target 100): %+v", n, s.Status())
	}
}

// In process, a request counts in flight (for the autoscaler and the
// least-in-flight choice) until its answer is read, as through the
// listener; an address that is no service's goes to the base transport;
// a closed service is not reached.
func TestRouterCountsUntilTheAnswerIsRead(t *testing.T) {
	s := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 1, Max: 1, Target: 100, Utilization: 100}, Initial: 1})
	other := start(t, Config{Start: starter(t, ""), Scale: Scale{Min: 1, Max: 1, Target: 100, Utilization: 100}, Initial: 1})
	rt := NewRouter(nil)
	rt.Add(s)
	client := &http.Client{Transport: rt}
	resp, err := client.Get(s.URL() + "/?ms=0")
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.InFlight != 1 {
		t.Fatalf("answered but not read: %d in flight, want 1", st.InFlight)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || s.Status().InFlight != 0 {
		t.Fatalf("read: %d %q, %d in flight", resp.StatusCode, b, s.Status().InFlight)
	}
	if code, _ := paths[1].get(t, s, 0); code != 200 {
		t.Fatalf("through the router: %d", code)
	}
	// other is not routed: it is reached through its listener.
	if resp, err := client.Get(other.URL() + "/?ms=0"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("an address the router does not hold: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if st := other.Status(); st.InFlight != 0 {
		t.Fatalf("other: %+v", st)
	}
	s.Close()
	if _, err := client.Get(s.URL() + "/?ms=0"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("a closed service answered: %v", err)
	}
}

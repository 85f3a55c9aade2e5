package plane_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/plane"
)

// fakeDataPlane stands in for Knative's (knlocal/knplane): its ingress
// records what the functions publish; its "sources" deliver one event to
// each KafkaSource's subscriber, resolved through the plane. It notes when
// each call came and whether the functions were up then.
type fakeDataPlane struct {
	t       *testing.T
	ingress *httptest.Server

	mu        sync.Mutex
	calls     []string
	published map[string][]string // path -> event ids
	greetURL  string
}

func (f *fakeDataPlane) note(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeDataPlane) Name() string { return "fake" }

func (f *fakeDataPlane) StartIngress(_ context.Context, p *plane.Plane) (string, error) {
	f.note("StartIngress")
	f.ingress = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.published[r.URL.Path] = append(f.published[r.URL.Path], r.Header.Get("Ce-Id"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	return f.ingress.URL + "/", nil // a trailing slash the plane must not double
}

func (f *fakeDataPlane) StartSources(ctx context.Context, p *plane.Plane) error {
	if p.FunctionURL("greet") == "" {
		f.note("StartSources before the functions")
	} else {
		f.note("StartSources")
	}
	for _, s := range p.Set.Sources {
		url, err := p.Resolve(ctx, s.Sink)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.greetURL = url
		f.mu.Unlock()
		e := event.New()
		e.SetID("from-fake-source")
		e.SetType("tiny.name")
		e.SetSource("/fake")
		_ = e.SetData("text/plain", "world")
		if err := post(ctx, url, &e, nil); err != nil {
			return fmt.Errorf("delivering to %s: %w", url, err)
		}
	}
	return nil
}

// functionUp tells whether greet still answers its readiness probe.
func (f *fakeDataPlane) functionUp() bool {
	f.mu.Lock()
	url := f.greetURL
	f.mu.Unlock()
	resp, err := http.Get(url + "/health/readiness")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (f *fakeDataPlane) StopSources() error {
	f.note(fmt.Sprintf("StopSources (functions up: %v)", f.functionUp()))
	return nil
}

func (f *fakeDataPlane) Close() error {
	f.note(fmt.Sprintf("Close (functions up: %v)", f.functionUp()))
	f.ingress.Close()
	return nil
}

// With a DataPlane the plane serves no ingress and runs no source of its
// own: K_SINK and the endpoints point at the data plane's ingress, the
// sources start once the functions are up, and the data plane stops its
// sources before the functions (whose outboxes still publish) and the
// rest after them.
func TestDataPlaneCarriesSinksAndSources(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeDataPlane{t: t, published: map[string][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, plane.Options{
		Manifests: dir, FunctionsDir: filepath.Join(dir, "functions"), StateDir: t.TempDir(),
		Command:   func(string) []string { return []string{self} },
		Env:       map[string]string{"greet/GREETING": "hello", "letters/AUDIT_URL": "http://127.0.0.1:1/unused"},
		DataPlane: fake,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Endpoints().Sinks["greetings"], fake.ingress.URL+"/tiny/greetings"; got != want {
		t.Errorf("endpoint of the greetings sink %q, want the data plane's %q", got, want)
	}
	if n := len(p.SourceStats()); n != 0 {
		t.Errorf("the plane runs %d sources of its own beside the data plane's", n)
	}
	fake.mu.Lock()
	published := fake.published["/tiny/greetings"]
	fake.mu.Unlock()
	if len(published) != 1 || published[0] != "from-fake-source/greeting" {
		t.Errorf("greet published %v to the data plane's ingress (all: %v), want its greeting at /tiny/greetings", published, fake.published)
	}
	p.Close()
	want := []string{"StartIngress", "StartSources", "StopSources (functions up: true)", "Close (functions up: false)"}
	if fmt.Sprint(fake.calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", fake.calls, want)
	}
}

package plane

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Pause stops every replica of a function and keeps it at none:
// deliveries to it then get no answer, as from a function that cannot
// start. Resume starts it again.
func (p *Plane) Pause(name string) error {
	svc := p.Service(name)
	if svc == nil {
		return fmt.Errorf("no function %s", name)
	}
	svc.Pause()
	return nil
}

// Resume ends a pause and waits until a replica is ready.
func (p *Plane) Resume(ctx context.Context, name string) error {
	svc := p.Service(name)
	if svc == nil {
		return fmt.Errorf("no function %s", name)
	}
	return svc.Resume(ctx)
}

// faultProxy stands in front of one function and answers a share of the
// deliveries with 503 before they reach it, like a function whose
// dependencies flap. The rest pass through unchanged. Transient means it
// passes: one event (by CloudEvents id) is failed at most maxFailsPerEvent
// times, well inside the KafkaSource's retries, so the faults cost retries
// and never a dead letter.
type faultProxy struct {
	server *httptest.Server
	rate   float64
	mu     sync.Mutex
	failed map[string]int
}

const maxFailsPerEvent = 2

func newFaultProxy(target string, rate float64) (*faultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	f := &faultProxy{rate: rate, failed: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && rand.Float64() < f.rate && f.mayFail(r.Header.Get("Ce-Id")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"injected fault: transient 503","status":503}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	return f, nil
}

func (f *faultProxy) mayFail(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed[id] >= maxFailsPerEvent {
		return false
	}
	f.failed[id]++
	return true
}

func (p *Plane) startFaultProxies() error {
	p.proxies = map[string]*faultProxy{}
	for name, rate := range p.opts.TransientFaults {
		if rate <= 0 || rate >= 1 {
			return fmt.Errorf("transient fault rate of %s: %v, want between 0 and 1", name, rate)
		}
		target := p.FunctionURL(name)
		if target == "" {
			return fmt.Errorf("transient faults for %s: no such function", name)
		}
		f, err := newFaultProxy(target, rate)
		if err != nil {
			return err
		}
		p.proxies[name] = f
	}
	return nil
}

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
	"time"
)

// Pause stops a function and keeps it stopped (deliveries to it then fail
// with no response, as to a function scaled to zero that cannot start).
// Resume starts it again.
func (p *Plane) Pause(name string) error {
	p.mu.Lock()
	proc, ok := p.procs[name]
	if ok && p.paused[name] == nil {
		p.paused[name] = make(chan struct{})
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("no function %s", name)
	}
	return proc.Stop(15 * time.Second)
}

// Resume restarts a paused function and waits until it is ready.
func (p *Plane) Resume(ctx context.Context, name string) error {
	p.mu.Lock()
	proc, ok := p.procs[name]
	if resume := p.paused[name]; resume != nil {
		close(resume)
		delete(p.paused, name)
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("no function %s", name)
	}
	return p.waitReplaced(ctx, name, proc)
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
		proc := p.Process(name)
		if proc == nil {
			return fmt.Errorf("transient faults for %s: no such function", name)
		}
		f, err := newFaultProxy(proc.URL, rate)
		if err != nil {
			return err
		}
		p.proxies[name] = f
	}
	return nil
}

package serving

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"orderflow.dev/knlocal/runner"
)

// Starter starts replica number id (1, 2, ... never reused) of the
// function and returns its process; the service waits for its readiness.
type Starter func(ctx context.Context, id int) (*runner.Process, error)

// Config is one service.
type Config struct {
	Name    string
	Scale   Scale
	Windows Windows
	Start   Starter
	// Initial replicas at start (Knative's initial-scale, 1), within the
	// scale bounds.
	Initial int
	// HoldLimit bounds how long the activator holds a request while no
	// replica is ready (then 503), so a function that cannot start is not
	// waited on for ever.
	HoldLimit time.Duration
	// ReadyTimeout bounds a replica's start to its readiness.
	ReadyTimeout time.Duration
	// StopGrace is how long a replica scaled down may drain and run its
	// Stop before it is killed.
	StopGrace time.Duration
	Log       *slog.Logger
	// Progress, when set, gets one line per scaling step and replacement.
	Progress io.Writer
}

// Service is one function behind one address: its replicas, the load
// balancer in front of them (each request to a ready replica, least in
// flight first), the activator (a request that finds none ready waits
// while one starts) and the autoscaler.
type Service struct {
	cfg    Config
	ln     net.Listener
	server *http.Server
	url    string
	tr     *http.Transport
	kpa    KPA
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	inFlight atomic.Int64 // requests inside the service, held ones included
	requests atomic.Int64 // requests ever, for the rps metric
	held     atomic.Int64 // requests waiting for a ready replica
	// lastRequest is when a request last came or went (unix ns): activity
	// the once-a-second samples may not have seen yet, so a service just
	// woken is not judged idle on samples from before.
	lastRequest atomic.Int64

	mu       sync.Mutex
	replicas []*replica
	pending  int // replicas being started, not yet in replicas
	nextID   int
	desired  int
	paused   bool
	changed  chan struct{} // closed on every change of the replicas' states
	started  time.Time
	lastBusy time.Time
	samples  []sample // one a second, the last stable window
	events   []Event
	cold     []time.Duration // cold starts: request at zero to a replica for it
	coldN    int64
	replaced int64 // replicas that ended unplanned (a crash, a kill)
}

type sample struct {
	at          time.Time
	concurrency float64
	rps         float64
}

// replica states.
type state int

const (
	starting state = iota
	ready
	notReady // up, but its readiness probe fails (a store that cannot write)
	draining
)

type replica struct {
	id       int
	proc     *runner.Process
	proxy    *httputil.ReverseProxy
	target   *url.URL // the replica's address, for RoundTrip
	state    state
	reason   string // why not ready
	inFlight atomic.Int64
}

// Event is one scaling step or replacement, for the log, `up` and the
// dashboard.
type Event struct {
	At       time.Time `json:"at"`
	From, To int       `json:"-"`
	Ready    int       `json:"ready"`
	Desired  int       `json:"desired"`
	Why      string    `json:"why"`
}

// Start listens on a loopback port and starts the initial replicas, waiting
// until one is ready (or, for a service whose initial scale is 0, not at
// all).
func Start(ctx context.Context, cfg Config) (*Service, error) {
	cfg.Scale = cfg.Scale.WithDefaults()
	if err := cfg.Scale.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	if cfg.Windows == (Windows{}) {
		cfg.Windows = KnativeWindows
	}
	if err := cfg.Windows.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	if cfg.HoldLimit <= 0 {
		cfg.HoldLimit = 5 * time.Minute
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = time.Minute
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 15 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, ln: ln, url: "http://" + ln.Addr().String(), ctx: sctx, cancel: cancel,
		tr:      &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
		kpa:     KPA{Scale: cfg.Scale, Windows: cfg.Windows},
		changed: make(chan struct{}), started: time.Now(), lastBusy: time.Now()}
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.server.Serve(ln) }()

	initial := max(cfg.Initial, cfg.Scale.Min)
	if cfg.Scale.Max > 0 {
		initial = min(initial, cfg.Scale.Max)
	}
	s.mu.Lock()
	s.desired, s.pending = initial, initial
	s.mu.Unlock()
	if initial > 0 {
		errs := make([]error, initial)
		var wg sync.WaitGroup
		for i := range initial {
			wg.Go(func() { errs[i] = s.startReplica(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.wg.Go(s.sampleLoop)
	s.wg.Go(s.scaleLoop)
	s.wg.Go(s.probeLoop)
	return s, nil
}

// URL is the service's one address, whatever its replicas.
func (s *Service) URL() string { return s.url }

// Name is the function's.
func (s *Service) Name() string { return s.cfg.Name }

// startReplica starts one replica and waits for its readiness.
func (s *Service) startReplica(ctx context.Context) error {
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	proc, err := s.cfg.Start(ctx, id)
	if err != nil {
		s.startEnded()
		return err
	}
	if s.ctx.Err() != nil { // closing: it would outlive the service
		s.startEnded()
		proc.Kill()
		return s.ctx.Err()
	}
	target, err := url.Parse(proc.URL)
	if err != nil {
		s.startEnded()
		proc.Kill()
		return err
	}
	r := &replica{id: id, proc: proc, state: starting, target: target, proxy: httputil.NewSingleHostReverseProxy(target)}
	r.proxy.Transport = s.tr
	r.proxy.ErrorHandler = func(w http.ResponseWriter, req *http.Request, err error) {
		// The replica died (or was killed) under the request: no answer
		// reached us, so none goes back; the dispatcher retries it as its
		// delivery spec says, as it would after a pod's death.
		http.Error(w, s.noAnswer(id, err), http.StatusBadGateway)
	}
	s.mu.Lock()
	s.replicas = append(s.replicas, r)
	s.pending = max(0, s.pending-1)
	s.mu.Unlock()
	s.wg.Go(func() { s.watch(r) })
	if err := proc.WaitReady(ctx, s.cfg.ReadyTimeout); err != nil {
		proc.Kill()
		return err
	}
	s.setState(r, ready, "")
	return nil
}

// noAnswer logs a replica that gave no answer to a request (it died, or
// was killed, under it) and returns the 502's text, the same on both paths.
func (s *Service) noAnswer(id int, err error) string {
	s.cfg.Log.Warn("replica did not answer", "function", s.cfg.Name, "replica", id, "error", err)
	return fmt.Sprintf("%s replica %d did not answer: %v", s.cfg.Name, id, err)
}

// startEnded notes a start that failed: one replica fewer on its way.
func (s *Service) startEnded() {
	s.mu.Lock()
	s.pending = max(0, s.pending-1)
	s.notifyLocked()
	s.mu.Unlock()
}

// watch removes a replica whose process ended and, unless it was scaled
// down, starts its replacement: as a ReplicaSet replaces a pod that died.
func (s *Service) watch(r *replica) {
	<-r.proc.Done()
	s.mu.Lock()
	i := slices.Index(s.replicas, r)
	if i >= 0 {
		s.replicas = slices.Delete(s.replicas, i, i+1)
	}
	planned := r.state == draining || s.paused || s.ctx.Err() != nil
	if !planned {
		s.replaced++
	}
	s.notifyLocked()
	s.mu.Unlock()
	if planned {
		return
	}
	s.cfg.Log.Warn("replica exited; replacing it", "function", s.cfg.Name, "replica", r.id, "error", fmt.Sprint(r.proc.Err()))
	fmt.Fprintf(s.cfg.Progress, "  function %s: replica %d exited (%v); replacing it\n", s.cfg.Name, r.id, r.proc.Err())
	s.reconcile()
}

// setState moves a replica and wakes whoever waits for a ready one.
func (s *Service) setState(r *replica, st state, reason string) {
	s.mu.Lock()
	if r.state == draining && st != draining {
		s.mu.Unlock()
		return // scaled down meanwhile: it stays out of the rotation
	}
	r.state, r.reason = st, reason
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// pick is the ready replica with the fewest requests in flight, or nil.
func (s *Service) pick() (*replica, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *replica
	for _, r := range s.replicas {
		if r.state == ready && (best == nil || r.inFlight.Load() < best.inFlight.Load()) {
			best = r
		}
	}
	return best, s.changed
}

// ServeHTTP is the load balancer and the activator.
func (s *Service) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/health/readiness" || req.URL.Path == "/health/liveness" {
		s.serveHealth(w, req)
		return
	}
	r, release, err := s.admit(req.Context())
	if err != nil {
		if s.isPaused() {
			// A paused function answers nothing, as a stopped one.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, herr := hj.Hijack(); herr == nil {
					conn.Close()
					return
				}
			}
		}
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer release()
	r.proxy.ServeHTTP(w, req)
}

// admit counts a request in (for the autoscaler) and finds it a ready
// replica, holding it while none is (the activator); release counts it
// out, from the service and from its replica.
func (s *Service) admit(ctx context.Context) (r *replica, release func(), err error) {
	s.inFlight.Add(1)
	s.requests.Add(1)
	arrived := time.Now()
	s.lastRequest.Store(arrived.UnixNano())
	done := func() {
		s.inFlight.Add(-1)
		s.lastRequest.Store(time.Now().UnixNano())
	}
	r, changed := s.pick()
	if r == nil {
		var cold bool
		if r, cold, err = s.activate(ctx, changed); err != nil {
			done()
			return nil, nil, err
		}
		if cold {
			// The cold start is the wait for a replica, noted before the
			// request goes on so a caller that saw the answer sees it.
			s.noteColdStart(time.Since(arrived))
		}
	}
	r.inFlight.Add(1)
	return r, func() {
		r.inFlight.Add(-1)
		done()
	}, nil
}

// RoundTrip is ServeHTTP for a caller in the plane's own process (the
// KafkaSources' dispatchers, through Router): the same load balancer and
// activator, the same counts for the autoscaler, the same answers (503
// when no replica gets ready in time, 502 when one dies under the
// request), without the extra HTTP hop through the service's own listener.
// That hop was a second HTTP server and client per delivery in the plane:
// make demo measured 7.5 ms of CPU per order without it and 10.5 with it
// (docs/performance.md). Knative's own path keeps a hop (ingress or
// activator, then queue-proxy); this stand-in need not pay it twice.
func (s *Service) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/health/readiness" || req.URL.Path == "/health/liveness" {
		self, err := url.Parse(s.url)
		if err != nil {
			return nil, err
		}
		return s.tr.RoundTrip(addressedTo(req, self))
	}
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if s.ctx.Err() != nil {
		closeBody()
		return nil, fmt.Errorf("%s: service closed", s.cfg.Name)
	}
	r, release, err := s.admit(req.Context())
	if err != nil {
		closeBody()
		if s.isPaused() || req.Context().Err() != nil {
			// A paused function answers nothing, as a stopped one.
			return nil, err
		}
		return textResponse(req, http.StatusServiceUnavailable, err.Error()), nil
	}
	resp, err := s.tr.RoundTrip(addressedTo(req, r.target))
	if err != nil {
		release()
		if req.Context().Err() != nil {
			return nil, err
		}
		// As ServeHTTP's proxy: no answer reached us, so a 502 goes back
		// and the dispatcher retries as its delivery spec says.
		return textResponse(req, http.StatusBadGateway, s.noAnswer(r.id, err)), nil
	}
	// The request is in flight until its answer is read, as through the
	// listener, where the proxy copied the body before it returned.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// addressedTo is req sent to target's scheme and host, the rest unchanged.
func addressedTo(req *http.Request, target *url.URL) *http.Request {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = target.Scheme, target.Host, ""
	return out
}

func textResponse(req *http.Request, code int, msg string) *http.Response {
	body := msg + "\n"
	return &http.Response{
		Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

// releasingBody counts its request done once: when the body is closed or
// read to its end.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// Router sends a request for a service's address to that service in
// process (Service.RoundTrip) and any other to Base.
type Router struct {
	Base     http.RoundTripper
	mu       sync.RWMutex
	services map[string]*Service // by host:port
}

// NewRouter routes over base (http.DefaultTransport when nil).
func NewRouter(base http.RoundTripper) *Router {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Router{Base: base, services: map[string]*Service{}}
}

// Add routes s's address to s.
func (rt *Router) Add(s *Service) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.services[s.ln.Addr().String()] = s
}

// RoundTrip implements http.RoundTripper.
func (rt *Router) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.RLock()
	s := rt.services[req.URL.Host]
	rt.mu.RUnlock()
	if s != nil && req.URL.Scheme == "http" {
		return s.RoundTrip(req)
	}
	return rt.Base.RoundTrip(req)
}

// activate holds a request until a replica is ready, starting one if the
// service is at zero; cold reports that it had to.
func (s *Service) activate(ctx context.Context, changed <-chan struct{}) (*replica, bool, error) {
	s.held.Add(1)
	defer s.held.Add(-1)
	cold := false
	s.mu.Lock()
	if s.paused {
		s.mu.Unlock()
		return nil, false, fmt.Errorf("%s is paused", s.cfg.Name)
	}
	if s.liveLocked() == 0 && s.desired == 0 {
		// At zero: the activator pokes the autoscaler, which wants one
		// now rather than at its next tick.
		s.desired = max(1, s.cfg.Scale.Min)
		s.recordLocked(0, s.desired, "activator: a request arrived at zero")
		cold = true
	}
	s.mu.Unlock()
	if cold {
		s.reconcile()
	}
	timer := time.NewTimer(s.cfg.HoldLimit)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, cold, ctx.Err()
		case <-timer.C:
			return nil, cold, fmt.Errorf("%s: no replica ready within %s (%s)", s.cfg.Name, s.cfg.HoldLimit, s.notReadyReason())
		case <-changed:
		}
		var r *replica
		if r, changed = s.pick(); r != nil {
			return r, cold, nil
		}
		if s.isPaused() {
			return nil, cold, fmt.Errorf("%s is paused", s.cfg.Name)
		}
	}
}

// liveLocked counts the replicas that are not draining: a service whose
// last replica is draining is at zero.
func (s *Service) liveLocked() int {
	n := s.pending
	for _, r := range s.replicas {
		if r.state != draining {
			n++
		}
	}
	return n
}

func (s *Service) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// notReadyReason says why no replica takes requests.
func (s *Service) notReadyReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.replicas) == 0 {
		return "no replica running"
	}
	if r := s.replicas[0]; len(s.replicas) == 1 && r.state == notReady {
		return r.reason // one replica: its own words
	}
	var why []string
	for _, r := range s.replicas {
		switch r.state {
		case starting:
			why = append(why, fmt.Sprintf("replica %d starting", r.id))
		case notReady:
			why = append(why, fmt.Sprintf("replica %d not ready: %s", r.id, r.reason))
		case draining:
			why = append(why, fmt.Sprintf("replica %d draining", r.id))
		}
	}
	return strings.Join(why, "; ")
}

// serveHealth answers the service's probes: ready while a replica is, or
// while it is at zero (the activator starts one on the first request:
// Knative's revision at zero is ready, its activator in the path);
// otherwise not, saying why.
func (s *Service) serveHealth(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/health/liveness" {
		w.WriteHeader(http.StatusOK)
		return
	}
	s.mu.Lock()
	atZero := s.liveLocked() == 0 && s.desired == 0 && !s.paused
	s.mu.Unlock()
	if r, _ := s.pick(); r != nil || atZero {
		w.WriteHeader(http.StatusOK)
		if atZero {
			_, _ = io.WriteString(w, s.cfg.Name+" is at zero replicas; the first request starts one\n")
		}
		return
	}
	http.Error(w, s.notReadyReason(), http.StatusServiceUnavailable)
}

// probeLoop asks each replica for its readiness every second, as the
// kubelet does, so that one that cannot serve (its store cannot write)
// gets no requests while the others do.
func (s *Service) probeLoop() {
	client := &http.Client{Timeout: 2 * time.Second, Transport: s.tr}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		var rs []*replica
		for _, r := range s.replicas {
			if r.state == ready || r.state == notReady {
				rs = append(rs, r)
			}
		}
		s.mu.Unlock()
		for _, r := range rs {
			ok, reason := probe(s.ctx, client, r.proc.URL)
			s.mu.Lock()
			was := r.state
			s.mu.Unlock()
			switch {
			case ok && was == notReady:
				s.setState(r, ready, "")
			case !ok && was == ready:
				s.setState(r, notReady, reason)
			}
		}
	}
}

func probe(ctx context.Context, client *http.Client, base string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health/readiness", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	// func-go answers a Ready error as "error checking readiness: <it>".
	return resp.StatusCode/100 == 2, strings.TrimSpace(strings.TrimPrefix(string(body), "error checking readiness: "))
}

// sampleLoop takes the metric every second: the requests in flight
// (averaged over ten readings within the second, as queue-proxy averages
// its concurrency) and the requests per second.
func (s *Service) sampleLoop() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var sum float64
	var n int
	last := s.requests.Load()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		sum += float64(s.inFlight.Load())
		n++
		if n < 10 {
			continue
		}
		now := time.Now()
		reqs := s.requests.Load()
		smp := sample{at: now, concurrency: sum / float64(n), rps: float64(reqs - last)}
		sum, n, last = 0, 0, reqs
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		cut := 0
		for cut < len(s.samples) && now.Sub(s.samples[cut].at) > s.cfg.Windows.Stable {
			cut++
		}
		s.samples = s.samples[cut:]
		if smp.concurrency > 0 || smp.rps > 0 {
			s.lastBusy = now
		}
		s.mu.Unlock()
	}
}

// observe averages the samples over the stable and the panic window.
func (s *Service) observeLocked(now time.Time) Observation {
	o := Observation{Now: now, Since: now.Sub(s.started), LastActive: s.lastBusy}
	if last := time.Unix(0, s.lastRequest.Load()); last.After(o.LastActive) {
		o.LastActive = last
	}
	var stable, panic float64
	var ns, np int
	for _, smp := range s.samples {
		v := smp.concurrency
		if s.cfg.Scale.Metric == MetricRPS {
			v = smp.rps
		}
		if now.Sub(smp.at) <= s.cfg.Windows.Stable {
			stable += v
			ns++
		}
		if now.Sub(smp.at) <= s.cfg.Windows.Panic {
			panic += v
			np++
		}
	}
	if ns > 0 {
		o.StableAvg = stable / float64(ns)
	}
	if np > 0 {
		o.PanicAv = panic / float64(np)
	}
	for _, r := range s.replicas {
		if r.state == ready {
			o.Ready++
		}
	}
	return o
}

// scaleLoop decides every tick and moves the replicas toward it.
func (s *Service) scaleLoop() {
	t := time.NewTicker(s.cfg.Windows.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.paused {
			s.mu.Unlock()
			continue
		}
		o := s.observeLocked(time.Now())
		d := s.kpa.Decide(o)
		if held := s.held.Load(); held > 0 && d.Desired == 0 {
			d.Desired, d.Why = max(1, s.cfg.Scale.Min), "requests held at the activator"
		}
		if d.Desired != s.desired {
			s.recordLocked(s.desired, d.Desired, d.Why)
			s.desired = d.Desired
		}
		s.mu.Unlock()
		s.reconcile()
	}
}

// recordLocked notes a scaling step.
func (s *Service) recordLocked(from, to int, why string) {
	up := 0
	for _, r := range s.replicas {
		if r.state == ready {
			up++
		}
	}
	e := Event{At: time.Now(), From: from, To: to, Ready: up, Desired: to, Why: why}
	s.events = append(s.events, e)
	if len(s.events) > 200 {
		s.events = slices.Delete(s.events, 0, len(s.events)-200)
	}
	s.cfg.Log.Info("scaling", "function", s.cfg.Name, "from", from, "to", to, "why", why)
	fmt.Fprintf(s.cfg.Progress, "  function %s: scaling %d -> %d (%s)\n", s.cfg.Name, from, to, why)
}

// reconcile starts or drains replicas until their count is the desired
// one. Replicas that are starting count: a burst does not start ten for
// one wanted.
func (s *Service) reconcile() {
	s.mu.Lock()
	if s.ctx.Err() != nil || s.paused {
		s.mu.Unlock()
		return
	}
	var live []*replica
	for _, r := range s.replicas {
		if r.state != draining {
			live = append(live, r)
		}
	}
	want := s.desired
	var drain []*replica
	// Replicas being started count as live: a burst of requests, or the
	// activator and the autoscaler at once, do not start two for one.
	if len(live)+s.pending > want && len(live) > 0 {
		// The least busy go first.
		sort.Slice(live, func(i, j int) bool { return live[i].inFlight.Load() < live[j].inFlight.Load() })
		drain = live[:min(len(live), len(live)+s.pending-want)]
		for _, r := range drain {
			r.state = draining
		}
		s.notifyLocked()
	}
	start := max(0, want-len(live)-s.pending)
	s.pending += start
	s.mu.Unlock()
	for range start {
		s.wg.Go(func() {
			if err := s.startReplica(s.ctx); err != nil && s.ctx.Err() == nil {
				s.cfg.Log.Error("replica did not start", "function", s.cfg.Name, "error", err)
				fmt.Fprintf(s.cfg.Progress, "  function %s: a replica did not start: %v\n", s.cfg.Name, err)
			}
		})
	}
	for _, r := range drain {
		s.wg.Go(func() { s.drain(r) })
	}
}

// drain waits for a replica's requests to end, then stops it (its Stop
// hook runs: the outbox's last sweep, the relay's lease given up).
func (s *Service) drain(r *replica) {
	deadline := time.Now().Add(s.cfg.StopGrace)
	for r.inFlight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = r.proc.Stop(s.cfg.StopGrace)
}

// noteColdStart records a request that found the service at zero.
func (s *Service) noteColdStart(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coldN++
	s.cold = append(s.cold, d)
	if len(s.cold) > 1000 {
		s.cold = s.cold[len(s.cold)-1000:]
	}
}

// Status is a service's state now.
type Status struct {
	Name       string          `json:"name"`
	URL        string          `json:"url"`
	Ready      int             `json:"ready"`
	Replicas   int             `json:"replicas"` // starting and not ready included, draining not
	Desired    int             `json:"desired"`
	Min        int             `json:"min"`
	Max        int             `json:"max"`
	Held       int64           `json:"held"`
	InFlight   int64           `json:"inFlight"`
	Paused     bool            `json:"paused,omitempty"`
	ColdStarts int64           `json:"coldStarts"`
	Replaced   int64           `json:"replaced"`
	Recent     []time.Duration `json:"-"`
	Events     []Event         `json:"events,omitempty"`
}

// Status reports the service's replicas and scaling steps.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.cfg.Name, URL: s.url, Desired: s.desired, Min: s.cfg.Scale.Min, Max: s.cfg.Scale.Max,
		Held: s.held.Load(), InFlight: s.inFlight.Load(), Paused: s.paused, ColdStarts: s.coldN, Replaced: s.replaced,
		Recent: slices.Clone(s.cold), Events: slices.Clone(s.events)}
	for _, r := range s.replicas {
		if r.state == ready {
			st.Ready++
		}
		if r.state != draining {
			st.Replicas++
		}
	}
	return st
}

// Processes are the replicas' processes, oldest first.
func (s *Service) Processes() []*runner.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*runner.Process, 0, len(s.replicas))
	for _, r := range s.replicas {
		out = append(out, r.proc)
	}
	return out
}

// ReplicaIDs names each process by its replica id.
func (s *Service) ReplicaIDs() map[int]*runner.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]*runner.Process, len(s.replicas))
	for _, r := range s.replicas {
		out[r.id] = r.proc
	}
	return out
}

// WaitReady waits until the service has n ready replicas.
func (s *Service) WaitReady(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		up := 0
		for _, r := range s.replicas {
			if r.state == ready {
				up++
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if up >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d replicas ready: %w", s.cfg.Name, up, n, ctx.Err())
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Pause stops every replica and keeps the service at none: requests get
// no answer, as from a function that cannot start. Resume starts them
// again.
func (s *Service) Pause() {
	s.mu.Lock()
	s.paused = true
	rs := slices.Clone(s.replicas)
	s.notifyLocked()
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { _ = r.proc.Stop(s.cfg.StopGrace) })
	}
	wg.Wait()
}

// Resume ends a pause and waits for a ready replica.
func (s *Service) Resume(ctx context.Context) error {
	s.mu.Lock()
	s.paused = false
	s.desired = max(s.desired, 1, s.cfg.Scale.Min)
	s.mu.Unlock()
	s.reconcile()
	return s.WaitReady(ctx, 1)
}

// Close stops the autoscaler, the load balancer and every replica.
func (s *Service) Close() error {
	s.cancel()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.server.Shutdown(shutdown)
	s.mu.Lock()
	rs := slices.Clone(s.replicas)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { _ = r.proc.Stop(s.cfg.StopGrace) })
	}
	wg.Wait()
	s.wg.Wait()
	s.tr.CloseIdleConnections()
	return nil
}

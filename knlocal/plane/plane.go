// Package plane is the local stand-in for Knative Eventing: from the same
// knative/ manifests a cluster runs, it starts a Kafka broker (embedded
// kfake unless brokers are given), creates the declared topics, serves
// every KafkaSink as an HTTP ingress, runs each function as its own process
// with K_SINK from its SinkBinding, and runs every KafkaSource. What one
// topology needs beyond its manifests comes in through Options
// (FunctionEnv, Routes): orderflow's is local/orderflow.
package plane

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/activator"
	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/planemetrics"
	"orderflow.dev/knlocal/runner"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/knlocal/statedir"
	"orderflow.dev/knlocal/tracing"
)

// Options configure Up.
type Options struct {
	// Manifests is the kustomization directory to read (knative/base).
	Manifests string
	// FunctionsDir holds functions/<name>/func.yaml.
	FunctionsDir string
	// Functions to run (default: every Service the sources deliver to,
	// dead letters included).
	Functions []string
	// Brokers are external bootstrap servers; empty starts the embedded one.
	Brokers []string
	// BrokerPort fixes the embedded broker's port (0: any free port).
	BrokerPort int
	// BrokerDataDir, when set, makes the embedded broker durable: its log
	// and its consumer groups' offsets live there, every write written to
	// the log file before the broker answers it (so a 202 from the
	// ingress survives a crash of the process), and a start with the
	// directory as a previous run left it (stopped or killed) resumes from
	// it. Empty: the broker keeps everything in memory.
	BrokerDataDir string
	// BrokerSync, with BrokerDataDir, also syncs every write to disk
	// before the answer (fsync), so a 202 survives a crash of the machine
	// too; it costs about half the embedded saga's throughput
	// (docs/performance.md).
	BrokerSync bool
	// TopicReplicas, when > 0, creates every topic with this replication
	// factor instead of the KafkaTopics' replicas, and TopicMinInsync (> 0)
	// sets min.insync.replicas on them: the production shape of the same
	// manifests on a multi-broker cluster. Existing topics are left alone.
	TopicReplicas  int16
	TopicMinInsync int
	// IngressPort and APIPort fix the plane's HTTP ports (0: any).
	IngressPort, APIPort int
	// Host is the address the ingress and the API bind (default
	// 127.0.0.1). Any address that is not loopback closes both doors:
	// every request must then carry the plane's token as a bearer token
	// (see package door), and the functions and sources reach the plane
	// through loopback listeners of its own.
	Host string
	// TokenFile names a file holding the token; else Token is the token;
	// else one is made. Unless TokenFile names it, the token is kept in
	// <StateDir>/token (mode 0600) for the commands that call the doors.
	TokenFile, Token string
	// Open, when set, lets requests through the API's closed door without
	// the token (the dashboard's page, which holds no data).
	Open func(*http.Request) bool
	// StateDir holds logs, endpoints.json, the dead-letter spool, and what
	// FunctionEnv puts there (databases, say).
	StateDir string
	// StateLock, when set, is this process's hold on StateDir; every
	// function process inherits it, so the directory stays held until the
	// last of them has ended, even when this process is killed first.
	StateLock *statedir.Lock
	// Command returns the program and arguments serving a function. Left
	// out, each function is built from its folder as func's host builder
	// builds it (package funcbuild), into <StateDir>/builds/<name>.
	Command func(name string) []string
	// DuplicateDelivery makes every source deliver every event twice.
	DuplicateDelivery bool
	// FunctionEnv, when set, gives a function what a cluster would give it
	// from secrets or services, as it starts: so values may depend on the
	// running plane (its StateDir, APIURL). Env overrides them.
	FunctionEnv func(p *Plane, name string) map[string]string
	// Env adds variables to every function, or (key "name/VAR") to one.
	Env map[string]string
	// RouteEnv, when set, has the last word on a function's environment
	// as each of its processes starts (after FunctionEnv, K_SINK and
	// Env): it may change where the function reaches what the environment
	// names, to put something between them (a proxy in front of K_SINK,
	// as a mesh's sidecar sits in a pod), whose address K_SINK is not
	// known before the plane runs. An error fails the process's start.
	RouteEnv func(name string, env map[string]string) error
	// Routes, when set, adds routes to the plane's HTTP API.
	Routes func(p *Plane, mux *http.ServeMux)
	// Log receives the plane's structured log; Progress short human lines.
	Log      *slog.Logger
	Progress io.Writer
	// Observers hear about every source's deliveries.
	Observers []source.Observer
	// PingEvery, when set, fires every PingSource at this interval instead
	// of its cron schedule (a minute at the finest).
	PingEvery time.Duration
	// TransientFaults answers this share (0..1) of the deliveries to a
	// function with 503 before they reach it, by function name.
	TransientFaults map[string]float64
	// HoldLimit is how long a record may hold its partition while its
	// dead-letter sink fails transiently (0: source.DefaultHoldLimit).
	HoldLimit time.Duration
	// GateLimit is how long, in all, a delivery waits for its function to
	// be ready (its readiness probe failing: a full disk, a restart)
	// before its attempts count again (0: source.DefaultGateLimit). See
	// package activator.
	GateLimit time.Duration
	// TraceService names the plane's spans when tracing is on (the
	// standard OTEL_EXPORTER_OTLP_ENDPOINT set; default "kn-eventing-local").
	TraceService string
	// TraceConversation names the CloudEvents extension whose value is an
	// event's conversation (messaging.message.conversation_id) on the
	// plane's spans; empty, they record none, as Knative's do.
	TraceConversation string
	// DataPlane, when set, runs the KafkaSinks and KafkaSources instead of
	// the plane's own ingress and sources (see DataPlane).
	DataPlane DataPlane
	// Naming is what the plane calls itself where others see it: the
	// prefix of the variables it reads, of its own metrics, of its Kafka
	// client ids (default knlocal.Default, orderflow's).
	Naming knlocal.Naming
	// Scale overrides a function's func.yaml deploy.options.scale (key
	// "*": every function's), as a different revision's annotations would.
	Scale map[string]serving.Scale
	// AdjustScale, when set, has the last word on a function's scale:
	// what the topology knows that Knative does not (a store that only
	// one process may open); the reason it gives is printed when it
	// changes anything.
	AdjustScale func(p *Plane, name string, s serving.Scale) (serving.Scale, string)
	// Windows is the autoscaler's timing (zero: Knative's defaults, a 60s
	// stable window; tests use seconds).
	Windows serving.Windows
	// WatchManifests, when set, reads the manifests again at this
	// interval and applies a KafkaSource's changed consumers at once, as
	// its dispatcher would on a cluster (other changes need a restart).
	WatchManifests time.Duration
}

// Plane is a running topology.
type Plane struct {
	opts      Options
	Set       *manifests.Set
	cluster   *broker.Cluster
	Brokers   []string
	saramaCfg *sarama.Config
	// client serves the admin and readers (Kafka()); the KafkaSink
	// ingress's producers have clients of their own (see startKafka).
	client   sarama.Client
	admin    sarama.ClusterAdmin
	producer sarama.SyncProducer
	large    []sarama.SyncProducer // for topics that take larger records
	sinks    *sink.Handler
	metrics  *planemetrics.Metrics
	// stopTracing flushes and stops the plane's span exporter.
	stopTracing func(context.Context) error

	ingress, api       *http.Server
	IngressURL, APIURL string // loopback, for the functions and sources
	// The doors bound to Options.Host, closed by the token, when Host is
	// not loopback (else the same as the loopback ones).
	publicIngress, publicAPI       *http.Server
	publicIngressURL, publicAPIURL string
	token, tokenFile               string

	mu       sync.Mutex
	services map[string]*serving.Service // by function: its replicas behind one address
	// router takes the sources' deliveries to a service in process, not
	// through its listener (serving.Service.RoundTrip); to anything else (a
	// dead-letter sink, a URI, a fault proxy) over a source's transport.
	router  *serving.Router
	readyIn map[string]time.Duration
	proxies map[string]*faultProxy
	refusal *deadLetterRefusal         // the nemesis's switch on the dead-letter sinks
	runs    map[string]*sourceRun      // each source's dispatcher, by source name, to restart one
	gates   map[string]*activator.Gate // by function: its readiness, as deliveries wait on it
	pings   atomic.Int64
	sources []*source.Source
	spool   *source.FileSpool
	ctx     context.Context // cancelled when Close begins
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Up starts everything and returns once every function is ready and every
// source has joined its consumer group. On error it undoes what it started.
func Up(ctx context.Context, opts Options) (p *Plane, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	opts.Naming = opts.Naming.OrDefault()
	// The returns below set p to nil on error: undo through started.
	started := &Plane{opts: opts, services: map[string]*serving.Service{}, readyIn: map[string]time.Duration{},
		gates: map[string]*activator.Gate{}, router: serving.NewRouter(source.Transport())}
	started.ctx, started.cancel = context.WithCancel(context.Background())
	p = started
	defer func() {
		if err != nil {
			started.Close()
			p = nil
		}
	}()
	step := func(format string, args ...any) { fmt.Fprintf(opts.Progress, "  "+format+"\n", args...) }

	set, err := manifests.Load(opts.Manifests)
	if err != nil {
		return nil, err
	}
	if len(opts.Functions) == 0 {
		opts.Functions = servicesOf(set)
		p.opts.Functions = opts.Functions
	}
	if err := CheckEnv(opts.Env, opts.Functions); err != nil {
		return nil, err
	}
	if err := checkScale(opts.Scale, opts.Functions); err != nil {
		return nil, err
	}
	if err := manifests.Resolve(set, manifests.WithServices(opts.Functions...)); err != nil {
		return nil, err
	}
	p.Set = set
	step("manifests: %d topics, %d sinks, %d sources, %d bindings from %s", len(set.Topics), len(set.Sinks), len(set.Sources), len(set.Bindings), opts.Manifests)
	if p.opts.Command == nil {
		if p.opts.Command, err = buildFunctions(ctx, opts.FunctionsDir, opts.Functions, filepath.Join(opts.StateDir, BuildsDir), step); err != nil {
			return nil, err
		}
	}

	if err := os.MkdirAll(filepath.Join(opts.StateDir, "logs"), 0o755); err != nil {
		return nil, err
	}
	service := cmp.Or(opts.TraceService, "kn-eventing-local")
	tracing.SetConversation(opts.TraceConversation)
	if p.stopTracing, err = tracing.Setup(ctx, service); err != nil {
		return nil, err
	}
	if tracing.Enabled() {
		step("tracing: spans of the plane (%s) and of every function go to %s", service,
			cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")))
	}
	p.metrics = planemetrics.New(subscribers(set), opts.Naming)
	if err := p.setupToken(); err != nil {
		return nil, err
	}
	if err := p.startKafka(ctx, step); err != nil {
		return nil, err
	}
	if err := p.startHTTP(ctx, step); err != nil {
		return nil, err
	}
	if err := p.startFunctions(ctx, step); err != nil {
		return nil, err
	}
	p.metrics.Register(newServiceMetrics(p))
	if err := p.startSources(ctx, step); err != nil {
		return nil, err
	}
	return p, p.writeEndpoints()
}

func servicesOf(set *manifests.Set) []string {
	var out []string
	for _, s := range set.Sources {
		for _, d := range []*manifests.Destination{&s.Sink, s.Delivery.DeadLetterSink} {
			if d != nil && d.Ref != nil && d.Ref.Kind == manifests.KindService && !slices.Contains(out, d.Ref.Name) {
				out = append(out, d.Ref.Name)
			}
		}
	}
	return out
}

// brokerWarning passes the embedded broker's warnings (a log cut at a
// corrupt entry on load: records lost; a write to its directory that
// failed) to the plane's log and, at most one a second, to its progress
// lines, where whoever runs it sees them.
func (p *Plane) brokerWarning() func(string) {
	var mu sync.Mutex
	var last time.Time
	var held int
	return func(msg string) {
		p.opts.Log.Warn("embedded kafka", "warning", msg)
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			held++
			return
		}
		more := ""
		if held > 0 {
			more = fmt.Sprintf(" (and %d more in the plane's log)", held)
		}
		last, held = time.Now(), 0
		fmt.Fprintf(p.opts.Progress, "  kafka (embedded) WARNING: %s%s\n", msg, more)
	}
}

func (p *Plane) startKafka(ctx context.Context, step func(string, ...any)) error {
	var opts []broker.Option
	if len(p.opts.Brokers) > 0 {
		opts = append(opts, broker.WithBootstrapServers(p.opts.Brokers...))
	} else {
		if p.opts.BrokerPort != 0 {
			opts = append(opts, broker.WithPort(p.opts.BrokerPort))
		}
		if p.opts.BrokerDataDir != "" {
			opts = append(opts, broker.WithDataDir(p.opts.BrokerDataDir))
			if p.opts.BrokerSync {
				opts = append(opts, broker.WithSyncWrites())
			}
		}
		opts = append(opts, broker.WithWarnings(p.brokerWarning()))
	}
	cluster, err := broker.Start(opts...)
	if err != nil {
		return err
	}
	p.cluster = cluster
	p.Brokers = cluster.BootstrapServers()
	cfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithNaming(p.opts.Naming), broker.WithClientID(p.opts.Naming.ClientID("plane")))
	if err != nil {
		return err
	}
	p.saramaCfg = cfg
	if err := broker.WaitReady(ctx, p.Brokers, cfg, 30*time.Second); err != nil {
		return err
	}
	if p.client, err = sarama.NewClient(p.Brokers, cfg); err != nil {
		return fmt.Errorf("kafka %s: %w", strings.Join(p.Brokers, ","), err)
	}
	if p.admin, err = sarama.NewClusterAdminFromClient(p.client); err != nil {
		return err
	}
	p.metrics.Register(planemetrics.LagCollector(p.client, lagGroups(p.Set), 5*time.Second, p.opts.Naming))
	var topicOpts []broker.TopicOption
	if p.opts.TopicReplicas > 0 || p.opts.TopicMinInsync > 0 {
		topicOpts = append(topicOpts, broker.OverrideReplication(p.opts.TopicReplicas, p.opts.TopicMinInsync))
	}
	if cluster.Embedded() {
		topicOpts = append(topicOpts, broker.CapReplication())
	}
	res, err := broker.EnsureTopics(ctx, p.admin, p.Set.Topics, topicOpts...)
	if err != nil {
		return err
	}
	kind := "external"
	switch {
	case cluster.Embedded() && p.opts.BrokerDataDir != "":
		kind = "embedded (kfake, its log in " + p.opts.BrokerDataDir + ", written before every answer"
		if p.opts.BrokerSync {
			kind += " and synced"
		}
		kind += ")"
	case cluster.Embedded():
		kind = "embedded (kfake, in memory)"
	}
	shape := ""
	if p.opts.TopicReplicas > 0 {
		shape = fmt.Sprintf(" (replicas %d", p.opts.TopicReplicas)
		if p.opts.TopicMinInsync > 0 {
			shape += fmt.Sprintf(", min.insync.replicas %d", p.opts.TopicMinInsync)
		}
		shape += ")"
	}
	step("kafka: %s at %s; topics created %d%s, existing %d", kind, strings.Join(p.Brokers, ","), len(res.Created), shape, len(res.Existing))
	// The ingress's producer gets its own client, so its own connections:
	// a broker serves one request per connection at a time (kfake
	// strictly), and the producer allows one request in flight, so on a
	// client shared with a reader every publish waited behind that
	// reader's long-poll fetch (measured: the sink's SendMessage p50 4-18
	// ms shared, 1.2-1.8 ms alone). Closing the producer closes its client.
	sinkCfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithNaming(p.opts.Naming), broker.WithClientID(p.opts.Naming.ClientID("plane-sink")))
	if err != nil {
		return err
	}
	if p.producer, err = sarama.NewSyncProducer(p.Brokers, sinkCfg); err != nil {
		return fmt.Errorf("kafka sink producer on %s: %w", strings.Join(p.Brokers, ","), err)
	}
	return nil
}

func (p *Plane) startHTTP(ctx context.Context, step func(string, ...any)) error {
	if dp := p.opts.DataPlane; dp != nil {
		url, err := dp.StartIngress(ctx, p)
		if err != nil {
			return fmt.Errorf("%s ingress: %w", dp.Name(), err)
		}
		p.IngressURL = strings.TrimRight(url, "/")
		p.publicIngressURL = p.IngressURL // Knative's receiver is bound to loopback (knlocal/knplane)
		step("kafka sinks: %s (%d ingresses, %s data plane)", p.IngressURL, len(p.Set.Sinks), dp.Name())
		return p.startAPI(step)
	}
	sinkOpts, err := p.largeRecordProducers()
	if err != nil {
		return err
	}
	p.sinks = sink.New(p.producer, p.Set.Sinks, append(sinkOpts, sink.WithLogger(p.opts.Log))...)
	paths := map[string]string{}
	for _, k := range p.Set.Sinks {
		paths[sink.Path(k.Namespace, k.Name)] = k.Name
	}
	p.refusal = &deadLetterRefusal{paths: deadLetterPaths(p.Set), next: p.sinks}
	ingress := p.metrics.Ingress(p.refusal, paths)
	host := cmp.Or(p.opts.Host, "127.0.0.1")
	if door.Loopback(host) {
		if p.ingress, p.IngressURL, err = serve("ingress", host, p.opts.IngressPort, ingress); err != nil {
			return err
		}
		p.publicIngressURL = p.IngressURL
		step("kafka sinks: %s (%d ingresses)", p.IngressURL, len(p.Set.Sinks))
		return p.startAPI(step)
	}
	// Bound where others can reach: the door wants the token. The
	// functions (K_SINK) and the sources' dead letters use a loopback door
	// of their own, open as the default one is.
	if p.publicIngress, p.publicIngressURL, err = serve("ingress", host, p.opts.IngressPort, door.Require(p.token, nil, ingress)); err != nil {
		return err
	}
	if p.ingress, p.IngressURL, err = serve("ingress (loopback)", "127.0.0.1", 0, ingress); err != nil {
		return err
	}
	step("kafka sinks: %s (%d ingresses); bound to %s, so closed: they want the bearer token in %s",
		p.publicIngressURL, len(p.Set.Sinks), host, p.tokenFile)
	return p.startAPI(step)
}

// startAPI serves the plane's API (and webhook, dashboard) by the same
// rule as the ingress: on loopback open; bound elsewhere, behind the
// token, with an open loopback twin for the functions.
func (p *Plane) startAPI(step func(string, ...any)) (err error) {
	api := p.apiHandler()
	host := cmp.Or(p.opts.Host, "127.0.0.1")
	if door.Loopback(host) {
		if p.api, p.APIURL, err = serve("api", host, p.opts.APIPort, api); err != nil {
			return err
		}
		p.publicAPIURL = p.APIURL
		step("plane api: %s", p.APIURL)
		return nil
	}
	apiOpen := func(r *http.Request) bool {
		return (r.Method == http.MethodGet && r.URL.Path == "/healthz") || (p.opts.Open != nil && p.opts.Open(r))
	}
	if p.publicAPI, p.publicAPIURL, err = serve("api", host, p.opts.APIPort, door.Require(p.token, apiOpen, api)); err != nil {
		return err
	}
	if p.api, p.APIURL, err = serve("api (loopback)", "127.0.0.1", 0, api); err != nil {
		return err
	}
	step("plane api: %s; bound to %s, so closed: it wants the bearer token in %s", p.publicAPIURL, host, p.tokenFile)
	return nil
}

// serve starts an HTTP server for h on host:port and returns it with its
// URL. A server bound to every interface (0.0.0.0, ::) is addressed
// through loopback, the one address of it sure to answer here.
func serve(name, host string, port int, h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	dial := addr.String()
	if addr.IP.IsUnspecified() {
		dial = net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port))
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	return srv, "http://" + dial, nil
}

// setupToken reads or makes the plane's token and keeps it where the
// commands find it (endpoints.json names the file). Every plane has one,
// bound on loopback too: the dashboard's replay asks for it always.
func (p *Plane) setupToken() error {
	if p.opts.TokenFile != "" {
		t, err := door.ReadFile(p.opts.TokenFile)
		if err != nil {
			return err
		}
		p.token = t
		p.tokenFile, err = filepath.Abs(p.opts.TokenFile)
		return err
	}
	t := strings.TrimSpace(p.opts.Token)
	if strings.ContainsAny(t, " \t\r\n") {
		return fmt.Errorf("%s: the token must be one line without spaces", p.opts.Naming.Env(door.TokenVar))
	}
	if t == "" {
		var err error
		if t, err = door.NewToken(); err != nil {
			return err
		}
	}
	p.token, p.tokenFile = t, filepath.Join(p.opts.StateDir, door.FileName)
	return door.WriteFile(p.tokenFile, t)
}

// Token is the plane's bearer token.
func (p *Plane) Token() string { return p.token }

// TokenFile is the file holding Token.
func (p *Plane) TokenFile() string { return p.tokenFile }

// apiHandler serves what a person wants to look at with curl, and
// whatever Options.Routes adds.
func (p *Plane) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/endpoints", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, p.Endpoints()) })
	mux.HandleFunc("GET /api/sources", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, p.SourceStats()) })
	mux.HandleFunc("GET /api/deadletters/unsent", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, p.Unsent()) })
	mux.HandleFunc("GET /api/readiness", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, p.Readiness()) })
	mux.HandleFunc("GET /api/services", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, p.Services()) })
	mux.Handle("GET /metrics", p.metrics.Handler())
	if p.opts.Routes != nil {
		p.opts.Routes(p, mux)
	}
	return mux
}

// WriteJSON answers v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// largeRecordProducers gives each topic whose max.message.bytes is above
// what the default producer sends (the dead-letter topics: a dead letter
// is a record plus its error, so it must fit where the record did) a
// producer that allows it. One producer per limit, each with its own
// client, so the default producer keeps its batches within what the other
// topics take.
func (p *Plane) largeRecordProducers() ([]sink.Option, error) {
	byLimit := map[int][]string{}
	for _, t := range p.Set.Topics {
		v, ok := t.Config["max.message.bytes"]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("KafkaTopic %s: max.message.bytes %q is not a positive number", t.Name, v)
		}
		if n > p.saramaCfg.Producer.MaxMessageBytes {
			byLimit[n] = append(byLimit[n], t.TopicName)
		}
	}
	var opts []sink.Option
	for limit, topics := range byLimit {
		cfg := *p.saramaCfg
		cfg.Producer.MaxMessageBytes = limit
		cfg.ClientID = p.opts.Naming.ClientID(fmt.Sprintf("plane-sink-%d", limit))
		producer, err := sarama.NewSyncProducer(p.Brokers, &cfg)
		if err != nil {
			return nil, fmt.Errorf("producer for %s: %w", strings.Join(topics, ", "), err)
		}
		p.large = append(p.large, producer)
		for _, t := range topics {
			opts = append(opts, sink.WithTopicProducer(t, producer))
		}
	}
	return opts, nil
}

// EnvOf is the environment the plane gives a function beyond its
// func.yaml: what Options.FunctionEnv gives it, K_SINK from its
// SinkBinding, and Options.Env over both; Options.RouteEnv's changes are
// made as each process starts, and are not in it.
func (p *Plane) EnvOf(name string) map[string]string { return p.localEnv(name) }

func (p *Plane) localEnv(name string) map[string]string {
	env := map[string]string{}
	if p.opts.FunctionEnv != nil {
		maps.Copy(env, p.opts.FunctionEnv(p, name))
	}
	if b, ok := p.Set.BindingFor(p.namespace(), name); ok {
		if url, err := p.resolve(context.Background(), b.Sink); err == nil {
			env["K_SINK"] = url
		}
	}
	for k, v := range p.opts.Env {
		if fn, key, ok := strings.Cut(k, "/"); ok {
			if fn == name {
				env[key] = v
			}
			continue
		}
		env[k] = v
	}
	return env
}

func (p *Plane) namespace() string {
	if p.Set.Namespace != "" {
		return p.Set.Namespace
	}
	return manifests.DefaultNamespace
}

func (p *Plane) startFunctions(ctx context.Context, step func(string, ...any)) error {
	errs := make([]error, len(p.opts.Functions))
	var wg sync.WaitGroup
	for i, name := range p.opts.Functions {
		wg.Go(func() { errs[i] = p.startService(ctx, name, step) })
	}
	wg.Wait()
	if err := joinStartErrors(errs); err != nil {
		return err
	}
	names := slices.Sorted(slices.Values(p.opts.Functions))
	var urls []string
	for _, n := range names {
		st := p.Service(n).Status()
		urls = append(urls, fmt.Sprintf("%s=%s (%s)", n, st.URL, scaleWords(st)))
	}
	step("functions ready: %s", strings.Join(urls, " "))
	for _, n := range names {
		// Probed at the service, not through a fault proxy in front: ready
		// while a replica is, or while it is at zero (its activator starts
		// one for the first delivery).
		g := activator.New(n, activator.HTTPProbe(func() string { return p.FunctionURL(n) }, 2*time.Second), p.opts.Log, p.opts.Progress)
		p.mu.Lock()
		p.gates[n] = g
		p.mu.Unlock()
		p.wg.Go(func() { g.Run(p.ctx, time.Second) })
	}
	return nil
}

// scaleWords says a service's replicas and bounds for a progress line.
func scaleWords(st serving.Status) string {
	return fmt.Sprintf("%d ready, scale %s", st.Ready, bounds(serving.Scale{Min: st.Min, Max: st.Max}))
}

// bounds writes a scale's bounds, max 0 as Knative reads it.
func bounds(s serving.Scale) string {
	if s.Max == 0 {
		return fmt.Sprintf("%d..unbounded", s.Min)
	}
	return fmt.Sprintf("%d..%d", s.Min, s.Max)
}

// gate is a function's readiness gate (nil before it started).
func (p *Plane) gate(name string) *activator.Gate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gates[name]
}

// Readiness is each function's readiness as the plane's deliveries wait on
// it (see package activator), by function name.
func (p *Plane) Readiness() map[string]activator.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]activator.State, len(p.gates))
	for n, g := range p.gates {
		out[n] = g.State()
	}
	return out
}

// scaleFor is a function's scale: its func.yaml's deploy.options.scale,
// then Options.Scale, then the topology's AdjustScale, checked by
// Knative's rules.
func (p *Plane) scaleFor(name string, step func(string, ...any)) (serving.Scale, error) {
	var sc serving.Scale
	f, err := manifests.LoadFunc(filepath.Join(p.opts.FunctionsDir, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return sc, err
	}
	if f != nil && f.Runtime != "go" {
		// Every function this plane starts is a Go program (func-go's
		// runtime, or the Command serving them): a func.yaml naming another
		// would be built by func deploy as something else.
		return sc, fmt.Errorf("%s: runtime %q: this plane runs Go functions (runtime: go)", f.File, f.Runtime)
	}
	if f != nil {
		sc = serving.ScaleOf(f.Scale)
		if err := sc.WithDefaults().Validate(); err != nil {
			return sc, fmt.Errorf("%s: deploy.options.%w", f.File, err)
		}
	}
	for _, key := range []string{"*", name} {
		if o, ok := p.opts.Scale[key]; ok {
			sc.Min, sc.Max = o.Min, o.Max
			if o.Target > 0 {
				sc.Metric, sc.Target, sc.Utilization = o.Metric, o.Target, o.Utilization
			}
		}
	}
	if p.opts.AdjustScale != nil {
		adjusted, why := p.opts.AdjustScale(p, name, sc)
		if adjusted != sc {
			step("function %s: scale %s, not %s: %s", name, bounds(adjusted), bounds(sc), why)
		}
		sc = adjusted
	}
	sc = sc.WithDefaults()
	if err := sc.Validate(); err != nil {
		return sc, fmt.Errorf("function %s: %w", name, err)
	}
	return sc, nil
}

// startService starts a function as a Knative Service: its initial
// replicas (Knative's initial-scale of 1, or min-scale if more) behind one
// address, with its autoscaler and activator.
func (p *Plane) startService(ctx context.Context, name string, step func(string, ...any)) error {
	sc, err := p.scaleFor(name, step)
	if err != nil {
		return err
	}
	first := true
	svc, err := serving.Start(ctx, serving.Config{
		Name: name, Scale: sc, Windows: p.opts.Windows, Initial: 1,
		Start: func(ctx context.Context, id int) (*runner.Process, error) {
			t0 := time.Now()
			proc, err := p.startReplica(ctx, name, sc)
			if err == nil && first {
				first = false
				p.mu.Lock()
				p.readyIn[name] = time.Since(t0)
				p.mu.Unlock()
			}
			return proc, err
		},
		Log: p.opts.Log, Progress: p.opts.Progress,
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.services[name] = svc
	p.mu.Unlock()
	p.router.Add(svc)
	return nil
}

// startReplica starts one process of a function on a free port and waits
// until it is ready. Every replica logs to the function's one log file. A
// free port is found by binding :0 and letting go, so another socket (an
// outgoing connection's ephemeral port, say) can take it before the
// function binds it: that one case is retried on a new port.
func (p *Plane) startReplica(ctx context.Context, name string, sc serving.Scale) (*runner.Process, error) {
	env := p.localEnv(name)
	// What the function may check its store against: a store only one
	// process may open is refused when more may run (package serving).
	env[p.opts.Naming.Env("MAX_SCALE")] = strconv.Itoa(sc.Max)
	if p.opts.RouteEnv != nil {
		if err := p.opts.RouteEnv(name, env); err != nil {
			return nil, fmt.Errorf("routing %s's environment: %w", name, err)
		}
	}
	for attempt := 1; ; attempt++ {
		proc, err := runner.Start(runner.Spec{
			Name: name, Dir: filepath.Join(p.opts.FunctionsDir, name), Local: env,
			Command: p.opts.Command(name), LogDir: filepath.Join(p.opts.StateDir, "logs"), Inherit: p.inherited(),
		})
		if err != nil {
			return nil, err
		}
		err = proc.WaitReady(ctx, 60*time.Second)
		if err == nil {
			return proc, nil
		}
		proc.Kill()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		p.opts.Log.Warn("function port taken before it bound it; retrying on another", "function", name, "attempt", attempt)
	}
}

// inherited are the descriptors every function process inherits: the
// state directory's lock.
func (p *Plane) inherited() []*os.File {
	if p.opts.StateLock == nil {
		return nil
	}
	return []*os.File{p.opts.StateLock.File()}
}

// ReadyIn is how long each function's first replica took from process
// start to answering its readiness probe.
func (p *Plane) ReadyIn() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.readyIn)
}

// Restarts counts each function's replicas that ended unplanned (a crash,
// a kill) and were replaced, as a ReplicaSet replaces a pod.
func (p *Plane) Restarts() map[string]int {
	out := map[string]int{}
	for name, st := range p.Services() {
		out[name] = int(st.Replaced)
	}
	return out
}

// Service is a function's service (nil if it is not running).
func (p *Plane) Service(name string) *serving.Service {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.services[name]
}

// Services reports every function's replicas and scaling steps.
func (p *Plane) Services() map[string]serving.Status {
	p.mu.Lock()
	svcs := maps.Clone(p.services)
	p.mu.Unlock()
	out := make(map[string]serving.Status, len(svcs))
	for name, svc := range svcs {
		out[name] = svc.Status()
	}
	return out
}

// resolve turns a manifest destination into a URL: a Service is a function
// process, a KafkaSink is its ingress path.
func (p *Plane) resolve(_ context.Context, d manifests.Destination) (string, error) {
	if d.Ref == nil {
		return d.URI, nil
	}
	var base string
	switch d.Ref.Kind {
	case manifests.KindService:
		svc := p.Service(d.Ref.Name)
		if svc == nil {
			return "", fmt.Errorf("service %s is not running", d.Ref.Name)
		}
		base = svc.URL()
		if f, ok := p.proxies[d.Ref.Name]; ok {
			base = f.server.URL
		}
	case manifests.KindKafkaSink:
		ns := d.Ref.Namespace
		if ns == "" {
			ns = p.namespace()
		}
		if _, ok := p.Set.Sink(ns, d.Ref.Name); !ok {
			return "", fmt.Errorf("no KafkaSink %s/%s", ns, d.Ref.Name)
		}
		base = sink.URL(p.IngressURL, ns, d.Ref.Name)
	default:
		return "", fmt.Errorf("cannot address a %s locally", d.Ref.Kind)
	}
	return strings.TrimSuffix(base, "/") + d.URI, nil
}

func (p *Plane) startSources(ctx context.Context, step func(string, ...any)) error {
	if err := p.startFaultProxies(); err != nil {
		return err
	}
	p.runPings(p.ctx)
	if dp := p.opts.DataPlane; dp != nil {
		if err := dp.StartSources(ctx, p); err != nil {
			return fmt.Errorf("%s sources: %w", dp.Name(), err)
		}
		step("sources running: %d (%s data plane)", len(p.Set.Sources), dp.Name())
		return nil
	}
	spool, err := source.NewFileSpool(filepath.Join(p.opts.StateDir, SpoolDir))
	if err != nil {
		return err
	}
	p.spool = spool
	holdLimit := p.opts.HoldLimit
	if holdLimit <= 0 {
		holdLimit = source.DefaultHoldLimit
	}
	for _, spec := range p.Set.Sources {
		opts := []source.Option{source.WithHTTPClient(&http.Client{Transport: p.router}), source.WithSaramaConfig(p.saramaCfg), source.WithClientID(p.opts.Naming.ClientID("source-" + spec.Name)), source.WithLogger(p.opts.Log),
			source.WithSpool(spool, spool.Dir()), source.WithHoldLimit(holdLimit)}
		if r := spec.Sink.Ref; r != nil && r.Kind == manifests.KindService && p.gate(r.Name) != nil {
			opts = append(opts, source.WithGate(p.gate(r.Name), p.opts.GateLimit))
		}
		if p.opts.DuplicateDelivery {
			opts = append(opts, source.WithDuplicateDelivery())
		}
		for _, o := range append(p.opts.Observers, p.metrics.Observer()) {
			opts = append(opts, source.WithObserver(o))
		}
		s, err := source.New(spec, p.Brokers, p.resolve, opts...)
		if err != nil {
			return err
		}
		p.sources = append(p.sources, s)
		p.runSource(spec.Name, s)
	}
	if err := p.awaitSourcesJoined(ctx, 60*time.Second); err != nil {
		return err
	}
	dup := ""
	if p.opts.DuplicateDelivery {
		dup = " (every event delivered twice)"
	}
	for name, rate := range p.opts.TransientFaults {
		dup += fmt.Sprintf("; %.0f%% of deliveries to %s answered 503", rate*100, name)
	}
	pings := ""
	if len(p.Set.Pings) > 0 {
		every := "on their schedules"
		if p.opts.PingEvery > 0 {
			every = "every " + p.opts.PingEvery.String()
		}
		pings = fmt.Sprintf(", %d ping sources %s", len(p.Set.Pings), every)
	}
	step("sources running: %d%s%s", len(p.sources), pings, dup)
	if p.opts.WatchManifests > 0 {
		p.wg.Go(func() { p.watchManifests(p.ctx, p.opts.WatchManifests) })
	}
	return nil
}

// FunctionURL is a function's one address: its service, whatever its
// replicas.
func (p *Plane) FunctionURL(name string) string {
	if svc := p.Service(name); svc != nil {
		return svc.URL()
	}
	return ""
}

// ReplicaURLs are where a function's replicas listen, oldest first: for
// what must reach each of them (a metrics scrape).
func (p *Plane) ReplicaURLs(name string) []string {
	var out []string
	for _, proc := range p.Replicas(name) {
		out = append(out, proc.URL)
	}
	return out
}

// Replicas are a function's processes, oldest first.
func (p *Plane) Replicas(name string) []*runner.Process {
	if svc := p.Service(name); svc != nil {
		return svc.Processes()
	}
	return nil
}

// PIDs gives each running function's oldest replica's process id, by
// function name (a function at zero has none); AllPIDs gives them all.
func (p *Plane) PIDs() map[string]int {
	out := map[string]int{}
	for name, pids := range p.AllPIDs() {
		if len(pids) > 0 {
			out[name] = pids[0]
		}
	}
	return out
}

// AllPIDs gives every replica's process id, by function name.
func (p *Plane) AllPIDs() map[string][]int {
	p.mu.Lock()
	names := slices.Collect(maps.Keys(p.services))
	p.mu.Unlock()
	out := make(map[string][]int, len(names))
	for _, name := range names {
		for _, proc := range p.Replicas(name) {
			out[name] = append(out[name], proc.PID())
		}
	}
	return out
}

// Process returns a function's oldest replica, for fault injection (nil
// at zero).
func (p *Plane) Process(name string) *runner.Process {
	if rs := p.Replicas(name); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// Kill ends a function's oldest replica at once, as a crash would; its
// service replaces it, as a ReplicaSet replaces a pod. It returns when the
// service has a ready replica again.
func (p *Plane) Kill(ctx context.Context, name string) error {
	old := p.Process(name)
	if old == nil {
		if p.Service(name) == nil {
			return fmt.Errorf("no function %s", name)
		}
		return fmt.Errorf("function %s is at zero replicas: nothing to kill", name)
	}
	old.Kill()
	return p.waitReplaced(ctx, name, old)
}

// waitReplaced waits until old has ended and left its service, and the
// service has a ready replica.
func (p *Plane) waitReplaced(ctx context.Context, name string, old *runner.Process) error {
	svc := p.Service(name)
	select {
	case <-old.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	for slices.Contains(svc.Processes(), old) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return svc.WaitReady(ctx, 1)
}

// Done is closed when Close begins: long-lived requests (a dashboard's
// event stream) end on it, so the API server's shutdown need not wait.
func (p *Plane) Done() <-chan struct{} { return p.ctx.Done() }

// StateDir is Options.StateDir.
func (p *Plane) StateDir() string { return p.opts.StateDir }

// SinkURL is the ingress of the KafkaSink name.
func (p *Plane) SinkURL(name string) string { return sink.URL(p.IngressURL, p.namespace(), name) }

// Tracing reports whether the plane's spans are being exported.
func (p *Plane) Tracing() bool { return tracing.Enabled() }

// Kafka is the plane's client, for reading topics; no KafkaSink ingress
// writes through it, so a reader's fetches never delay a function's
// publish. A caller that also produces while reading should produce
// through a client of its own, for the same reason.
func (p *Plane) Kafka() sarama.Client { return p.client }

// Metrics is the registry the plane serves at /metrics: its sources'
// deliveries, the sink ingress's requests, lag.
func (p *Plane) Metrics() prometheus.Gatherer { return p.metrics.Registry() }

// SaramaConfig is the client configuration the plane uses.
func (p *Plane) SaramaConfig() *sarama.Config { return p.saramaCfg }

// Embedded reports whether the broker is the in-process one.
func (p *Plane) Embedded() bool { return p.cluster != nil && p.cluster.Embedded() }

// SpoolDir (under the state directory) keeps the dead letters the
// dead-letter sinks did not take; see source.Spool.
const SpoolDir = "dead-letters-unsent"

// Unsent lists the dead letters waiting in the spool, by source name.
func (p *Plane) Unsent() map[string][]source.Unsent {
	out := map[string][]source.Unsent{}
	if p.spool == nil {
		return out
	}
	for i, s := range p.sources {
		if u, err := p.spool.List(s.ID()); err == nil && len(u) > 0 {
			out[p.Set.Sources[i].Name] = u
		}
	}
	return out
}

// SourceStats returns every source's counters by name.
func (p *Plane) SourceStats() map[string]source.Stats {
	out := map[string]source.Stats{}
	for i, s := range p.sources {
		out[p.Set.Sources[i].Name] = s.Stats()
	}
	return out
}

// SinkStats counts the KafkaSink ingress's requests, all sinks together:
// Accepted are the events written to Kafka.
func (p *Plane) SinkStats() sink.Counters {
	if p.sinks == nil {
		return sink.Counters{}
	}
	return p.sinks.Stats()
}

// Close stops the sources first (no new deliveries), then the functions
// (func-go's Stop flushes their outboxes), then the ingress and the broker.
func (p *Plane) Close() error {
	p.cancel()
	p.wg.Wait()
	if dp := p.opts.DataPlane; dp != nil {
		if err := dp.StopSources(); err != nil {
			p.opts.Log.Warn("stopping the data plane's sources", "dataplane", dp.Name(), "error", err)
		}
	}
	p.mu.Lock()
	svcs := slices.Collect(maps.Values(p.services))
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, svc := range svcs {
		wg.Go(func() { _ = svc.Close() })
	}
	wg.Wait()
	shutdown := func(s *http.Server) {
		if s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
		}
	}
	for _, f := range p.proxies {
		f.server.Close()
	}
	shutdown(p.ingress)
	if dp := p.opts.DataPlane; dp != nil {
		if err := dp.Close(); err != nil {
			p.opts.Log.Warn("stopping the data plane", "dataplane", dp.Name(), "error", err)
		}
	}
	shutdown(p.api)
	shutdown(p.publicIngress)
	shutdown(p.publicAPI)
	for _, lp := range p.large {
		lp.Close()
	}
	if p.producer != nil {
		p.producer.Close()
	}
	if p.admin != nil {
		p.admin.Close()
	} else if p.client != nil {
		p.client.Close()
	}
	if p.cluster != nil {
		p.cluster.Close()
	}
	if p.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.stopTracing(ctx)
		cancel()
	}
	// Only this process's own: without a lock on the directory, another
	// plane may have written it since.
	if ep, err := ReadEndpoints(p.opts.StateDir); err == nil && ep.PID == os.Getpid() {
		_ = os.Remove(filepath.Join(p.opts.StateDir, EndpointsFile))
	}
	return nil
}

// BrokerDir is where, under the state directory, `orderflow up` keeps the
// embedded broker's log (Options.BrokerDataDir).
const BrokerDir = "kafka"

// EndpointsFile is where `up` tells the other commands how to reach it.
const EndpointsFile = "endpoints.json"

// Endpoints is the content of EndpointsFile.
type Endpoints struct {
	PID      int      `json:"pid"`
	Embedded bool     `json:"embedded"`
	Brokers  []string `json:"brokers"`
	Ingress  string   `json:"ingress"`
	API      string   `json:"api"`
	// TokenFile holds the bearer token; TokenRequired says whether Ingress
	// and API ask for it (they are bound to a non-loopback address).
	TokenFile     string            `json:"tokenFile"`
	TokenRequired bool              `json:"tokenRequired"`
	Sinks         map[string]string `json:"sinks"`
	Functions     map[string]string `json:"functions"`
	DLQTopics     map[string]string `json:"deadLetterTopics"`
	Topics        []string          `json:"topics"`
	StateDir      string            `json:"stateDir"`
	// Databases are the functions' <prefix>DATABASE_URLs (only those set
	// locally, without a password; ORDERFLOW_DATABASE_URL under orderflow's
	// naming), for tools that read a live read model (orderflow replay
	// --verify).
	Databases map[string]string `json:"databases,omitempty"`
}

// Endpoints describes the running plane.
func (p *Plane) Endpoints() Endpoints {
	e := Endpoints{PID: os.Getpid(), Embedded: p.Embedded(), Brokers: p.Brokers, Ingress: p.publicIngressURL, API: p.publicAPIURL,
		TokenFile: p.tokenFile, TokenRequired: p.publicAPI != nil,
		Sinks: map[string]string{}, Functions: map[string]string{}, DLQTopics: map[string]string{}, StateDir: p.opts.StateDir}
	for _, s := range p.Set.Sinks {
		e.Sinks[s.Name] = sink.URL(p.publicIngressURL, s.Namespace, s.Name)
	}
	for _, n := range p.opts.Functions {
		e.Functions[n] = p.FunctionURL(n)
		if u := withoutPassword(p.localEnv(n)[p.opts.Naming.Env("DATABASE_URL")]); u != "" {
			if e.Databases == nil {
				e.Databases = map[string]string{}
			}
			e.Databases[n] = u
		}
	}
	for _, s := range p.Set.Sources {
		if dl := s.Delivery.DeadLetterSink; dl != nil && dl.Ref != nil && dl.Ref.Kind == manifests.KindKafkaSink {
			ns := dl.Ref.Namespace
			if ns == "" {
				ns = s.Namespace
			}
			if k, ok := p.Set.Sink(ns, dl.Ref.Name); ok {
				e.DLQTopics[s.Name] = k.Topic
			}
		}
	}
	for _, t := range p.Set.Topics {
		e.Topics = append(e.Topics, t.TopicName)
	}
	return e
}

// withoutPassword drops a password from a database URL: the endpoints file
// is for any local tool to read, not a place for credentials.
func withoutPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ""
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (p *Plane) writeEndpoints() error {
	b, _ := json.MarshalIndent(p.Endpoints(), "", "  ")
	return os.WriteFile(filepath.Join(p.opts.StateDir, EndpointsFile), b, 0o644)
}

// ReadEndpoints loads the endpoints a running `up` wrote.
func ReadEndpoints(stateDir string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(filepath.Join(stateDir, EndpointsFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Named after the program asking, which is the plane's own CLI.
			prog := filepath.Base(os.Args[0])
			return e, fmt.Errorf("no %s is running with state in %s (start one with `%s up`, or pass --state-dir)", prog, stateDir, prog)
		}
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%s: %w", filepath.Join(stateDir, EndpointsFile), err)
	}
	return e, nil
}

// subscribers maps each KafkaSource ("namespace/name") to the Service it
// delivers to, the function label of the dead-letter metrics.
func subscribers(set *manifests.Set) map[string]string {
	out := map[string]string{}
	for _, s := range set.Sources {
		if r := s.Sink.Ref; r != nil {
			out[s.Namespace+"/"+s.Name] = r.Name
		}
	}
	return out
}

// lagGroups is every KafkaSource's consumer group and topics.
func lagGroups(set *manifests.Set) []lag.Group {
	var out []lag.Group
	for _, s := range set.Sources {
		out = append(out, lag.Group{Name: s.ConsumerGroup, Topics: s.Topics})
	}
	return out
}

// awaitSourcesJoined waits until every source's consumer group has given
// it partitions. When some have not within limit, the error names each of
// them with its group and the group's latest error: "did not join" alone
// leaves an operator (or a CI log) nothing to go on.
func (p *Plane) awaitSourcesJoined(ctx context.Context, limit time.Duration) error {
	deadline := time.After(limit)
	for _, s := range p.sources {
		select {
		case <-s.Ready():
			continue
		case <-deadline:
		case <-ctx.Done():
			return ctx.Err()
		}
		var waiting []string
		for i, s := range p.sources {
			select {
			case <-s.Ready():
				continue
			default:
			}
			why := "no error reported yet"
			if err := s.LastGroupError(); err != nil {
				why = "last error: " + err.Error()
			}
			waiting = append(waiting, fmt.Sprintf("%s (group %s, topics %s): %s",
				s.ID(), p.Set.Sources[i].ConsumerGroup, strings.Join(p.Set.Sources[i].Topics, ","), why))
		}
		return fmt.Errorf("%d of %d sources did not join their consumer groups within %s: %s",
			len(waiting), len(p.sources), limit, strings.Join(waiting, "; "))
	}
	return nil
}

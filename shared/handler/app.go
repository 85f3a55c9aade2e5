// Package handler is the thin edge every orderflow function shares. A
// function registers, per event type, a reaction that reads its state,
// calls its pure decision and writes the result; the edge does the rest the
// same way everywhere:
//
//	decode -> validate against the schema -> dedupe (processed ids)
//	-> react -> commit state + outbox in one transaction -> publish
//
// and maps every failure to the HTTP status Knative's dispatcher expects:
// 4xx means "this event is wrong, do not retry" (it goes to the dead-letter
// sink with our JSON error as knativeerrordata), 409/5xx mean "try again".
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/gctune"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/tracing"
)

// Config is what every function reads from its environment.
type Config struct {
	// DatabaseURL selects the store: sqlite:///path/file.db (default
	// ./<function>.db) or postgres://...
	DatabaseURL string `envconfig:"ORDERFLOW_DATABASE_URL"`
	// Sink is where the function publishes; a SinkBinding sets it.
	Sink string `envconfig:"K_SINK"`
	// RelayInterval is how often the outbox is swept besides the sweep
	// that follows each handled event.
	RelayInterval time.Duration `envconfig:"ORDERFLOW_RELAY_INTERVAL" default:"1s"`
	// RelayConcurrency is how many partition keys the relay publishes at
	// once, one event in flight per key so each key keeps its order. With
	// one at a time, a burst of new orders' first events holds back every
	// later event of the orders before them.
	RelayConcurrency int    `envconfig:"ORDERFLOW_RELAY_CONCURRENCY" default:"16"`
	LogLevel         string `envconfig:"ORDERFLOW_LOG_LEVEL" default:"info"`
	// Retention is how long processed ids and published outbox rows are
	// kept; older ones are deleted every PruneInterval, so the store stops
	// growing with every delivery. An id must outlive every redelivery of
	// its event, which a KafkaSource makes while it retries (prod: 9
	// attempts, exponential from 0.5 s, about 4 minutes, plus a 10 s
	// timeout each), after a restart of its dispatcher (what it had not
	// committed, however long it was down) and on `orderflow dlq replay
	// --to topic` (every consumer reads the letter again, same id). A week
	// covers a dispatcher outage of days and a replay within the week; an
	// hour is the least accepted.
	// MaxScale is the most replicas of this function that may run at
	// once (func.yaml's deploy.options.scale.max; 0: unbounded, as in
	// Knative; -1, the default: not said). The local plane sets it; on a
	// cluster func.yaml's run.envs may. A SQLite store is one process's
	// file, so with more than one replica possible it is refused at start.
	MaxScale int `envconfig:"ORDERFLOW_MAX_SCALE" default:"-1"`
	// GroupCommit lets deliveries in flight share one transaction and one
	// commit (store.DB.InTx). On by default, replicas on one PostgreSQL
	// included; false makes every delivery commit alone.
	GroupCommit   bool          `envconfig:"ORDERFLOW_GROUP_COMMIT" default:"true"`
	Retention     time.Duration `envconfig:"ORDERFLOW_RETENTION" default:"168h"`
	PruneInterval time.Duration `envconfig:"ORDERFLOW_PRUNE_INTERVAL" default:"10m"`
	// AllowShortRetention lowers the least retention from MinRetention to
	// MinShortRetention, for soaks and tests that must see pruning within
	// minutes: it covers the base KafkaSource's retries but not a
	// dispatcher outage or a replay from the dead-letter topic.
	AllowShortRetention bool `envconfig:"ORDERFLOW_ALLOW_SHORT_RETENTION" default:"false"`
}

// MinRetention is the shortest ORDERFLOW_RETENTION accepted: well past a
// KafkaSource's whole retry schedule.
const MinRetention = time.Hour

// MinShortRetention is the least ORDERFLOW_RETENTION with
// ORDERFLOW_ALLOW_SHORT_RETENTION: twice the base KafkaSource's whole retry
// schedule (6 attempts of up to 10 s each plus 6.2 s of backoff: 66 s), so
// every retry of a delivery still finds its id.
const MinShortRetention = 2 * time.Minute

// MinPruneInterval is the least ORDERFLOW_PRUNE_INTERVAL.
const MinPruneInterval = time.Second

// MinRelayInterval is the least ORDERFLOW_RELAY_INTERVAL.
const MinRelayInterval = 10 * time.Millisecond

// App is one function's edge.
type App struct {
	name       string
	source     string
	migrations []string
	// projections are the read models and their code versions (WithProjections).
	projections []store.Projection
	publishes   bool

	onStart []func(ctx context.Context, db *store.DB) error

	routes  map[string]route
	ticks   map[string]route
	queries map[string]direct
	ignored map[string]bool
	get     *getRoute

	onEmitted func(ctx context.Context, tx *store.Tx, cause event.Event, out []Emitted) error
	recent    recentIDs

	cfg   Config
	db    *store.DB
	relay *Relay
	log   *slog.Logger

	faults faultPoints

	metrics       *metrics
	onCommitted   []func(cause event.Event, emitted []event.Event)
	traceShutdown func(context.Context) error
	invoked       atomic.Bool // once the first delivery is traced (faas.coldstart)

	ready    atomic.Bool
	health   storeHealth
	runCtx   context.Context // ends when Stop begins
	stopping context.CancelFunc
	wg       sync.WaitGroup
}

// Option configures an App.
type Option func(*App)

// WithMigrations gives the schema steps of the function's own tables.
func WithMigrations(steps ...string) Option {
	return func(a *App) { a.migrations = append(a.migrations, steps...) }
}

// WithStartHook runs fn after the store is migrated and before the function
// reports ready, for state that must exist before the first event (seed
// data, say). Its error fails the start.
func WithStartHook(fn func(ctx context.Context, db *store.DB) error) Option {
	return func(a *App) { a.onStart = append(a.onStart, fn) }
}

// WithProjections declares the function's read models and the version of
// the code that builds each: a store built by another version is refused
// at start rather than extended (store.CheckProjections).
func WithProjections(ps ...store.Projection) Option {
	return func(a *App) { a.projections = append(a.projections, ps...) }
}

// PrepareStore readies a store for the function: the edge's tables and its
// own, migrated; its projections' versions checked; its start hooks run.
// Start calls it on the live store, replay on a fresh one.
func (a *App) PrepareStore(ctx context.Context, db *store.DB) error {
	if err := db.Migrate(ctx, "orderflow", store.EdgeMigrations); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if err := db.Migrate(ctx, a.name, a.migrations); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if len(a.projections) > 0 {
		if err := db.Migrate(ctx, "orderflow-projections", store.ProjectionMigrations); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		if err := db.CheckProjections(ctx, a.name, a.projections); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	for _, hook := range a.onStart {
		if err := hook(ctx, db); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	return nil
}

// DefaultDatabaseURL is the store of a function when ORDERFLOW_DATABASE_URL
// is unset: a SQLite file named after it in the working directory.
func DefaultDatabaseURL(name string) string { return "sqlite://" + name + ".db" }

// Publishes declares that the function emits events, so it needs K_SINK.
func Publishes() Option { return func(a *App) { a.publishes = true } }

// New creates the edge of the function called name. It does no I/O; Start
// does.
func New(name string, opts ...Option) *App {
	a := &App{
		name:    name,
		source:  "/orderflow/" + name,
		routes:  map[string]route{},
		ticks:   map[string]route{},
		queries: map[string]direct{},
		ignored: map[string]bool{},
		log:     slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", name),
	}
	a.metrics = newMetrics(name)
	a.metrics.reg.MustRegister(outboxCollector{a}, storeCollector{a})
	for _, o := range opts {
		o(a)
	}
	return a
}

// Name is the function's name, also its consumer name in processed_events.
func (a *App) Name() string { return a.name }

// Source is the CloudEvents source of everything the function emits.
func (a *App) Source() string { return a.source }

// DB is the function's store; nil before Start.
func (a *App) DB() *store.DB { return a.db }

// Log is the function's structured logger.
func (a *App) Log() *slog.Logger { return a.log }

// Ignore lists types that arrive on the function's topics but need no
// reaction from it (its own events, or another step's). They are answered
// 200 and dropped on purpose, and so are their older versions.
func (a *App) Ignore(types ...string) {
	for _, t := range types {
		events.MustLookup(t)
		for _, v := range events.Accepted(t) {
			a.ignored[v] = true
		}
	}
}

// Start reads the configuration, opens and migrates the store and starts the
// outbox relay. func-go calls it beside the HTTP server, so Handle answers
// 503 (retry) until it is done.
func (a *App) Start(ctx context.Context) error {
	if err := ReadConfig(&a.cfg); err != nil {
		return fmt.Errorf("%s: bad configuration: %w", a.name, err)
	}
	if err := a.faults.load(); err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.cfg.LogLevel)); err != nil {
		return fmt.Errorf("%s: ORDERFLOW_LOG_LEVEL=%q: want debug, info, warn or error", a.name, a.cfg.LogLevel)
	}
	a.log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("function", a.name)
	// Before the first delivery: a function allocates much and keeps little
	// live, and Go's default collects too often for that (shared/gctune).
	gc, err := gctune.Apply()
	if err != nil {
		return fmt.Errorf("%s: bad configuration: %w", a.name, err)
	}
	a.log.Info("garbage collector", "settings", gc.Why)
	if a.cfg.RelayInterval < MinRelayInterval {
		// Every sweep reads the outbox: back to back they only load the
		// store (a handled event sweeps at once anyway).
		return fmt.Errorf("%s: ORDERFLOW_RELAY_INTERVAL=%s: want at least %s", a.name, a.cfg.RelayInterval, MinRelayInterval)
	}
	if a.cfg.AllowShortRetention && a.cfg.Retention < MinShortRetention {
		return fmt.Errorf("%s: ORDERFLOW_RETENTION=%s: must be at least %s even with ORDERFLOW_ALLOW_SHORT_RETENTION, longer than a KafkaSource's retries of a delivery", a.name, a.cfg.Retention, MinShortRetention)
	}
	if !a.cfg.AllowShortRetention && a.cfg.Retention < MinRetention {
		return fmt.Errorf("%s: ORDERFLOW_RETENTION=%s: must be at least %s, longer than any redelivery of an event (see docs/failure-handling.md, on the edge's tables; ORDERFLOW_ALLOW_SHORT_RETENTION=true allows %s for soaks and tests)", a.name, a.cfg.Retention, MinRetention, MinShortRetention)
	}
	if a.cfg.PruneInterval < MinPruneInterval {
		// Pruning back to back only burns CPU and holds the store's writer.
		return fmt.Errorf("%s: ORDERFLOW_PRUNE_INTERVAL=%s: want at least %s", a.name, a.cfg.PruneInterval, MinPruneInterval)
	}
	if a.cfg.RelayConcurrency < 1 {
		return fmt.Errorf("%s: ORDERFLOW_RELAY_CONCURRENCY=%d: must be at least 1", a.name, a.cfg.RelayConcurrency)
	}
	shutdown, err := tracing.Setup(ctx, a.name, tracing.FaaS(a.name)...)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	a.traceShutdown = shutdown
	dbURL := a.cfg.DatabaseURL
	if dbURL == "" {
		dbURL = DefaultDatabaseURL(a.name)
	}
	var sender *ce.Sender
	if a.publishes {
		if a.cfg.Sink == "" {
			return fmt.Errorf("%s: K_SINK is not set: this function publishes events and needs a sink URL (a SinkBinding sets it on a cluster; `orderflow up` sets it locally)", a.name)
		}
		s, err := ce.NewSender("K_SINK", a.cfg.Sink)
		if err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		sender = s
	}
	db, err := store.Open(ctx, "ORDERFLOW_DATABASE_URL", dbURL)
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if err := oneProcessStore(db.Dialect(), a.cfg.MaxScale); err != nil {
		db.Close()
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if !a.cfg.GroupCommit {
		// Replicas keep group commit too: a batch that loses a lock to
		// another replica's ends early and runs the loser again
		// (store/groupcommit.go). This is for an operator who measures
		// otherwise.
		db.SeparateCommits()
		a.log.Info("group commit off (ORDERFLOW_GROUP_COMMIT=false): every delivery commits alone")
	}
	if err := a.PrepareStore(ctx, db); err != nil {
		db.Close()
		return err
	}
	a.db = db
	runCtx, cancel := context.WithCancel(context.Background())
	a.runCtx, a.stopping = runCtx, cancel
	if sender != nil {
		a.relay = NewRelay(db, sender, a.log, a.cfg.RelayConcurrency)
		a.relay.observe = a.metrics.publishedOne
		a.relay.storeFailed = a.storeFailed
		a.relay.possibleDuplicate = a.metrics.possibleDuplicates
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			// The first sweep publishes whatever a previous process
			// committed but did not get to send before it died.
			a.relay.Run(runCtx, a.cfg.RelayInterval)
		}()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.pruneEvery(runCtx, a.cfg.PruneInterval)
	}()
	a.ready.Store(true)
	a.log.Info("started", "database", db.String(), "sink", a.cfg.Sink)
	return nil
}

// Stop stops the relay after a last sweep and closes the store.
func (a *App) Stop(ctx context.Context) error {
	a.ready.Store(false)
	if a.stopping != nil {
		a.stopping()
		a.wg.Wait()
	}
	if a.relay != nil {
		if _, err := a.relay.Flush(ctx); err != nil {
			a.log.Warn("outbox not empty at stop; the next start publishes it", "error", err)
		}
		a.relay.Close()
	}
	if a.traceShutdown != nil {
		if err := a.traceShutdown(ctx); err != nil {
			a.log.Warn("spans not all exported at stop", "error", err)
		}
	}
	if a.db != nil {
		return a.db.Close()
	}
	return nil
}

// Ready is the readiness probe: started, the store answers, and it takes
// writes (see storeHealth). Not ready with an error says why: func-go
// answers the probe 500 with it.
func (a *App) Ready(ctx context.Context) (bool, error) {
	if !a.ready.Load() {
		return false, nil
	}
	if err := a.storeDown(); err != nil {
		return false, err
	}
	if err := a.db.Ping(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Alive is the liveness probe: the process serves. A slow start or a store
// outage is readiness, not liveness: restarting would not help.
func (a *App) Alive(context.Context) (bool, error) { return true, nil }

// Flush publishes the outbox now; tests and the sweep use it.
func (a *App) Flush(ctx context.Context) (int, error) {
	if a.relay == nil {
		return 0, nil
	}
	return a.relay.Flush(ctx)
}

// HasRoute reports whether the function reacts to typ; the manifest checks
// use it to prove every published type is consumed somewhere.
func (a *App) HasRoute(typ string) bool {
	_, r := a.routes[typ]
	_, q := a.queries[typ]
	return r || q
}

// Refuses reports whether the function answers an event of type typ with
// a refusal before looking at its payload's meaning: any type it neither
// reacts to, answers nor ignores. (A type it reacts to is refused too when
// its payload breaks the schema.)
func (a *App) Refuses(typ string) bool {
	return !a.HasRoute(typ) && !a.ignored[typ] && typ != events.Tick
}

// Ignores reports whether typ is answered 200 and dropped on purpose.
func (a *App) Ignores(typ string) bool { return a.ignored[typ] }

// Routes lists the types the function reacts to.
func (a *App) Routes() []string {
	var out []string
	for t := range a.routes {
		out = append(out, t)
	}
	return out
}

func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// pruneBatch bounds one delete, so pruning a large backlog never holds the
// store for long: batches follow each other until one comes back short.
const pruneBatch = 1000

// pruneEvery deletes, every interval, the processed ids and published
// outbox rows older than the retention.
func (a *App) pruneEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := a.Prune(ctx); err != nil && ctx.Err() == nil && !a.storeFailed(err) {
			a.log.Warn("pruning the store failed; trying again next time", "error", err)
		}
	}
}

// Prune deletes now what is past the retention, batch by batch.
func (a *App) Prune(ctx context.Context) (ids, sent int64, err error) {
	before := time.Now().Add(-a.cfg.Retention)
	for ctx.Err() == nil {
		i, s, err := a.db.Prune(ctx, before, pruneBatch)
		ids, sent = ids+i, sent+s
		a.metrics.pruned.WithLabelValues("processed_events").Add(float64(i))
		a.metrics.pruned.WithLabelValues("outbox").Add(float64(s))
		if err != nil {
			return ids, sent, err
		}
		if i < pruneBatch && s < pruneBatch {
			break
		}
	}
	if ids+sent > 0 {
		a.log.Info("store pruned", "processed_ids", ids, "published_events", sent, "older_than", before.UTC().Format(time.RFC3339))
	}
	return ids, sent, nil
}

// oneProcessStore refuses a SQLite store to a function that may run as
// more than one replica: each replica would open its own file (a pod's
// disk) or fight over one, and either way the saga's state would split.
func oneProcessStore(d store.Dialect, maxScale int) error {
	if d != store.SQLite || maxScale == 1 || maxScale < 0 {
		return nil
	}
	scale := fmt.Sprintf("up to %d replicas", maxScale)
	if maxScale == 0 {
		scale = "any number of replicas (max scale 0: unbounded)"
	}
	return fmt.Errorf("ORDERFLOW_MAX_SCALE=%d: this function may run as %s, but its store is SQLite, one process's file: "+
		"use PostgreSQL (ORDERFLOW_DATABASE_URL=postgres://...) or set deploy.options.scale.max to 1 in its func.yaml", maxScale, scale)
}

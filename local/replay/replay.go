// Package replay rebuilds a function's read models from the Kafka log into
// a fresh store, with the function's own code, while the live topology
// keeps running; and compares them with the live ones (Verify).
//
// It reads the topics the function's KafkaSource subscribes to (and, for a
// function whose read model holds what it published, its SinkBinding's
// topic, first), from the oldest offset up to the end offsets taken when
// it starts: it terminates however fast the topology keeps producing. It
// reads with a plain consumer that joins no group and commits nothing, so
// it never moves a live source's offsets.
package replay

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/store"
)

// Function is what replay needs of one function: its edge (for the store's
// tables and projection versions), how one record is applied, whether its
// own facts are read first, and its read model flattened for Verify.
type Function struct {
	Name   string
	NewApp func() *handler.App
	// Apply folds one record into the rebuilt store, with the function's
	// own code.
	Apply func(ctx context.Context, app *handler.App, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error)
	// OwnFactsFirst: the read model holds the facts the function
	// published, which its KafkaSource does not read back; their topic
	// (its SinkBinding's) is read before the others.
	OwnFactsFirst bool
	Snapshot      func(ctx context.Context, db *store.DB) (map[string]map[string]string, error)
}

// rebuildable is a function whose read models replay can rebuild: its edge
// (the store's tables, projection versions and routing) and its read
// model flattened for Verify. A rebuild routes each record through the
// edge (handler.App.Replay), so what the function does with each type, now
// and after any change, is the live code's.
type rebuildable interface {
	App() *handler.App
	Snapshot(ctx context.Context, db *store.DB) (map[string]map[string]string, error)
}

// factFolder is a rebuildable function that decides: a rebuild folds its
// recorded facts instead of deciding again, its own topic read first
// (see functions/order/replay.go for why).
type factFolder interface {
	ReplayEvent(ctx context.Context, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error)
	ReplayOwnFactsFirst() bool
}

// Rebuildable lists the functions of the in-process host (fnserve) whose
// read models replay can rebuild, sorted.
func Rebuildable() []string {
	var out []string
	for _, name := range fnserve.Names() {
		if h, ok := fnserve.New(name); ok {
			if _, can := h.(rebuildable); can {
				out = append(out, name)
			}
		}
	}
	return out
}

// Lookup returns a function replay can rebuild, or an error listing those.
func Lookup(name string) (Function, error) {
	h, ok := fnserve.New(name)
	r, can := h.(rebuildable)
	if !ok || !can {
		return Function{}, fmt.Errorf("cannot replay %q: replay rebuilds %s", name, strings.Join(Rebuildable(), ", "))
	}
	f := Function{
		Name: name,
		NewApp: func() *handler.App {
			fresh, _ := fnserve.New(name)
			return fresh.(rebuildable).App()
		},
		Apply: func(ctx context.Context, app *handler.App, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error) {
			return app.Replay(ctx, tx, e)
		},
		Snapshot: r.Snapshot,
	}
	if ff, ok := h.(factFolder); ok {
		f.Apply = func(ctx context.Context, _ *handler.App, tx *store.Tx, e event.Event) (handler.ReplayOutcome, error) {
			return ff.ReplayEvent(ctx, tx, e)
		}
		f.OwnFactsFirst = ff.ReplayOwnFactsFirst()
	}
	return f, nil
}

// Plan is what a replay of one function reads, from the manifests.
type Plan struct {
	Function string
	// Groups are the consumer groups of its KafkaSources, by the topics
	// they read: Verify waits for them to pass the snapshot.
	Groups map[string][]string
	// Topics in the order they are replayed.
	Topics []string
}

// PlanFor reads from the manifests which topics feed fn: those of every
// KafkaSource whose sink is fn's Service, after, when fn.OwnFactsFirst,
// the topic of the KafkaSink its SinkBinding points at.
func PlanFor(set *manifests.Set, fn Function) (Plan, error) {
	p := Plan{Function: fn.Name, Groups: map[string][]string{}}
	ns := set.Namespace
	if ns == "" {
		ns = manifests.DefaultNamespace
	}
	if fn.OwnFactsFirst {
		b, ok := set.BindingFor(ns, fn.Name)
		if !ok || b.Sink.Ref == nil || b.Sink.Ref.Kind != manifests.KindKafkaSink {
			return p, fmt.Errorf("%s: no SinkBinding to a KafkaSink for Service %s/%s: cannot find the topic of its own facts", set.Dir, ns, fn.Name)
		}
		k, ok := set.Sink(b.Sink.Ref.Namespace, b.Sink.Ref.Name)
		if !ok {
			return p, fmt.Errorf("%s: SinkBinding %s points at %s, which the manifests do not declare", set.Dir, b.Name, b.Sink.Ref)
		}
		p.Topics = append(p.Topics, k.Topic)
	}
	for _, s := range set.Sources {
		if s.Sink.Ref == nil || s.Sink.Ref.Kind != manifests.KindService || s.Sink.Ref.Name != fn.Name {
			continue
		}
		if s.ConsumerGroup == "" {
			return p, fmt.Errorf("KafkaSource %s/%s has no spec.consumerGroup: replay --verify could not tell how far it has read", s.Namespace, s.Name)
		}
		p.Groups[s.ConsumerGroup] = append(p.Groups[s.ConsumerGroup], s.Topics...)
		for _, t := range s.Topics {
			if !slices.Contains(p.Topics, t) {
				p.Topics = append(p.Topics, t)
			}
		}
	}
	if len(p.Groups) == 0 {
		return p, fmt.Errorf("%s: no KafkaSource delivers to Service %s", set.Dir, fn.Name)
	}
	return p, nil
}

// Offsets are the end offsets of the partitions of some topics: the next
// offset each will give, taken at one moment.
type Offsets map[string][]int64

// EndOffsets reads where each partition of the topics ends now.
func EndOffsets(client sarama.Client, topics []string) (Offsets, error) {
	if err := client.RefreshMetadata(topics...); err != nil {
		return nil, fmt.Errorf("kafka at %s: %w", strings.Join(brokerAddrs(client), ","), err)
	}
	out := Offsets{}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", t, err)
		}
		out[t] = make([]int64, len(parts))
		for _, p := range parts {
			if int(p) >= len(parts) {
				return nil, fmt.Errorf("topic %s: partition ids are not 0..%d", t, len(parts)-1)
			}
			end, err := client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", t, p, err)
			}
			out[t][p] = end
		}
	}
	return out, nil
}

func brokerAddrs(client sarama.Client) []string {
	var out []string
	for _, b := range client.Brokers() {
		out = append(out, b.Addr())
	}
	return out
}

// Options configure one replay.
type Options struct {
	Client sarama.Client
	Plan   Plan
	// Into is the fresh store; it must hold none of the function's tables
	// yet (replay refuses one that does: it would mix).
	Into *store.DB
	// Progress, when set, gets a line per topic-partition every
	// ProgressEvery (and a last one at the end).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Batch is how many records one transaction applies (default 500).
	Batch int
}

// Result is what a replay did.
type Result struct {
	Function string
	// Start and End are the offsets read: every record of each partition
	// from Start up to End, the end when the replay began.
	Start, End Offsets
	Records    int
	Outcomes   map[handler.ReplayOutcome]int
	// NotCloudEvents counts records that carry no CloudEvent: the live
	// source delivered them as raw records, which the function refused.
	NotCloudEvents int
	Took           time.Duration
}

// Run rebuilds fn's read models into opts.Into.
func Run(ctx context.Context, fn Function, opts Options) (Result, error) {
	t0 := time.Now()
	res := Result{Function: fn.Name, Outcomes: map[handler.ReplayOutcome]int{}}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if err := ensureFresh(ctx, opts.Into, fn); err != nil {
		return res, err
	}
	app := fn.NewApp()
	if err := app.PrepareStore(ctx, opts.Into); err != nil {
		return res, err
	}
	end, err := EndOffsets(opts.Client, opts.Plan.Topics)
	if err != nil {
		return res, err
	}
	res.End = end
	res.Start = Offsets{}
	for _, t := range opts.Plan.Topics {
		res.Start[t] = make([]int64, len(end[t]))
		for p := range end[t] {
			start, err := opts.Client.GetOffset(t, int32(p), sarama.OffsetOldest)
			if err != nil {
				return res, fmt.Errorf("topic %s partition %d: %w", t, p, err)
			}
			res.Start[t][p] = start
		}
	}
	prog := newProgress(fn.Name, opts.Plan.Topics, res.Start, res.End)
	if opts.Progress != nil && opts.ProgressEvery > 0 {
		stop := prog.every(opts.Progress, opts.ProgressEvery)
		defer stop()
	}
	consumer, err := sarama.NewConsumerFromClient(opts.Client)
	if err != nil {
		return res, err
	}
	defer consumer.Close()
	// One topic after the other (a function whose model holds its own
	// facts needs them first); the partitions of a topic concurrently,
	// applied by one writer in batches.
	for _, topic := range opts.Plan.Topics {
		if err := replayTopic(ctx, consumer, fn, app, opts, topic, res.Start[topic], res.End[topic], prog, &res); err != nil {
			return res, err
		}
	}
	if opts.Progress != nil {
		prog.print(opts.Progress)
	}
	res.Took = time.Since(t0)
	return res, nil
}

// ensureFresh refuses a store that already holds the function's tables.
func ensureFresh(ctx context.Context, db *store.DB, fn Function) error {
	var n int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM orderflow_migrations WHERE component = ?`, fn.Name).Scan(&n)
	if err != nil {
		return nil // no migrations table: nothing was ever migrated here
	}
	if n > 0 {
		return fmt.Errorf("%s already holds %s's tables: replay rebuilds into a fresh store (a new SQLite file, or an empty PostgreSQL schema)", db, fn.Name)
	}
	return nil
}

func replayTopic(ctx context.Context, consumer sarama.Consumer, fn Function, app *handler.App, opts Options, topic string, start, end []int64, prog *progress, res *Result) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make(chan kafkalog.Record, opts.Batch)
	var wg sync.WaitGroup
	errs := make(chan error, len(end))
	for p := range end {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := kafkalog.ReadRange(ctx, consumer, topic, int32(p), start[p], end[p], func(r kafkalog.Record) error {
				select {
				case records <- r:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	go func() {
		wg.Wait()
		close(records)
	}()
	batch := make([]kafkalog.Record, 0, opts.Batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := opts.Into.InTx(ctx, func(tx *store.Tx) error {
			for _, r := range batch {
				if r.Event == nil {
					continue
				}
				outcome, err := fn.Apply(ctx, app, tx, *r.Event)
				if err != nil {
					return fmt.Errorf("%s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
				}
				res.Outcomes[outcome]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range batch {
			res.Records++
			if r.Event == nil {
				res.NotCloudEvents++
			}
			prog.done(r.Topic, r.Partition)
		}
		batch = batch[:0]
		return nil
	}
	for r := range records {
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				cancel()
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// progress counts records applied per topic-partition.
type progress struct {
	mu     sync.Mutex
	name   string
	topics []string
	read   map[string][]int64
	total  map[string][]int64
	t0     time.Time
}

func newProgress(name string, topics []string, start, end Offsets) *progress {
	p := &progress{name: name, topics: topics, read: map[string][]int64{}, total: map[string][]int64{}, t0: time.Now()}
	for _, t := range topics {
		p.read[t] = make([]int64, len(end[t]))
		p.total[t] = make([]int64, len(end[t]))
		for i := range end[t] {
			p.total[t][i] = max(0, end[t][i]-start[t][i])
		}
	}
	return p
}

func (p *progress) done(topic string, partition int32) {
	p.mu.Lock()
	p.read[topic][partition]++
	p.mu.Unlock()
}

// print writes one line per topic: its total, then each partition's
// records read / records to read.
func (p *progress) print(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all, allTotal int64
	var b strings.Builder
	for _, t := range p.topics {
		var read, total int64
		var parts []string
		for i := range p.total[t] {
			read += p.read[t][i]
			total += p.total[t][i]
			parts = append(parts, fmt.Sprintf("%d:%d/%d", i, p.read[t][i], p.total[t][i]))
		}
		all, allTotal = all+read, allTotal+total
		fmt.Fprintf(&b, "  %s %d/%d [%s]\n", t, read, total, strings.Join(parts, " "))
	}
	fmt.Fprintf(w, "replay %s: %d/%d records after %s\n%s", p.name, all, allTotal, time.Since(p.t0).Round(time.Millisecond), b.String())
}

func (p *progress) every(w io.Writer, d time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print(w)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// Summary is one line saying what a replay did.
func (r Result) Summary() string {
	keys := slices.Sorted(maps.Keys(r.Outcomes))
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", r.Outcomes[k], k))
	}
	if r.NotCloudEvents > 0 {
		parts = append(parts, fmt.Sprintf("%d not CloudEvents", r.NotCloudEvents))
	}
	return fmt.Sprintf("replayed %s: %d records in %s (%s)", r.Function, r.Records, r.Took.Round(time.Millisecond), strings.Join(parts, ", "))
}

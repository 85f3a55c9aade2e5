package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/account"
	"orderflow.dev/local/check"
	"orderflow.dev/local/profile"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// Target is a running topology, however it was started.
type Target struct {
	CommandsIngress string // KafkaSink ingress of the commands topic, where orders are placed
	TokenFile       string // the plane's bearer token, presented to CommandsIngress (see package door)
	OrderURL        string // function URLs, for queries
	InventoryURL    string
	PaymentURL      string
	Kafka           sarama.Client
	OrdersTopic     string
	OrderDeadLetter string // dead-letter topic of the order function
	// Exclusive: the topology saw no orders but this run's.
	Exclusive bool
	// API is the plane's API, asked for the functions' readiness.
	API string
	// Reread, when set, reads the topology's endpoints again: a run
	// attached to an `orderflow up` that restarts meanwhile goes on at its
	// new ports (its ingress, functions and broker) when the old ones stop
	// answering.
	Reread func() (plane.Endpoints, error)
}

// Config of one run.
type Config struct {
	Orders      int
	Concurrency int
	// Rate caps placements per second (0: as fast as Concurrency allows).
	Rate    float64
	Seed    uint64
	RunID   string
	Timeout time.Duration // for every order to reach its outcome
	Settle  time.Duration // for compensations to finish before the check
	// Progress is called as orders are placed and as they finish (under
	// the run's lock: it must not block); nil for none.
	Progress func(Progress)
	// Processes lists the processes doing the run's work, whose CPU time
	// Result.CPU reports from the first placement until the last order
	// ended (or Timeout passed); nil measures none.
	Processes func() []profile.Proc
	// Ended is called once per placed order as it reaches its outcome
	// (confirmed, cancelled or refused), with when it was placed and when
	// it ended, under the run's lock (it must not block); nil for none.
	// The soak computes each interval's latency from it.
	Ended func(placedAt, endedAt time.Time)
	// Account, when set, is read over the same window as the CPU: what
	// each layer served per order (Result.Account).
	Account *account.Ledger
	// StockBefore is the stock as an earlier run on the same topology left
	// it (a warm-up's Result.Stock): the check then counts only what moved
	// since, so a fresh topology's strict per-SKU check still holds. Nil on
	// an exclusive target: Run reads it before its first order.
	StockBefore *events.InventoryViewData
}

// Progress is a snapshot while the run goes.
type Progress struct {
	Placed, Finished, Confirmed, Cancelled, Refused, Total int
}

// OrderResult is one order's story.
type OrderResult struct {
	ID       string        `json:"id"`
	Kind     Kind          `json:"kind"`
	Outcome  string        `json:"outcome"`
	Expected []string      `json:"expected"`
	Latency  time.Duration `json:"latencyNanos"`
	PlacedAt time.Time     `json:"placedAt"`
}

// Result is the run's verdict.
type Result struct {
	RunID         string                  `json:"runId"`
	Orders        int                     `json:"orders"`
	Placed        int                     `json:"placed"`
	NotAccepted   int                     `json:"notAccepted"`
	Elapsed       time.Duration           `json:"elapsedNanos"`
	Throughput    float64                 `json:"ordersPerSecond"`
	P50, P90, P99 time.Duration           `json:"-"`
	Max           time.Duration           `json:"-"`
	Latency       map[string]float64      `json:"latencyMillis"`
	Outcomes      map[string]int          `json:"outcomes"`
	ByKind        map[Kind]map[string]int `json:"byKind"`
	Unexpected    []OrderResult           `json:"unexpected"`
	Check         check.Report            `json:"check"`
	SettledIn     time.Duration           `json:"settledInNanos"`
	Results       []OrderResult           `json:"results"`
	Timeline      []TimelinePoint         `json:"timeline"`
	CPU           *profile.CPUReport      `json:"cpu,omitempty"`
	Account       *account.Report         `json:"account,omitempty"`
	// Stock is the stock as the final check read it; StockBefore the
	// stock the run started from when a warm-up ran before it (Config).
	Stock       *events.InventoryViewData `json:"stock,omitempty"`
	StockBefore *events.InventoryViewData `json:"stockBefore,omitempty"`
}

// TimelinePoint counts finished orders per second of the run, for the
// throughput picture.
type TimelinePoint struct {
	Second   int `json:"second"`
	Finished int `json:"finished"`
	Placed   int `json:"placed"`
}

// OK is true when the invariants hold and every order ended as its kind
// predicts.
func (r Result) OK() bool { return r.Check.OK() && len(r.Unexpected) == 0 && r.NotAccepted == 0 }

type tracker struct {
	mu       sync.Mutex
	want     map[string]*OrderResult
	log      *check.Log
	refused  map[string]bool
	finished map[string]time.Time
	done     chan struct{}
	pending  int
	progress Progress
	report   func(Progress)
	ended    func(placedAt, endedAt time.Time)
}

func newTracker(plan []Planned, cfg Config) *tracker {
	t := &tracker{want: map[string]*OrderResult{}, log: check.NewLog(), refused: map[string]bool{},
		finished: map[string]time.Time{}, done: make(chan struct{}), pending: len(plan), report: cfg.Progress, ended: cfg.Ended}
	t.progress.Total = len(plan)
	for _, p := range plan {
		t.want[p.Order.OrderID] = &OrderResult{ID: p.Order.OrderID, Kind: p.Kind, Expected: p.Expect}
	}
	return t
}

// outcome is what became of order id: "refused" while its command's dead
// letter is all there is of it, else what the orders topic says.
func (t *tracker) outcome(id string) string {
	if t.refused[id] {
		return "refused"
	}
	return t.log.Outcome(id)
}

func (t *tracker) observe(r kafkalog.Record, orders, deadLetters string) {
	if r.Event == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r.Topic {
	case orders:
		_ = t.log.Add(*r.Event)
		if r.Event.Type() != events.OrderConfirmed && r.Event.Type() != events.OrderCancelled {
			return
		}
		id := ce.String(*r.Event, ce.PartitionKey)
		if _, ok := t.want[id]; !ok {
			return
		}
		if r.Event.Type() == events.OrderConfirmed {
			t.progress.Confirmed++
		} else {
			t.progress.Cancelled++
		}
		switch _, seen := t.finished[id]; {
		case t.refused[id]:
			// Its command was dead-lettered, then replayed (`dlq replay`)
			// and taken: it ended after all, and counts as what it became.
			delete(t.refused, id)
			t.progress.Refused--
			if t.report != nil {
				t.report(t.progress)
			}
		case !seen:
			t.end(id)
			t.finish()
		default: // a second terminal event: the check counts it
			if r.Event.Type() == events.OrderConfirmed {
				t.progress.Confirmed--
			} else {
				t.progress.Cancelled--
			}
		}
	case deadLetters:
		id := ce.String(*r.Event, ce.PartitionKey)
		if _, ok := t.want[id]; !ok || r.Event.Type() != events.PlaceOrder || t.refused[id] {
			return
		}
		if _, seen := t.finished[id]; seen {
			return // ended already: a later copy of its command was refused, not the order
		}
		t.refused[id] = true
		t.end(id)
		t.progress.Refused++
		t.finish()
	}
}

// end records that order id reached its outcome now; Config.Ended hears
// of it at once, or, if the outcome came before its placement's answer,
// once that answer sets PlacedAt (see placed).
func (t *tracker) end(id string) {
	now := time.Now()
	t.finished[id] = now
	if placedAt := t.want[id].PlacedAt; t.ended != nil && !placedAt.IsZero() {
		t.ended(placedAt, now)
	}
}

// placed records an order's accepted placement.
func (t *tracker) placed(id string, at time.Time) {
	t.want[id].PlacedAt = at
	t.progress.Placed++
	if endedAt, ok := t.finished[id]; ok && t.ended != nil {
		t.ended(at, endedAt)
	}
	if t.report != nil {
		t.report(t.progress)
	}
}

func (t *tracker) finish() {
	t.progress.Finished++
	t.pending--
	if t.report != nil {
		t.report(t.progress)
	}
	if t.pending == 0 {
		close(t.done)
	}
}

// MaxOrders bounds a run's orders where a command takes them: each is
// planned and followed in memory (a few hundred bytes), and a typo of
// 10^8 would take the machine's memory before the first placement.
const MaxOrders = 1_000_000

// MaxConcurrency bounds Config.Concurrency where a command takes it: each
// placement in flight is a connection to the ingress.
const MaxConcurrency = 10000

// CheckOrders refuses an --orders value out of 1..MaxOrders, naming the
// flag as the command calls it.
func CheckOrders(flag string, n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("%s %d: must be at least 1", flag, n)
	case n > MaxOrders:
		return fmt.Errorf("%s %d: at most %d a run (every order is followed in memory; orderflow soak runs for as long as you like)", flag, n, MaxOrders)
	}
	return nil
}

// CheckConcurrency refuses a --concurrency value out of 1..MaxConcurrency.
func CheckConcurrency(n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("--concurrency %d: must be at least 1", n)
	case n > MaxConcurrency:
		return fmt.Errorf("--concurrency %d: at most %d placements in flight", n, MaxConcurrency)
	}
	return nil
}

// Run places cfg.Orders orders into target, follows each to its outcome,
// lets compensations settle and judges the run.
func Run(ctx context.Context, target Target, cfg Config) (Result, error) {
	if cfg.Orders < 1 {
		return Result{}, errors.New("--orders must be at least 1")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	plan := Plan(cfg.Orders, cfg.Seed, cfg.RunID)
	t := newTracker(plan, cfg)
	// A function whose store cannot write ends the run early, naming it:
	// nothing ends while it lasts (see watchStores).
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	link, err := newConn(target)
	if err != nil {
		return Result{}, err
	}
	if target.Exclusive && cfg.StockBefore == nil {
		// The check counts what this run moved. A fresh topology starts
		// with nothing sold; one resumed with its state (--keep-state)
		// starts with an earlier run's sales, which without this baseline
		// were counted as this run's: stock drift on a sound topology.
		before, err := stockNow(ctx, link)
		if err != nil {
			return Result{}, fmt.Errorf("reading the stock before the first order: %w", err)
		}
		cfg.StockBefore = &before
	}
	// Follow from the current end of the topics: positions are taken
	// before the first order goes in, so nothing is missed.
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	follower, err := kafkalog.Follow(followCtx, kafkalog.FollowConfig{Client: target.Kafka, Redial: link.redial(),
		Topics: []string{target.OrdersTopic, target.OrderDeadLetter}}, func(r kafkalog.Record) {
		t.observe(r, target.OrdersTopic, target.OrderDeadLetter)
	})
	if err != nil {
		return Result{}, fmt.Errorf("following %s: %w", target.OrdersTopic, err)
	}
	go watchStores(ctx, link, stop)
	// lost ends the run early: without the topics it cannot see an
	// order end.
	lost := func() error {
		return fmt.Errorf("stopped following %s: %w", target.OrdersTopic, follower.Err())
	}
	var meter *profile.Meter
	if cfg.Processes != nil {
		meter = profile.NewMeter(cfg.Processes)
		meter.Start()
	}
	if cfg.Account != nil {
		cfg.Account.Start(ctx)
	}
	start := time.Now()
	var notAccepted atomic.Int64
	jobs := make(chan Planned)
	var wg sync.WaitGroup
	var placed atomic.Int64
	// No more placers than orders: --concurrency is a cap, and a million
	// idle goroutines would only take memory.
	for w := 0; w < min(cfg.Concurrency, len(plan)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				if err := placeWithRetry(ctx, link, p.Order); err != nil {
					notAccepted.Add(1)
					t.mu.Lock()
					delete(t.want, p.Order.OrderID)
					t.finish()
					t.mu.Unlock()
					continue
				}
				now := time.Now()
				t.mu.Lock()
				t.placed(p.Order.OrderID, now)
				t.mu.Unlock()
				placed.Add(1)
			}
		}()
	}
	var tick *time.Ticker
	if cfg.Rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer tick.Stop()
	}
feed:
	for _, p := range plan {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	select {
	case <-t.done:
	case <-time.After(timeout):
	case <-follower.Done():
		return Result{}, lost()
	case <-ctx.Done():
		// Stopped early: what was placed so far, and what became of it,
		// for Recheck once the cause has passed.
		res := Result{RunID: cfg.RunID, Orders: cfg.Orders, Placed: int(placed.Load()), NotAccepted: int(notAccepted.Load())}
		t.tally(&res)
		t.timing(&res, start)
		return res, context.Cause(ctx)
	}
	if meter != nil {
		meter.Stop()
	}
	if cfg.Account != nil {
		// After the CPU window: waiting out the account's lag must not
		// count as the run's time.
		cfg.Account.Stop(ctx)
	}

	res := Result{RunID: cfg.RunID, Orders: cfg.Orders, Placed: int(placed.Load()), NotAccepted: int(notAccepted.Load()), StockBefore: cfg.StockBefore}
	placedIDs, refused := t.tally(&res)
	ended := t.timing(&res, start)
	if meter != nil {
		report := meter.Report(ended)
		res.CPU = &report
	}
	if cfg.Account != nil {
		report := cfg.Account.Report(ended)
		res.Account = &report
	}
	// Compensations (stock releases, refunds) follow the terminal event;
	// judge the state once they are done, or once Settle has passed.
	settle := cfg.Settle
	if settle <= 0 {
		settle = 30 * time.Second
	}
	settleStart := time.Now()
	for {
		report, stock, err := evaluate(ctx, link, placedIDs, refused, t, cfg.StockBefore)
		if err == nil {
			res.Check = report
			res.Stock = &stock
			if report.OK() || time.Since(settleStart) > settle {
				break
			}
		} else if time.Since(settleStart) > settle {
			return res, err
		} else {
			_, _ = link.refresh() // the functions may have moved
		}
		select {
		case <-ctx.Done():
			return res, context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
	res.SettledIn = time.Since(settleStart)
	return res, nil
}

// tally fills res with what became of every order placed: its outcome
// (Results, Outcomes, ByKind, Unexpected). It returns the ids placed and
// those refused, for the invariant check.
func (t *tracker) tally(res *Result) (placed []string, refused map[string]bool) {
	res.Outcomes, res.ByKind, res.Results, res.Unexpected = map[string]int{}, map[Kind]map[string]int{}, nil, nil
	refused = map[string]bool{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, o := range t.want {
		if _, ended := t.finished[id]; o.PlacedAt.IsZero() && !ended {
			continue // not placed (the run stopped first)
		}
		placed = append(placed, id)
		o.Outcome = t.outcome(id)
		res.Outcomes[o.Outcome]++
		if res.ByKind[o.Kind] == nil {
			res.ByKind[o.Kind] = map[string]int{}
		}
		res.ByKind[o.Kind][o.Outcome]++
		if !contains(o.Expected, o.Outcome) {
			res.Unexpected = append(res.Unexpected, *o)
		}
		res.Results = append(res.Results, *o)
		if t.refused[id] {
			refused[id] = true
		}
	}
	sort.Slice(res.Results, func(i, j int) bool { return res.Results[i].ID < res.Results[j].ID })
	sort.Slice(res.Unexpected, func(i, j int) bool { return res.Unexpected[i].ID < res.Unexpected[j].ID })
	return placed, refused
}

// timing fills res with each order's latency, placement to outcome, the
// run's throughput and percentiles and its timeline, from start. It
// returns how many orders ended.
func (t *tracker) timing(res *Result, start time.Time) (ended int) {
	var lat []time.Duration
	lastFinish := start
	t.mu.Lock()
	for i := range res.Results {
		o := &res.Results[i]
		if f, ok := t.finished[o.ID]; ok && !o.PlacedAt.IsZero() {
			o.Latency = f.Sub(o.PlacedAt)
			lat = append(lat, o.Latency)
			if f.After(lastFinish) {
				lastFinish = f
			}
		}
	}
	t.mu.Unlock()
	for i := range res.Unexpected {
		if j, ok := slices.BinarySearchFunc(res.Results, res.Unexpected[i].ID, func(o OrderResult, id string) int { return strings.Compare(o.ID, id) }); ok {
			res.Unexpected[i].Latency = res.Results[j].Latency
		}
	}
	res.Elapsed = lastFinish.Sub(start)
	if secs := res.Elapsed.Seconds(); secs > 0 {
		res.Throughput = float64(len(lat)) / secs
	}
	SortDurations(lat)
	res.P50, res.P90, res.P99, res.Max = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99), Percentile(lat, 100)
	res.Latency = map[string]float64{"p50": ms(res.P50), "p90": ms(res.P90), "p99": ms(res.P99), "max": ms(res.Max)}
	res.Timeline = timeline(res.Results, start)
	return len(lat)
}

// stockNow asks the inventory function for its stock.
func stockNow(ctx context.Context, link *conn) (events.InventoryViewData, error) {
	target, c := link.get()
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stock events.InventoryViewData
	err := c.Query(qctx, target.InventoryURL, events.InventoryQuery, events.InventoryQueryData{}, &stock)
	return stock, err
}

func evaluate(ctx context.Context, link *conn, placed []string, refused map[string]bool, t *tracker, before *events.InventoryViewData) (check.Report, events.InventoryViewData, error) {
	stock, err := stockNow(ctx, link)
	if err != nil {
		return check.Report{}, stock, err
	}
	target, c := link.get()
	ledger, err := ledgerOf(ctx, func(ctx context.Context, q events.PaymentQueryData, out *events.PaymentViewData) error {
		return c.Query(ctx, target.PaymentURL, events.PaymentQuery, q, out)
	}, placed)
	if err != nil {
		return check.Report{}, stock, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return check.Evaluate(check.Input{Placed: placed, Refused: refused, Log: t.log, Stock: stock, StockBefore: before, Ledger: ledger, Exclusive: target.Exclusive}), stock, nil
}

// ledgerChunk is how many order ids one payment query names: one query of
// every id of a long run (a soak of an hour, a demo of 60,000 orders)
// outgrew the function's 1 MiB body limit, and the query's schema takes
// at most 100,000.
const ledgerChunk = 5000

// ledgerOf asks for the payment ledger of the placed orders, ledgerChunk
// ids a query, and returns the entries of all.
func ledgerOf(ctx context.Context, query func(context.Context, events.PaymentQueryData, *events.PaymentViewData) error, placed []string) (events.PaymentViewData, error) {
	var all events.PaymentViewData
	for start := 0; start == 0 || start < len(placed); start += ledgerChunk {
		chunk := placed[start:min(start+ledgerChunk, len(placed))]
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var part events.PaymentViewData
		err := query(qctx, events.PaymentQueryData{OrderIDs: chunk}, &part)
		cancel()
		if err != nil {
			return all, err
		}
		all.Ledger = append(all.Ledger, part.Ledger...)
	}
	return all, nil
}

// placeWithRetry places an order until the ingress accepts it, for up to a
// minute (a broker restart takes seconds; a restarted `up` serves on new
// ports, which link learns when the old ones fail). Every attempt carries
// the same order id, and the order function treats a repeat of the same
// command as a no-op, so an attempt that did reach Kafka although its
// answer was lost costs nothing when the retry succeeds.
func placeWithRetry(ctx context.Context, link *conn, o events.PlaceOrderData) error {
	deadline := time.Now().Add(time.Minute)
	wait := 100 * time.Millisecond
	for {
		target, c := link.get()
		_, err := c.Place(ctx, target.CommandsIngress, o)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		_, _ = link.refresh()
	}
}

func timeline(orders []OrderResult, start time.Time) []TimelinePoint {
	var last int
	placed, finished := map[int]int{}, map[int]int{}
	for _, o := range orders {
		if o.PlacedAt.IsZero() {
			continue
		}
		p := int(o.PlacedAt.Sub(start).Seconds())
		placed[p]++
		if o.Latency > 0 {
			f := int(o.PlacedAt.Add(o.Latency).Sub(start).Seconds())
			finished[f]++
			last = max(last, f)
		}
		last = max(last, p)
	}
	out := make([]TimelinePoint, last+1)
	for s := range out {
		out[s] = TimelinePoint{Second: s, Placed: placed[s], Finished: finished[s]}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Print writes the human summary.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\norders: %d placed", r.Placed)
	if r.NotAccepted > 0 {
		fmt.Fprintf(w, ", %d NOT ACCEPTED by the ingress", r.NotAccepted)
	}
	fmt.Fprintln(w)
	var outcomes []string
	for k := range r.Outcomes {
		outcomes = append(outcomes, k)
	}
	sort.Strings(outcomes)
	for _, k := range outcomes {
		fmt.Fprintf(w, "  %-32s %6d\n", k, r.Outcomes[k])
	}
	fmt.Fprintf(w, "by kind (what each order was built to do -> what it did):\n")
	kinds := []Kind{Normal, Scarce, DeclinedToken, DeclinedAmount, UnknownSKU}
	for _, k := range kinds {
		if len(r.ByKind[k]) == 0 {
			continue
		}
		var parts []string
		for o, n := range r.ByKind[k] {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  %-14s %v\n", k, parts)
	}
	if len(r.Unexpected) > 0 {
		fmt.Fprintf(w, "UNEXPECTED outcomes: %d\n", len(r.Unexpected))
		for i, o := range r.Unexpected {
			if i == 10 {
				fmt.Fprintf(w, "  ...\n")
				break
			}
			fmt.Fprintf(w, "  %s (%s): %s, expected %v\n", o.ID, o.Kind, o.Outcome, o.Expected)
		}
	}
	fmt.Fprintf(w, "throughput: %.1f orders/s to a terminal state (%d in %s)\n", r.Throughput, r.Placed-len(r.unfinished()), r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "latency placement -> outcome: p50 %s  p90 %s  p99 %s  max %s\n", r.P50.Round(time.Millisecond), r.P90.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond))
	if r.CPU != nil {
		fmt.Fprintln(w, r.CPU.Summary())
	}
	fmt.Fprintf(w, "%s (settled in %s)\n", r.Check, r.SettledIn.Round(time.Millisecond))
}

func (r Result) unfinished() []OrderResult {
	var out []OrderResult
	for _, o := range r.Results {
		if o.Outcome == "open" {
			out = append(out, o)
		}
	}
	return out
}

// TargetOf is the target a running plane's endpoints describe, read
// through kc. exclusive: the plane saw no orders but this run's.
func TargetOf(ep plane.Endpoints, kc sarama.Client, exclusive bool) Target {
	return Target{
		CommandsIngress: ep.Sinks["commands"], TokenFile: ep.TokenFile, OrderURL: ep.Functions["order"], InventoryURL: ep.Functions["inventory"],
		PaymentURL: ep.Functions["payment"], Kafka: kc, OrdersTopic: events.TopicOrders,
		OrderDeadLetter: ep.DLQTopics["order"], Exclusive: exclusive, API: ep.API,
	}
}

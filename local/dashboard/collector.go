package dashboard

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
)

// Update is what the page receives every period.
type Update struct {
	Time time.Time `json:"time"`
	Snapshot
	// Cancelled is, per reason, the cancellations per second of each
	// update (oldest first; the order function's saga outcomes counter).
	Cancelled       map[string][]float64 `json:"cancelled"`
	Functions       []FunctionStats      `json:"functions"`
	LagError        string               `json:"lagError,omitempty"`
	DeadLetters     DeadLetters          `json:"deadLetters"`
	ReportedStalled float64              `json:"reportedStalled"` // analytics' stalled-saga reports since start
	Tracing         bool                 `json:"tracing"`
	// BuildMillis and Bytes are what the previous update cost to make
	// and send: the page shows them, and the README's measurement reads
	// them.
	BuildMillis float64 `json:"buildMillis"`
	Bytes       int     `json:"bytes"`
}

// FunctionStats is one function's line.
type FunctionStats struct {
	Name string `json:"name"`
	// Up is false when its /metrics did not answer this time.
	Up               bool    `json:"up"`
	Lag              int64   `json:"lag"` // records its consumer group has still to read
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	Errors           float64 `json:"errors"` // deliveries refused or failed, publishes failed, since it started
	ErrorsPerSec     float64 `json:"errorsPerSec"`
	OutboxBacklog    float64 `json:"outboxBacklog"`
	// Its replicas (package serving): running, ready, wanted by the
	// autoscaler; deliveries that found it at zero; its last scaling step.
	Replicas    int    `json:"replicas"`
	Ready       int    `json:"ready"`
	Desired     int    `json:"desired"`
	ColdStarts  int64  `json:"coldStarts"`
	LastScaling string `json:"lastScaling,omitempty"`
}

// DeadLetters are the dead-letter topics' contents in short.
type DeadLetters struct {
	Counts map[string]int  `json:"counts"` // per function
	Newest []LetterSummary `json:"newest"` // at most 10, newest first
	Error  string          `json:"error,omitempty"`
}

// LetterSummary is a dead letter's line on the page.
type LetterSummary struct {
	ID       string    `json:"id"`
	Function string    `json:"function"`
	Time     time.Time `json:"time"`
	OrderID  string    `json:"orderId"`
	Type     string    `json:"type"`
	Code     string    `json:"code"`
	Reason   string    `json:"reason"`
	Replays  int       `json:"replays"`
}

// collector makes the updates while at least one page is open.
type collector struct {
	d      *Dashboard
	ctx    context.Context
	cancel context.CancelFunc
	// kc is the collector's own Kafka client: on a client shared with a
	// reader (the plane's serves the demo's follower), every request
	// waits behind that reader's long-poll fetch (measured: updates of
	// 380 ms instead of a few).
	kc    sarama.Client
	kcErr error

	mu   sync.Mutex
	last []byte

	// Only run's goroutine touches these.
	ticks           int
	functions       []FunctionStats
	lagError        string
	reportedStalled float64
	prevAt          time.Time
	prevCounts      map[string][2]float64 // function -> deliveries, errors
	prevCancelled   map[string]float64
	cancelRate      map[string]float64
	cancelled       map[string][]float64
	dlMark          map[partition][2]int64 // oldest and end offsets: read again when they move
	dl              DeadLetters
	lastBuild       time.Duration
	lastBytes       int
}

func newCollector(d *Dashboard) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	return &collector{d: d, ctx: ctx, cancel: cancel, cancelled: map[string][]float64{},
		cancelRate: map[string]float64{}, dl: DeadLetters{Counts: map[string]int{}}}
}

func (c *collector) stop() { c.cancel() }

func (c *collector) latest() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *collector) run() {
	t := time.NewTicker(c.d.cfg.Every)
	defer t.Stop()
	if c.kc, c.kcErr = broker.NewClient(c.d.p.Brokers, "orderflow-dashboard"); c.kcErr == nil {
		defer c.kc.Close()
	}
	for {
		c.tick()
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		case <-c.d.p.Done():
			return
		}
	}
}

func (c *collector) tick() {
	start := time.Now()
	u := c.update(start)
	u.BuildMillis, u.Bytes = float64(c.lastBuild.Microseconds())/1000, c.lastBytes
	b, err := json.Marshal(u)
	if err != nil {
		return
	}
	c.lastBuild, c.lastBytes = time.Since(start), len(b)
	c.mu.Lock()
	c.last = b
	c.mu.Unlock()
	c.d.broadcast(b)
}

// update makes one update: the tracker's counts every time, and every
// ScrapeEvery-th time the rest (each function's /metrics, its consumer
// group's lag from Kafka, the dead-letter topics when they moved), which
// costs the plane and the functions far more than the counts do.
func (c *collector) update(now time.Time) Update {
	if c.ticks%c.d.cfg.ScrapeEvery == 0 {
		c.readSources(now)
	}
	c.ticks++
	// The cancellation rates by reason hold between readings, so their
	// series has a point a second, as the tracker's do.
	for reason, rate := range c.cancelRate {
		series := append(c.cancelled[reason], rate)
		c.cancelled[reason] = series[max(0, len(series)-window):]
	}
	return Update{Time: now, Snapshot: c.d.Tracker.Snapshot(), Tracing: c.d.cfg.JaegerUI != "", Cancelled: c.cancelled,
		Functions: c.functions, LagError: c.lagError, DeadLetters: c.dl, ReportedStalled: c.reportedStalled}
}

// readSources reads each function's /metrics, the consumer groups' lag
// (what the plane's kafka_consumergroup_lag says, from Kafka) and the
// dead-letter topics.
func (c *collector) readSources(now time.Time) {
	p := c.d.p
	ctx, cancel := context.WithTimeout(c.ctx, 900*time.Millisecond)
	defer cancel()
	names := slices.Sorted(maps.Keys(p.Endpoints().Functions))
	scraped := make([]families, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		// Each replica keeps its own counters: read them all and add them up.
		wg.Go(func() { scraped[i], _ = scrapeAll(ctx, c.d.hc, p.ReplicaURLs(n)) })
	}
	groupOf := map[string]string{} // function -> its consumer group
	var groups []lag.Group
	for _, s := range p.Set.Sources {
		if s.Sink.Ref != nil {
			groupOf[s.Sink.Ref.Name] = s.ConsumerGroup
			groups = append(groups, lag.Group{Name: s.ConsumerGroup, Topics: s.Topics})
		}
	}
	lagByGroup := map[string]int64{}
	c.lagError = ""
	if c.kcErr != nil {
		c.lagError = c.kcErr.Error()
	} else if parts, err := lag.Read(ctx, c.kc, groups); err != nil {
		c.lagError = err.Error()
	} else {
		lagByGroup = lag.Total(parts)
	}
	wg.Wait()

	elapsed := now.Sub(c.prevAt).Seconds()
	counts := map[string][2]float64{}
	isError := func(ls map[string]string) bool { return ls["outcome"] == "refused" || ls["outcome"] == "failed" }
	c.functions = nil
	services := p.Services()
	for i, n := range names {
		st := services[n]
		f := FunctionStats{Name: n, Up: scraped[i] != nil, Lag: lagByGroup[groupOf[n]],
			Replicas: st.Replicas, Ready: st.Ready, Desired: st.Desired, ColdStarts: st.ColdStarts}
		if k := len(st.Events); k > 0 {
			f.LastScaling = st.Events[k-1].Why
		}
		if m := scraped[i]; m != nil {
			deliveries := m.sum("orderflow_deliveries_total", nil)
			f.Errors = m.sum("orderflow_deliveries_total", isError) + m.sum("orderflow_publish_failures_total", nil)
			f.OutboxBacklog = m.sum("orderflow_outbox_backlog", nil)
			counts[n] = [2]float64{deliveries, f.Errors}
			if prev, ok := c.prevCounts[n]; ok && elapsed > 0 {
				// A restarted function starts its counters at zero again.
				f.DeliveriesPerSec = max(0, deliveries-prev[0]) / elapsed
				f.ErrorsPerSec = max(0, f.Errors-prev[1]) / elapsed
			}
			if n == outcomesBy {
				c.cancellations(m.sumBy("orderflow_saga_outcomes_total", "reason", func(ls map[string]string) bool { return ls["outcome"] == "cancelled" }), elapsed)
			}
			if n == stallsBy {
				c.reportedStalled = m.sum("orderflow_sagas_stalled_total", nil)
			}
		}
		c.functions = append(c.functions, f)
	}
	c.prevAt, c.prevCounts = now, counts
	c.readDeadLetters(ctx)
}

// The functions whose metrics the dashboard reads beyond the common ones,
// as the catalog names them: the one that decides each order's outcome
// (orderflow_saga_outcomes_total), and the one that reports stalled sagas
// (orderflow_sagas_stalled_total).
var (
	outcomesBy = events.MustLookup(events.OrderCancelled).Producer
	stallsBy   = events.MustLookup(events.SagaStalled).Producer
)

// cancellations sets the cancellations per second by reason since the
// last reading.
func (c *collector) cancellations(total map[string]float64, elapsed float64) {
	if c.prevCancelled != nil && elapsed > 0 {
		for reason := range total {
			c.cancelRate[reason] = max(0, total[reason]-c.prevCancelled[reason]) / elapsed
		}
	}
	c.prevCancelled = total
}

// readDeadLetters reads the dead-letter topics again when a partition's
// start or end moved (a letter came, or a purge): reading all of them
// every second would cost as much as the topics are long.
func (c *collector) readDeadLetters(ctx context.Context) {
	if c.kcErr != nil {
		c.dl.Error = c.kcErr.Error()
		return
	}
	topics := c.d.p.Endpoints().DLQTopics
	kc := c.kc
	mark := map[partition][2]int64{}
	for _, topic := range topics {
		parts, err := kc.Partitions(topic)
		if err != nil {
			c.dl.Error = err.Error()
			return
		}
		for _, part := range parts {
			end, err1 := kc.GetOffset(topic, part, sarama.OffsetNewest)
			oldest, err2 := kc.GetOffset(topic, part, sarama.OffsetOldest)
			if err1 != nil || err2 != nil {
				c.dl.Error = "reading dead-letter offsets: " + errorOf(err1, err2).Error()
				return
			}
			mark[partition{topic, part}] = [2]int64{oldest, end}
		}
	}
	if maps.Equal(mark, c.dlMark) {
		return
	}
	rows, err := dlq.Read(ctx, kc, topics, nil)
	if err != nil {
		c.dl.Error = err.Error()
		return
	}
	dl := DeadLetters{Counts: map[string]int{}}
	for fn := range topics {
		dl.Counts[fn] = 0
	}
	for i := len(rows) - 1; i >= 0; i-- { // newest first
		r := rows[i]
		dl.Counts[r.Function]++
		if len(dl.Newest) < 10 {
			dl.Newest = append(dl.Newest, LetterSummary{ID: r.ID, Function: r.Function, Time: r.Time, OrderID: r.OrderID,
				Type: r.Event.Type(), Code: r.Code, Reason: r.Reason, Replays: r.Replays()})
		}
	}
	c.dl, c.dlMark = dl, mark
}

type partition struct {
	topic string
	n     int32
}

func errorOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

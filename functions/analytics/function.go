// Package function is the analytics step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP). It reads all four topics
// and keeps live projections; it publishes nothing.
//
//	every saga fact (11 types) -> the saga's projection + a count in its minute
//	analytics query            -> the view, computed from the stored projections
//	tick "stalled-sagas"       -> saga.stalled for pending sagas idle past ANALYTICS_STALL_AFTER
//
// The query is a CloudEvent (POST, binary or structured) answered with an
// analytics.view event whose data is the view; a plain GET answers the same
// view as JSON, for people and dashboards.
package function

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Config is the analytics function's own configuration.
type Config struct {
	// StallAfter is how long a pending saga may go without a step before it
	// is reported stalled (and so cancelled).
	StallAfter time.Duration `envconfig:"ANALYTICS_STALL_AFTER" default:"2m"`
	// StallBatch bounds the reports of one tick.
	StallBatch int `envconfig:"ANALYTICS_STALL_BATCH" default:"500"`
	// Lateness is how long after its time a fact may reach the log and
	// still count in its window; later ones are counted and listed as
	// late. The default covers a fact held in an outbox through one sweep
	// (every minute) and the relay's retries; a fact later than that was
	// held by an outage someone should see. Keep DefaultLateness equal.
	Lateness time.Duration `envconfig:"ANALYTICS_LATENESS" default:"2m"`
}

// Validate checks what envconfig decoded; errors name the variable.
func (c *Config) Validate() error {
	if c.StallAfter < time.Second {
		// Below a second every saga in flight would be reported stalled.
		return fmt.Errorf("ANALYTICS_STALL_AFTER=%s: want at least 1s", c.StallAfter)
	}
	if c.Lateness < 0 {
		return fmt.Errorf("ANALYTICS_LATENESS=%s: must not be negative", c.Lateness)
	}
	if c.StallBatch < 1 {
		return fmt.Errorf("ANALYTICS_STALL_BATCH=%d: must be at least 1", c.StallBatch)
	}
	return nil
}

// Function is the analytics function.
type Function struct {
	handler.Lifecycle
	cfg Config
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New("analytics", handler.Publishes(), handler.WithMigrations(slices.Concat(migrations, stalledMigrations, windowMigrations)...),
		handler.WithProjections(projections...))
	f := &Function{Lifecycle: app.Lifecycle()}
	observe[events.OrderCreatedData](app, events.OrderCreated)
	observe[events.OrderConfirmedData](app, events.OrderConfirmed)
	observe[events.OrderCancelledData](app, events.OrderCancelled)
	observe[events.InventoryReservedData](app, events.InventoryReserved)
	observe[events.InventoryRejectedData](app, events.InventoryRejected)
	observe[events.InventoryReleasedData](app, events.InventoryReleased)
	observe[events.PaymentCompletedData](app, events.PaymentCompleted)
	observe[events.PaymentFailedData](app, events.PaymentFailed)
	observe[events.PaymentRefundedData](app, events.PaymentRefunded)
	observe[events.NotificationSentData](app, events.NotificationSent)
	observe[events.NotificationFailedData](app, events.NotificationFailed)
	handler.OnQuery(app, events.AnalyticsQuery, events.AnalyticsView, f.query)
	// A plain GET answers the same view as JSON, for curl and dashboards.
	app.ServeGet(events.AnalyticsQuery, func(*http.Request) any { return events.AnalyticsQueryData{} })
	// The place command shares the orders topic. It is a request that may
	// be refused, not a fact; order.created is the fact that counts.
	app.Ignore(events.PlaceOrder)
	// Its own reports come back on the orders topic; the cancellation
	// they cause is what the projection counts.
	app.Ignore(events.SagaStalled)
	handler.CountEmitted(app, "orderflow_sagas_stalled_total",
		"Orders found with no outcome past their deadline; each gets a saga.stalled event, which the order function cancels.",
		nil, func(e event.Event) []string {
			if e.Type() == events.SagaStalled {
				return []string{}
			}
			return nil
		})
	handler.OnTick(app, events.TaskStalledSagas, f.reportStalled)
	return f
}

// Start reads the configuration and starts the shared edge.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	if err := handler.ReadConfig(&f.cfg); err != nil {
		return fmt.Errorf("analytics: bad configuration: %w", err)
	}
	return f.Lifecycle.Start(ctx, cfg)
}

func (f *Function) query(ctx context.Context, db *store.DB, _ handler.In[events.AnalyticsQueryData]) (any, error) {
	return readView(ctx, db, f.cfg.Lateness)
}

// observe routes one fact type into the projection. The edge has already
// dropped a redelivered event id; what is left to absorb (a re-sent event
// under a new id, arrival out of order) is the projection's job.
func observe[P any](app *handler.App, typ string) {
	handler.On(app, typ, func(ctx context.Context, tx *store.Tx, in handler.In[P]) ([]saga.Emit, error) {
		published, _ := ce.Time(in.Event, ce.PublishedTime)
		return nil, react(ctx, tx, Fact{Type: typ, ID: in.Event.ID(), Time: eventTime(in.Event), Data: in.Data}, published)
	})
}

// react is the shape of every analytics step: load the fact's saga, fold
// the fact into it (Project), save it, and keep the fact's contribution to
// its window (Prefer of the stored one and this record's). It emits
// nothing. published is when the record reached the log, zero if unknown.
func react(ctx context.Context, tx *store.Tx, f Fact, published time.Time) error {
	w := WindowFactOf(f, published)
	s, old, found, err := loadSagaAndFact(ctx, tx, events.Key(f.Data), w.Key)
	if err != nil {
		return err
	}
	if err := saveSaga(ctx, tx, Project(s, f)); err != nil {
		return err
	}
	if found {
		if w = Prefer(old, w); w.Equal(old) {
			return nil
		}
	}
	return saveWindowFact(ctx, tx, w)
}

// eventTime is when the fact happened. Windows and durations use it, not
// the arrival time, so a replay from the start lands every event in the
// same minute as the live run did. CloudEvents' time is optional; orderflow
// always sets it, and a KafkaSource sets the record timestamp for plain
// records, so the arrival time is only a last resort.
func eventTime(e event.Event) time.Time {
	if t := e.Time(); !t.IsZero() {
		return t.UTC()
	}
	return time.Now().UTC()
}

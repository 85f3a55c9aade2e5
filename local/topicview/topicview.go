// Package topicview rebuilds, from the topics alone, what the functions'
// read models answer: one order's state and timeline (the order function's
// query) and the analytics projection (the analytics function's). It is
// what `orderflow order`, `stats` and `dlq` use with --brokers, against a
// Kafka whose functions this machine cannot reach: the topics are the
// audit log, so they hold everything the read models were built from.
//
// The folds are the functions' own (order.Order.Apply, analytics.Project);
// this package only picks the records and decodes them.
package topicview

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	analytics "orderflow.dev/functions/analytics"
	order "orderflow.dev/functions/order"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// DeadLetterPrefix starts the name of every function's dead-letter topic
// (orderflow.dlq.<function>), as knative/base declares them.
const DeadLetterPrefix = "orderflow.dlq."

// EventTopics are the topics the saga's commands and facts travel on, from
// the event catalog.
func EventTopics() []string {
	var out []string
	for _, s := range events.All() {
		if s.Topic != "" && !slices.Contains(out, s.Topic) {
			out = append(out, s.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// DeadLetterTopics finds every function's dead-letter topic in Kafka
// itself, by function name.
func DeadLetterTopics(kc sarama.Client) (map[string]string, error) {
	if err := kc.RefreshMetadata(); err != nil {
		return nil, err
	}
	topics, err := kc.Topics()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range topics {
		if fn, ok := strings.CutPrefix(t, DeadLetterPrefix); ok && fn != "" {
			out[fn] = t
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no dead-letter topic (%s<function>) in this Kafka: is it the one orderflow runs on?", DeadLetterPrefix)
	}
	return out, nil
}

// Read returns every record of the event topics and, when withDeadLetters,
// of the dead-letter topics, up to their ends now. A topic missing from
// this Kafka is an error naming it.
func Read(ctx context.Context, kc sarama.Client, withDeadLetters bool) ([]kafkalog.Record, error) {
	topics := EventTopics()
	if withDeadLetters {
		dl, err := DeadLetterTopics(kc)
		if err != nil {
			return nil, err
		}
		topics = append(topics, slices.Sorted(maps.Values(dl))...)
	}
	return kafkalog.ReadAll(ctx, kc, topics...)
}

// payload decodes a record's event against the catalog: nil when the
// record is no CloudEvent of a known type with a valid payload.
func payload(r kafkalog.Record) any {
	if r.Event == nil {
		return nil
	}
	d, err := events.Decode(r.Event.Type(), r.Event.Data())
	if err != nil {
		return nil
	}
	return d
}

// orderIDOf is the order a record is about: its key, else its event's
// partitionkey (what the KafkaSink keys it by).
func orderIDOf(r kafkalog.Record) string {
	if r.Key != "" {
		return r.Key
	}
	if r.Event != nil {
		return ce.String(*r.Event, ce.PartitionKey)
	}
	return ""
}

// distinct drops a record whose event id was seen before on its topic (a
// redelivery, a replay to its topic): a function's dedupe absorbs those
// too. A dead letter keeps the id of the event it carries, on a topic of
// its own: it stays.
func distinct(recs []kafkalog.Record) []kafkalog.Record {
	seen := map[[2]string]bool{}
	var out []kafkalog.Record
	for _, r := range recs {
		if r.Event != nil {
			k := [2]string{r.Topic, r.Event.ID()}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, r)
	}
	return out
}

// Order rebuilds one order's view from the records: its state by the
// order function's own fold of order.created, .confirmed and .cancelled,
// and a timeline of every event about it, dead letters included, by time.
func Order(id string, recs []kafkalog.Record) events.OrderViewData {
	var mine []kafkalog.Record
	for _, r := range recs {
		if r.Event != nil && orderIDOf(r) == id {
			mine = append(mine, r)
		}
	}
	slices.SortStableFunc(mine, func(a, b kafkalog.Record) int {
		return cmp.Or(a.Event.Time().Compare(b.Event.Time()), a.Timestamp.Compare(b.Timestamp))
	})
	v := events.OrderViewData{OrderID: id}
	o := order.Order{ID: id}
	for _, r := range distinct(mine) {
		e := *r.Event
		summary := "on " + r.Topic
		if strings.HasPrefix(r.Topic, DeadLetterPrefix) {
			if l, ok := dlq.FromRecord(r); ok {
				summary = "dead-lettered by " + strings.TrimPrefix(r.Topic, DeadLetterPrefix) + ": " + l.Reason
			}
		} else {
			switch d := payload(r).(type) {
			case *events.OrderCreatedData, *events.OrderConfirmedData, *events.OrderCancelledData:
				o = o.Apply(e.Type(), d)
			case *events.PlaceOrderData:
				summary = "place-order command from " + d.CustomerID
			}
		}
		v.Timeline = append(v.Timeline, events.TimelineEntry{Time: e.Time(), Type: e.Type(), ID: e.ID(), Source: e.Source(), Summary: summary})
	}
	if o.Status != order.StatusNew {
		v.Found, v.Status, v.Reason, v.Version = true, string(o.Status), o.Reason, o.Version
		v.CustomerID, v.Currency, v.TotalCents, v.Lines = o.Created.CustomerID, o.Created.Currency, o.Created.TotalCents, o.Created.Lines
	}
	return v
}

// analyticsReacts tells the facts the analytics function folds: those its
// own edge routes to a reaction.
var analyticsReacts = sync.OnceValue(func() func(typ string) bool {
	app := analytics.New().App()
	return app.HasRoute
})

// recentWindows is how many minutes the analytics view lists, and
// latestLate how many late facts (as the analytics function does).
const (
	recentWindows = 60
	latestLate    = 20
)

// Analytics rebuilds the analytics view: every saga fact of the event
// topics folded by the analytics function's own projection, then summed
// as its query sums its tables.
func Analytics(recs []kafkalog.Record) events.AnalyticsViewData {
	v := events.AnalyticsViewData{
		OrdersByState:        map[string]int{string(analytics.StatePending): 0, string(analytics.StateConfirmed): 0, string(analytics.StateCancelled): 0},
		CancelledByReason:    map[string]int{},
		LastStepByOpenOrders: map[string]int{},
		Windows:              []events.WindowCount{},
	}
	sagas := map[string]analytics.Saga{}
	facts := map[string]analytics.WindowFact{}
	for _, r := range distinct(recs) {
		if r.Event == nil || strings.HasPrefix(r.Topic, DeadLetterPrefix) {
			continue
		}
		spec, ok := events.Lookup(r.Event.Type())
		if !ok || spec.Kind != events.KindFact || !analyticsReacts()(r.Event.Type()) {
			continue
		}
		d := payload(r)
		if d == nil {
			continue // the function would have refused it: it is a dead letter, not a fact
		}
		// Labelled by the version producers emit now, as the analytics
		// function labels an upcast fact.
		f := analytics.Fact{Type: events.Current(r.Event.Type()), ID: r.Event.ID(), Time: cmp.Or(r.Event.Time(), r.Timestamp), Data: reflect.ValueOf(d).Elem().Interface()}
		id := events.Key(f.Data)
		sagas[id] = analytics.Project(sagas[id], f)
		published, _ := ce.Time(*r.Event, ce.PublishedTime)
		analytics.FoldWindowFacts(facts, analytics.WindowFactOf(f, published))
	}
	var durations []int64
	for _, s := range sagas {
		v.OrdersByState[string(s.State)]++
		switch s.State {
		case analytics.StateCancelled:
			v.CancelledByReason[s.Reason]++
		case analytics.StatePending:
			v.LastStepByOpenOrders[s.LastType]++
		}
		v.RevenueCents += s.RevenueCents()
		v.RefundedCents += s.RefundedCents()
		sent, failed := s.NotificationCounts()
		v.NotificationsSent += sent
		v.NotificationsFailed += failed
		if d, ok := s.DurationMillis(); ok {
			durations = append(durations, d)
		}
	}
	v.SagaDurationMillis = analytics.Percentiles(durations)
	// The windows as the function's query sums its rows: each fact once,
	// late ones apart, judged by the function's default bound.
	bound := analytics.DefaultLateness
	all := slices.Collect(maps.Values(facts))
	v.EventsSeen = len(all)
	v.LatenessBoundMillis = bound.Milliseconds()
	for _, f := range all {
		if f.Late(bound) {
			v.LateFacts++
		}
	}
	v.LatestLate = analytics.LatestLate(all, bound, latestLate)
	v.Windows = analytics.RecentWindows(analytics.Tally(all, bound), recentWindows)
	return v
}

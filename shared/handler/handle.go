package handler

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/tracing"
)

// In is an incoming event with its decoded, schema-checked payload.
type In[P any] struct {
	Event event.Event
	Data  P
}

// Reaction applies one event inside the transaction that also records it as
// processed and stores what it emits. It must not publish anything itself.
type Reaction[P any] func(ctx context.Context, tx *store.Tx, in In[P]) ([]saga.Emit, error)

// Answer serves a query from the store, outside any transaction.
type Answer[P any] func(ctx context.Context, db *store.DB, in In[P]) (reply any, err error)

// route is a reaction as the edge calls it, its payload not yet typed.
type route func(ctx context.Context, tx *store.Tx, e event.Event, data any) ([]saga.Emit, error)

// direct answers an event the function does not react to: a query, the
// outbox sweep, a type ignored on purpose, a refusal.
type direct func(ctx context.Context, e event.Event) (*event.Event, error)

// On registers the reaction of the function to events of type typ, which
// must be the current version of its family. Every older version the
// catalog still accepts goes to the same reaction: decode has upcast it,
// so the reaction sees only P (In.Event keeps the type as it arrived).
func On[P any](a *App, typ string, react Reaction[P]) {
	checkPayload[P](typ)
	if cur := events.Current(typ); cur != typ {
		panic(fmt.Sprintf("handler: %s is superseded by %s; route %s and the older versions follow", typ, cur, cur))
	}
	r := func(ctx context.Context, tx *store.Tx, e event.Event, data any) ([]saga.Emit, error) {
		return react(ctx, tx, In[P]{Event: e, Data: *data.(*P)})
	}
	for _, t := range events.Accepted(typ) {
		a.routes[t] = r
	}
}

// OnEmitted registers what the function does with the events it publishes,
// in the transaction that stores them in the outbox, once they are built
// with their final ids and times: the order function notes its own facts in
// its timeline here, rather than reading them back from Kafka (a delivery
// and a transaction per fact, for what it already knew).
func OnEmitted(a *App, note func(ctx context.Context, tx *store.Tx, cause event.Event, out []Emitted) error) {
	a.onEmitted = note
}

// Emitted is an event the function publishes, with the payload it was
// built from.
type Emitted struct {
	Event event.Event
	Data  any // as the reaction returned it in its Emit
}

// OnTick registers a housekeeping task, run in a transaction like any
// reaction when a PingSource's tick names it (data {"task": task}). The
// outbox sweep needs no registration: every function answers it.
func OnTick(a *App, task string, run func(ctx context.Context, tx *store.Tx) ([]saga.Emit, error)) {
	a.ticks[task] = func(ctx context.Context, tx *store.Tx, _ event.Event, _ any) ([]saga.Emit, error) {
		return run(ctx, tx)
	}
}

// OnQuery registers a request/reply query: the reply, of type replyType, is
// the HTTP response.
func OnQuery[P any](a *App, typ, replyType string, answer Answer[P]) {
	checkPayload[P](typ)
	events.MustLookup(replyType)
	a.queries[typ] = func(ctx context.Context, e event.Event) (*event.Event, error) {
		data, err := decode(e)
		if err != nil {
			return a.refuse(e, err)
		}
		view, err := answer(ctx, a.db, In[P]{Event: e, Data: *data.(*P)})
		if err != nil {
			return a.refuse(e, err)
		}
		out, err := a.reply(e, replyType, view)
		if err != nil {
			return a.refuse(e, err)
		}
		return out, nil
	}
}

func checkPayload[P any](typ string) {
	spec := events.MustLookup(typ)
	if _, ok := spec.NewData().(*P); !ok {
		panic(fmt.Sprintf("handler: %s carries %T, not %T", typ, spec.NewData(), new(P)))
	}
}

// HandleEvent handles one decoded CloudEvent; ServeHTTP calls it for each
// request. The reply is nil for saga events (KafkaSource discards it
// anyway), a view for queries and an error event for refusals; the error,
// when not nil, is a *cehttp.Result carrying the HTTP status.
//
// What to do with the event is looked up first. An event the function
// reacts to then takes one straight path: dedupe, react, enqueue what the
// reaction emits in the outbox (one transaction), kick the relay.
func (a *App) HandleEvent(ctx context.Context, e event.Event) (*event.Event, error) {
	t0 := time.Now()
	typ := typeLabel(e.Type())
	ctx, span := a.deliverySpan(ctx, e)
	d := &deliveryNote{}
	reply, err := a.handle(context.WithValue(ctx, deliveryKey{}, d), e)
	status := statusOfResult(err)
	if d.outcome == "" {
		d.outcome = outcomeOf(status)
	}
	a.metrics.delivered(typ, d.outcome, status, time.Since(t0))
	endDeliverySpan(span, d.outcome, status, err)
	return reply, err
}

// deliveryNote carries what handle decided about a delivery back to
// HandleEvent, for its metrics and span, when the status alone does not
// say it (a duplicate and an ignored type are both 200).
type deliveryNote struct{ outcome string }

type deliveryKey struct{}

func noteOutcome(ctx context.Context, outcome string) {
	if d, ok := ctx.Value(deliveryKey{}).(*deliveryNote); ok {
		d.outcome = outcome
	}
}

// statusOfResult is the HTTP status HandleEvent's error stands for.
func statusOfResult(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if res, ok := errorsAs[*cehttp.Result](err); ok {
		return res.StatusCode
	}
	return http.StatusInternalServerError
}

func (a *App) handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if !a.ready.Load() {
		return a.refuse(e, saga.Retry("%s is starting; retry", a.name))
	}
	react, answer := a.lookup(e)
	if answer != nil {
		return answer(ctx, e)
	}
	// A redelivery of an event handled lately is answered before its
	// payload is decoded and checked against its schema (most of what a
	// duplicate cost). Older ones are caught by MarkProcessed in commit,
	// the authority: this is a cache of what it recorded, not a second
	// store.
	if a.recent.has(e.Source(), e.ID()) {
		return a.duplicate(ctx, e)
	}
	data, err := decode(e)
	if err != nil {
		return a.refuse(e, err)
	}
	txStart := time.Now()
	emitted, first, err := a.commit(ctx, e, react, data)
	a.metrics.txDuration.Observe(time.Since(txStart).Seconds())
	if err != nil {
		if a.storeFailed(err) {
			// Not this event's fault: retried, and the function reports
			// not ready until its store writes again (said once, in the
			// log, by storeFailed: not again for every delivery).
			if why := a.storeDown(); why != nil {
				err = saga.Retry("%v", why)
			}
			return a.refuseLogged(e, err, a.log.Debug)
		}
		return a.refuse(e, err)
	}
	if a.health.down.Load() {
		a.storeWrites()
	}
	if !first {
		return a.duplicate(ctx, e)
	}
	for _, fn := range a.onCommitted {
		fn(e, emitted)
	}
	a.recent.add(e.Source(), e.ID())
	a.faults.afterCommit(e.Type(), a.log)
	a.kick(e.ID(), emitted)
	return nil, nil
}

// lookup says what to do with e, by its type (and a tick by its task):
// react to it, or answer it directly.
func (a *App) lookup(e event.Event) (route, direct) {
	typ := e.Type()
	if q, ok := a.queries[typ]; ok {
		return nil, q
	}
	if typ == events.Tick {
		return a.tick(e)
	}
	if r, ok := a.routes[typ]; ok {
		return r, nil
	}
	if a.ignored[typ] {
		return nil, a.ignore
	}
	if _, known := events.Lookup(typ); known {
		return nil, a.refusal(saga.Invalid("type", "%s does not handle %s events; check the KafkaSource topics", a.name, typ))
	}
	return nil, a.refusal(saga.Invalid("type", "unknown event type %q; known types are listed in the orderflow event catalog", typ))
}

// tick looks up the task a PingSource's tick names: the outbox sweep,
// which every function answers, or one registered with OnTick, which is
// reacted to like a saga event.
func (a *App) tick(e event.Event) (route, direct) {
	data, err := decode(e)
	if err != nil {
		return nil, a.refusal(err)
	}
	task := data.(*events.TickData).Task
	if task == events.TaskOutboxSweep {
		return nil, a.sweep
	}
	if r, ok := a.ticks[task]; ok {
		return r, nil
	}
	return nil, a.refusal(saga.Invalid("task", "%s has no %q task; check the PingSource's data", a.name, task))
}

// commit runs the reaction in one transaction with what makes its effects
// happen once: the event's id recorded as processed (first is false when
// it already was, and then nothing else is done) and the events the
// reaction emits stored in the outbox.
func (a *App) commit(ctx context.Context, e event.Event, react route, data any) ([]event.Event, bool, error) {
	var emitted []event.Event
	err := a.db.InTx(ctx, func(tx *store.Tx) error {
		emitted = nil
		if err := tx.Guard(ctx, a.name, e.Source(), e.ID(), e.Type()); err != nil {
			return err
		}
		emits, err := react(ctx, tx, e, data)
		if err != nil {
			return err
		}
		emitted, err = a.enqueue(ctx, tx, e, emits)
		return err
	})
	if store.IsAlreadyProcessed(err) {
		// On PostgreSQL found with the reaction's first read or at COMMIT
		// (store.Guard): the transaction, reaction and all, is gone.
		return nil, false, nil
	}
	return emitted, err == nil, err
}

// enqueue builds the events a reaction emits, with their final ids and
// times, has OnEmitted note them and stores them in the outbox, all in the
// reaction's transaction.
func (a *App) enqueue(ctx context.Context, tx *store.Tx, cause event.Event, emits []saga.Emit) ([]event.Event, error) {
	if len(emits) == 0 {
		return nil, nil
	}
	out := make([]event.Event, len(emits))
	for i, em := range emits {
		if cur := events.Current(em.Type); cur != em.Type {
			return nil, fmt.Errorf("handler: %s emitted %s, which is superseded by %s: producers emit the current version only", a.name, em.Type, cur)
		}
		e, err := events.New(em.Type, em.Data, &cause, a.source)
		if err != nil {
			return nil, err
		}
		// While tracing, the event carries the delivery's span, so its
		// consumers' spans are children of the one that produced it.
		if tp, ok := tracing.Traceparent(ctx); ok {
			e.SetExtension(ce.Traceparent, tp)
		}
		out[i] = e
	}
	if a.onEmitted != nil {
		notes := make([]Emitted, len(out))
		for i := range out {
			notes[i] = Emitted{Event: out[i], Data: emits[i].Data}
		}
		if err := a.onEmitted(ctx, tx, cause, notes); err != nil {
			return nil, err
		}
	}
	return out, tx.Enqueue(ctx, out...)
}

// kick has the relay publish what a committed transaction enqueued now,
// rather than at its next sweep.
func (a *App) kick(causeID string, emitted []event.Event) {
	for _, out := range emitted {
		a.log.Debug("emitted", "type", out.Type(), "id", out.ID(), "causationid", causeID, "correlationid", ce.String(out, ce.CorrelationID))
	}
	if len(emitted) > 0 && a.relay != nil {
		a.relay.Kick()
	}
}

// duplicate answers a redelivery: 200, nothing done.
func (a *App) duplicate(ctx context.Context, e event.Event) (*event.Event, error) {
	noteOutcome(ctx, OutcomeDuplicate)
	a.log.Info("duplicate delivery ignored", "type", e.Type(), "id", e.ID(), "source", e.Source(), "correlationid", ce.String(e, ce.CorrelationID))
	return nil, nil
}

// ignore answers a type the function drops on purpose: 200, nothing done.
func (a *App) ignore(ctx context.Context, e event.Event) (*event.Event, error) {
	noteOutcome(ctx, OutcomeIgnored)
	a.log.Debug("ignored", "type", e.Type(), "id", e.ID())
	return nil, nil
}

// sweep publishes what the outbox holds. A PingSource sends it on a
// schedule, so events committed just before a crash, or by a function
// Knative since scaled to zero, go out even when no new event arrives.
func (a *App) sweep(ctx context.Context, e event.Event) (*event.Event, error) {
	n, err := a.Flush(ctx)
	if err != nil {
		return a.refuse(e, saga.Retry("outbox sweep published %d event(s), then failed: %v", n, err))
	}
	if n > 0 {
		a.log.Info("outbox sweep", "published", n)
	}
	return nil, nil
}

// refusal answers with err, whatever the event.
func (a *App) refusal(err error) direct {
	return func(_ context.Context, e event.Event) (*event.Event, error) { return a.refuse(e, err) }
}

// decode checks the envelope fields orderflow relies on and the payload
// against its schema.
func decode(e event.Event) (any, error) {
	if ct := e.DataContentType(); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasSuffix(strings.SplitN(ct, ";", 2)[0], "+json") {
		return nil, saga.Invalid("datacontenttype", "%q is not JSON; orderflow events carry application/json", ct)
	}
	// dataschema, when present, must be the one the catalog gives the type:
	// an event built against another schema (another version, another
	// producer's idea of the type) is refused naming it rather than read
	// as if it were this one. Absent is fine, as CloudEvents allows. An
	// older version carries its own version's URI, and is checked against
	// that version's schema before Decode upcasts it.
	if ds := e.DataSchema(); ds != "" {
		if spec, ok := events.Lookup(e.Type()); ok && ds != spec.SchemaURI() {
			return nil, saga.Invalid("dataschema", "%q is not the schema of %s (%s)", shorten(ds, 200), e.Type(), spec.SchemaURI())
		}
	}
	data, err := events.Decode(e.Type(), e.Data())
	if err != nil {
		if fe, ok := errorsAs[*events.FieldError](err); ok {
			return nil, &saga.Refusal{Kind: saga.KindInvalid, Field: fe.Field, Msg: fe.Reason}
		}
		return nil, saga.Invalid("data", "%v", err)
	}
	return data, nil
}

func (a *App) reply(cause event.Event, typ string, data any) (*event.Event, error) {
	out := event.New(event.CloudEventsVersionV1)
	out.SetID(uuid.NewString())
	out.SetType(typ)
	out.SetSource(a.source)
	out.SetTime(timeNow())
	if spec, ok := events.Lookup(typ); ok {
		out.SetDataSchema(spec.SchemaURI())
	}
	if err := out.SetData(event.ApplicationJSON, data); err != nil {
		return nil, err
	}
	out.SetExtension(ce.CausationID, cause.ID())
	if c := ce.String(cause, ce.CorrelationID); c != "" {
		out.SetExtension(ce.CorrelationID, c)
	}
	out.SetExtension(ce.Traceparent, ce.ChildTraceparent(ce.String(cause, ce.Traceparent)))
	return &out, nil
}

// refuse answers the failure err with an error event whose JSON body names
// the problem, and the status that tells the dispatcher whether to retry.
func (a *App) refuse(e event.Event, err error) (*event.Event, error) {
	level := a.log.Warn
	if refusalOf(err).status >= 500 {
		level = a.log.Error
	}
	return a.refuseLogged(e, err, level)
}

// refuseLogged is refuse, logging at level.
func (a *App) refuseLogged(e event.Event, err error, level func(string, ...any)) (*event.Event, error) {
	r := refusalOf(err)
	level("refused", "status", r.status, "field", r.Field, "error", r.Msg, "type", e.Type(), "id", e.ID(),
		"correlationid", ce.String(e, ce.CorrelationID))
	body := events.ErrorData{Error: r.Msg, Field: r.Field, Status: r.status, EventType: e.Type(), EventID: e.ID(), Function: a.name}
	out, rerr := a.reply(e, events.Error, body)
	if rerr != nil {
		return nil, cehttp.NewResult(r.status, "%s", r.Msg)
	}
	return out, cehttp.NewResult(r.status, "%s", r.Error())
}

package handler

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
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

type route func(ctx context.Context, tx *store.Tx, e event.Event, data any) ([]saga.Emit, error)
type query struct {
	replyType string
	answer    func(ctx context.Context, db *store.DB, e event.Event, data any) (any, error)
}

// On registers the reaction of the function to events of type typ.
func On[P any](a *App, typ string, react Reaction[P]) {
	checkPayload[P](typ)
	a.routes[typ] = func(ctx context.Context, tx *store.Tx, e event.Event, data any) ([]saga.Emit, error) {
		return react(ctx, tx, In[P]{Event: e, Data: *data.(*P)})
	}
}

// duplicate answers a redelivery: 200, nothing done.
func (a *App) duplicate(e event.Event) (*event.Event, error) {
	a.log.Info("duplicate delivery ignored", "type", e.Type(), "id", e.ID(), "source", e.Source(), "correlationid", ce.String(e, ce.CorrelationID))
	return nil, nil
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

func (a *App) tickRoute(e event.Event) (route, error) {
	data, err := decode(e)
	if err != nil {
		return nil, err
	}
	task := data.(*events.TickData).Task
	if task == events.TaskOutboxSweep {
		return nil, nil
	}
	r, ok := a.ticks[task]
	if !ok {
		return nil, saga.Invalid("task", "%s has no %q task; check the PingSource's data", a.name, task)
	}
	return r, nil
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

// OnQuery registers a request/reply query: the reply, of type replyType, is
// the HTTP response.
func OnQuery[P any](a *App, typ, replyType string, answer Answer[P]) {
	checkPayload[P](typ)
	events.MustLookup(replyType)
	a.queries[typ] = query{replyType: replyType, answer: func(ctx context.Context, db *store.DB, e event.Event, data any) (any, error) {
		return answer(ctx, db, In[P]{Event: e, Data: *data.(*P)})
	}}
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
func (a *App) HandleEvent(ctx context.Context, e event.Event) (*event.Event, error) {
	if !a.ready.Load() {
		return a.refuse(e, saga.Retry("%s is starting; retry", a.name))
	}
	typ := e.Type()
	if q, ok := a.queries[typ]; ok {
		return a.answer(ctx, e, q)
	}
	r, ok := a.routes[typ]
	if typ == events.Tick {
		var err error
		if r, err = a.tickRoute(e); err != nil {
			return a.refuse(e, err)
		}
		if r == nil {
			return a.sweep(ctx, e)
		}
		ok = true
	}
	if !ok {
		if a.ignored[typ] {
			a.log.Debug("ignored", "type", typ, "id", e.ID())
			return nil, nil
		}
		if _, known := events.Lookup(typ); known {
			return a.refuse(e, saga.Invalid("type", "%s does not handle %s events; check the KafkaSource topics", a.name, typ))
		}
		return a.refuse(e, saga.Invalid("type", "unknown event type %q; known types are listed in the orderflow event catalog", typ))
	}
	// A redelivery of an event handled lately is answered before its
	// payload is decoded and checked against its schema (most of what a
	// duplicate cost). Older ones are caught by MarkProcessed below, the
	// authority: this is a cache of what it recorded, not a second store.
	if a.recent.has(e.Source(), e.ID()) {
		return a.duplicate(e)
	}
	data, err := decode(e)
	if err != nil {
		return a.refuse(e, err)
	}

	duplicate := false
	var emitted []event.Event
	err = a.db.InTx(ctx, func(tx *store.Tx) error {
		first, err := tx.MarkProcessed(ctx, a.name, e.Source(), e.ID(), typ)
		if err != nil {
			return err
		}
		if !first {
			duplicate = true
			return nil
		}
		emits, err := r(ctx, tx, e, data)
		if err != nil {
			return err
		}
		emitted = emitted[:0]
		for _, em := range emits {
			out, err := events.New(em.Type, em.Data, &e, a.source)
			if err != nil {
				return err
			}
			emitted = append(emitted, out)
		}
		if a.onEmitted != nil && len(emitted) > 0 {
			notes := make([]Emitted, len(emitted))
			for i := range emitted {
				notes[i] = Emitted{Event: emitted[i], Data: emits[i].Data}
			}
			if err := a.onEmitted(ctx, tx, e, notes); err != nil {
				return err
			}
		}
		return tx.Enqueue(ctx, emitted...)
	})
	if err != nil {
		return a.refuse(e, err)
	}
	if !duplicate {
		a.recent.add(e.Source(), e.ID())
		a.faults.afterCommit(typ, a.log)
	}
	if duplicate {
		return a.duplicate(e)
	}
	for _, out := range emitted {
		a.log.Debug("emitted", "type", out.Type(), "id", out.ID(), "causationid", e.ID(), "correlationid", ce.String(out, ce.CorrelationID))
	}
	if len(emitted) > 0 && a.relay != nil {
		a.relay.Kick()
	}
	return nil, nil
}

func (a *App) answer(ctx context.Context, e event.Event, q query) (*event.Event, error) {
	data, err := decode(e)
	if err != nil {
		return a.refuse(e, err)
	}
	reply, err := q.answer(ctx, a.db, e, data)
	if err != nil {
		return a.refuse(e, err)
	}
	out, err := a.reply(e, q.replyType, reply)
	if err != nil {
		return a.refuse(e, err)
	}
	return out, nil
}

// decode checks the envelope fields orderflow relies on and the payload
// against its schema.
func decode(e event.Event) (any, error) {
	if ct := e.DataContentType(); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasSuffix(strings.SplitN(ct, ";", 2)[0], "+json") {
		return nil, saga.Invalid("datacontenttype", "%q is not JSON; orderflow events carry application/json", ct)
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
	r := refusalOf(err)
	level := a.log.Warn
	if r.status >= 500 {
		level = a.log.Error
	}
	level("refused", "status", r.status, "field", r.Field, "error", r.Msg, "type", e.Type(), "id", e.ID(),
		"correlationid", ce.String(e, ce.CorrelationID))
	body := events.ErrorData{Error: r.Msg, Field: r.Field, Status: r.status, EventType: e.Type(), EventID: e.ID(), Function: a.name}
	out, rerr := a.reply(e, events.Error, body)
	if rerr != nil {
		return nil, cehttp.NewResult(r.status, "%s", r.Msg)
	}
	return out, cehttp.NewResult(r.status, "%s", r.Error())
}

package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/tracing"
)

// MaxBodyBytes bounds a delivered event. Saga events are a few hundred
// bytes; a megabyte is a mistake or an attack.
const MaxBodyBytes = 1 << 20

// ServeHTTP is the function's HTTP entry point (func-go's http runtime
// calls it through the function's Handle). Each request is decoded as a
// CloudEvent, binary or structured, on its own goroutine.
//
// Why not func-go's CloudEvents runtime: it serves through the CloudEvents
// SDK's NewHTTPReceiveHandler, which hands every request across one shared
// unbuffered channel to a goroutine waiting on the *request* context
// (sdk-go v2.16.2, issues cloudevents/sdk-go#1224 and #1332, fixes not
// merged). Under concurrent deliveries a consumer exits with its request
// while another request's message is still pending; from then on each
// request is served only when the next one arrives, and a handler may run
// with another request's (cancelled) context. KafkaSource dispatches many
// partitions at once, so functions wedged under the local plane within
// seconds. Decoding here keeps one request, one goroutine, one context.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		a.serveMetrics(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodHead:
		if a.get != nil {
			a.serveGet(w, r)
			return
		}
		fallthrough
	default:
		writeError(w, http.StatusMethodNotAllowed, events.ErrorData{Error: "POST a CloudEvent (binary or structured mode)", Function: a.name})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	e, err := decodeRequest(r)
	if err != nil {
		refusal := refusalOf(err)
		a.log.Warn("refused", "status", refusal.status, "field", refusal.Field, "error", refusal.Msg)
		writeError(w, refusal.status, events.ErrorData{Error: refusal.Msg, Field: refusal.Field, Status: refusal.status, Function: a.name})
		a.metrics.delivered(unknownType, OutcomeRefused, refusal.status, 0)
		return
	}
	// The hop that sent the request (the dispatcher's span, in its
	// traceparent header) is the delivery's parent.
	reply, result := a.HandleEvent(tracing.ParentOf(r.Context(), r.Header, ce.String(*e, ce.Traceparent)), *e)
	status := http.StatusOK
	var res *cehttp.Result
	if errors.As(result, &res) {
		status = res.StatusCode
	} else if result != nil {
		status = http.StatusInternalServerError
	}
	if reply == nil {
		w.WriteHeader(status)
		return
	}
	if err := cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(reply), status, w); err != nil {
		a.log.Error("writing the reply failed", "error", err)
	}
}

// decodeRequest turns the request into an event, or a refusal naming what
// is wrong with the envelope.
func decodeRequest(r *http.Request) (*event.Event, error) {
	if enc := ce.ContentEncoding(r.Header); enc != "" {
		return nil, &httpRefusal{status: http.StatusUnsupportedMediaType, Refusal: &saga.Refusal{Field: "content-encoding",
			Msg: fmt.Sprintf("content-encoding %q is not read here: send the event uncompressed", enc)}}
	}
	structured, err := ce.StructuredBody(r)
	if err != nil {
		return nil, bodyRefusal(err)
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	if msg.ReadEncoding() == binding.EncodingBatch {
		return nil, saga.Invalid("content-type", "a batch of CloudEvents (application/cloudevents-batch+json) is not accepted: send one event a request, binary or structured")
	}
	if msg.ReadEncoding() == binding.EncodingUnknown {
		if problem := ce.UnsupportedSpecVersion(r.Header); problem != "" {
			return nil, saga.Invalid("specversion", "%s", problem)
		}
		return nil, saga.Invalid("specversion", "not a CloudEvent: send ce-specversion, ce-id, ce-source and ce-type headers (binary mode) or a content-type of application/cloudevents+json (structured mode)")
	}
	e, err := ce.ToEvent(r.Context(), msg)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, bodyRefusal(err)
		}
		if field, reason := ce.EnvelopeProblem(r.Header, structured); field != "" {
			return nil, saga.Invalid(field, "%s: %s", field, reason)
		}
		return nil, envelopeRefusal(err)
	}
	if err := e.Validate(); err != nil {
		return nil, envelopeRefusal(err)
	}
	if field, reason := ce.Ambiguity(r.Header, structured); field != "" {
		return nil, saga.Invalid(field, "%s: %s", field, reason)
	}
	// id, source and type are stored (processed ids) and logged as text:
	// bytes that are not text would fail there on every retry.
	for _, a := range [][2]string{{"id", e.ID()}, {"source", e.Source()}, {"type", e.Type()}} {
		if !utf8.ValidString(a[1]) || strings.ContainsRune(a[1], 0) {
			return nil, saga.Invalid(a[0], "%s must be UTF-8 text without NUL bytes", a[0])
		}
	}
	return e, nil
}

// bodyRefusal answers a body that could not be read: too large (413), or
// cut off.
func bodyRefusal(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &httpRefusal{status: http.StatusRequestEntityTooLarge, Refusal: &saga.Refusal{Field: "data", Msg: fmt.Sprintf("event larger than %d bytes", MaxBodyBytes)}}
	}
	return saga.Invalid("event", "the request's body could not be read: %v", err)
}

// envelopeRefusal names the first attribute the SDK complained about, or
// (when neither it nor ce.EnvelopeProblem could tell which) the event.
// The SDK's other errors are not searched for an attribute's name: "id"
// is in "invalid", "source" in a JSON decoder's quote of the body.
func envelopeRefusal(err error) *saga.Refusal {
	var ve event.ValidationError
	if errors.As(err, &ve) {
		fields := make([]string, 0, len(ve))
		for f := range ve {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		return saga.Invalid(fields[0], "%s: %v", fields[0], ve[fields[0]])
	}
	return saga.Invalid("event", "malformed CloudEvent: %s", err.Error())
}

// ServeGet answers plain GETs with a query of type typ (its payload built
// from the request) so a person can read a function's view with curl.
func (a *App) ServeGet(typ string, query func(r *http.Request) any) {
	if _, ok := a.queries[typ]; !ok {
		panic("handler: ServeGet of a type with no OnQuery: " + typ)
	}
	a.get = &getRoute{typ: typ, query: query}
}

type getRoute struct {
	typ   string
	query func(r *http.Request) any
}

func (a *App) serveGet(w http.ResponseWriter, r *http.Request) {
	raw, err := json.Marshal(a.get.query(r))
	if err != nil {
		writeError(w, http.StatusBadRequest, events.ErrorData{Error: err.Error(), Function: a.name})
		return
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID("get")
	e.SetSource("/http/get")
	e.SetType(a.get.typ)
	_ = e.SetData(event.ApplicationJSON, json.RawMessage(raw))
	reply, result := a.HandleEvent(r.Context(), e)
	status := http.StatusOK
	var res *cehttp.Result
	if errors.As(result, &res) {
		status = res.StatusCode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if reply != nil {
		var pretty json.RawMessage = reply.Data()
		out, err := json.MarshalIndent(pretty, "", "  ")
		if err != nil {
			out = reply.Data()
		}
		_, _ = w.Write(append(out, '\n'))
	}
}

func writeError(w http.ResponseWriter, status int, body events.ErrorData) {
	if body.Status == 0 {
		body.Status = status
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

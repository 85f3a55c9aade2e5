// Package orderflow fits orderflow onto the local plane, which knows
// nothing of it: what the functions get locally that a cluster gives them
// from secrets and real services (an SQLite file for each database their
// func.yaml reads from the orderflow-db Secret, a customer-notification
// provider), that provider's stand-in, and the plane API routes that ask
// the functions for their read models.
package orderflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/client"
	"orderflow.dev/local/dashboard"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// Wire makes opts run orderflow: every database a function's func.yaml
// takes from the orderflow-db Secret on a cluster is an SQLite file of its
// own under <state>/db (named by the Secret's key); a function that reads
// NOTIFY_CHANNEL posts its notifications to the returned Webhook, which
// the plane's API serves at /webhook beside the query routes and the
// dashboard (whose tracker observes every source). opts.Env still
// overrides any of it (PostgreSQL URLs, say).
func Wire(opts *plane.Options) *Webhook {
	hook := NewWebhook()
	dash, dashErr := dashboard.New(dashboard.Config{JaegerUI: os.Getenv(EnvJaegerUI)})
	if dashErr == nil {
		opts.Observers = append(opts.Observers, dash.Observer())
	}
	opts.TraceService = "orderflow-plane"
	opts.TraceConversation = ce.CorrelationID // the saga: one order's events, whoever sent them
	opts.Open = dashboard.Static              // the page's files; its data asks for the token
	var envs sync.Map                         // function -> its env: func.yaml is read once a run
	opts.FunctionEnv = func(p *plane.Plane, name string) map[string]string {
		if env, ok := envs.Load(name); ok {
			return maps.Clone(env.(map[string]string))
		}
		env := functionEnv(opts.FunctionsDir, name, p.StateDir(), p.APIURL)
		envs.Store(name, env)
		return maps.Clone(env)
	}
	// A SQLite store is one process's file: a function on it runs as one
	// replica whatever its func.yaml allows (the function itself refuses
	// to start on SQLite when it may have more: see handler.Config).
	opts.AdjustScale = func(p *plane.Plane, name string, s serving.Scale) (serving.Scale, string) {
		env := p.EnvOf(name)
		var onSQLite []string
		for k, v := range env {
			if strings.HasSuffix(k, "DATABASE_URL") && (strings.HasPrefix(v, "sqlite:") || v == "" && k == "ORDERFLOW_DATABASE_URL") {
				onSQLite = append(onSQLite, k)
			}
		}
		if _, set := env["ORDERFLOW_DATABASE_URL"]; !set {
			onSQLite = append(onSQLite, "ORDERFLOW_DATABASE_URL")
		}
		if len(onSQLite) == 0 || s.Max == 1 {
			return s, ""
		}
		slices.Sort(onSQLite)
		s.Min, s.Max = min(s.Min, 1), 1
		return s, strings.Join(onSQLite, ", ") + " is SQLite, one process's file; on PostgreSQL (--database-url) it scales as its func.yaml says"
	}
	// func-go only routes CloudEvents POSTs to a function, so these GETs
	// ask the functions with query events and return the JSON of the reply.
	opts.Routes = func(p *plane.Plane, mux *http.ServeMux) {
		mux.Handle("POST /webhook", hook)
		mux.HandleFunc("GET /api/notifications", func(w http.ResponseWriter, r *http.Request) { plane.WriteJSON(w, http.StatusOK, hook.Stats()) })
		mux.HandleFunc("GET /api/analytics", query[events.AnalyticsViewData](p, events.AnalyticsQuery, func(*http.Request) any { return events.AnalyticsQueryData{} }))
		mux.HandleFunc("GET /api/stock", query[events.InventoryViewData](p, events.InventoryQuery, func(*http.Request) any { return events.InventoryQueryData{} }))
		mux.HandleFunc("GET /schemas/{file}", ServeSchema)
		mux.HandleFunc("GET /api/orders/{id}", query[events.OrderViewData](p, events.OrderQuery, func(r *http.Request) any { return events.OrderQueryData{OrderID: r.PathValue("id")} }))
		if dashErr == nil {
			dashErr = dash.Routes(p, mux)
		}
		if dashErr != nil { // say so where the page would be, rather than stop the topology for it
			mux.HandleFunc("/dashboard/", func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "dashboard unavailable: "+dashErr.Error(), http.StatusServiceUnavailable)
			})
		}
	}
	return hook
}

// NotifyChannelEnv is the setting of a function that tells customers the
// outcome; locally it is pointed at the Webhook.
const NotifyChannelEnv = "NOTIFY_CHANNEL"

// functionEnv is what a function gets locally in place of a cluster's
// secrets and services, read from its func.yaml. One it cannot read gets
// the defaults: the runner then fails on that func.yaml, naming it.
func functionEnv(functionsDir, name, stateDir, apiURL string) map[string]string {
	db := func(key string) string { return "sqlite://" + filepath.Join(stateDir, "db", key+".db") }
	env := map[string]string{"ORDERFLOW_DATABASE_URL": db(name), "ORDERFLOW_LOG_LEVEL": "info"}
	dbs, _ := Databases(functionsDir, name)
	for _, d := range dbs {
		env[d.Env] = db(d.Key)
	}
	if fy, err := manifests.LoadFunc(filepath.Join(functionsDir, name)); err == nil &&
		slices.ContainsFunc(fy.Envs, func(e manifests.FuncEnv) bool { return e.Name == NotifyChannelEnv }) {
		env[NotifyChannelEnv] = "webhook"
		env["NOTIFY_WEBHOOK_URL"] = apiURL + "/webhook"
	}
	return env
}

// EnvJaegerUI overrides where the dashboard links an order's trace
// (dashboard.DefaultJaegerUI) when tracing is on.
const EnvJaegerUI = "ORDERFLOW_JAEGER_UI"

// query asks the function answering typ (client.Answerer) with a query
// event and answers the view V it replies with.
func query[V any](p *plane.Plane, typ string, q func(*http.Request) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The request's part of the query (an order id from the path) is
		// checked against the query's schema here: a bad one is the
		// caller's 400, naming the field, not a 502 of the function's
		// refusal (or of a header the id cannot be in).
		question := q(r)
		if raw, err := json.Marshal(question); err != nil {
			plane.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		} else if _, err := events.Decode(typ, raw); err != nil {
			body := map[string]string{"error": err.Error()}
			var fe *events.FieldError
			if errors.As(err, &fe) {
				body["field"] = fe.Field
			}
			plane.WriteJSON(w, http.StatusBadRequest, body)
			return
		}
		var out V
		fn, err := client.Answerer(typ)
		var c *client.Client
		if err == nil {
			c, err = client.New(10 * time.Second)
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			err = c.Query(ctx, p.FunctionURL(fn), typ, question, &out)
		}
		if err != nil {
			plane.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		plane.WriteJSON(w, http.StatusOK, out)
	}
}

// Webhook stands in for a customer-notification provider: the notify
// function's webhook channel POSTs here, a real HTTP call.
//
// It counts distinct Idempotency-Keys, so a resend shows as one
// notification. The keys are remembered for two generations of
// keyMemory (at least that long, at most twice), not forever: a plane that
// runs for days would otherwise hold one key per order ever notified (the
// soak saw it as steady growth of the plane's heap). A resend comes within
// the KafkaSource's retry schedule (about a minute) or a dead-letter
// replay an operator makes soon after; keyMemory covers both with room.
type Webhook struct {
	mu         sync.Mutex
	received   int
	distinct   int
	keys, prev map[string]struct{} // Idempotency-Keys of this generation and the one before
	rotated    time.Time
	keyMemory  time.Duration
	now        func() time.Time
	recent     []json.RawMessage
	failWith   int // non-zero: answer this status instead (tests, demos of failure)
}

// DefaultKeyMemory is how long a Webhook remembers an Idempotency-Key at
// least.
const DefaultKeyMemory = 30 * time.Minute

// NewWebhook returns a webhook that remembers keys for DefaultKeyMemory.
func NewWebhook() *Webhook {
	return &Webhook{keys: map[string]struct{}{}, prev: map[string]struct{}{}, keyMemory: DefaultKeyMemory, now: time.Now, rotated: time.Now()}
}

// maxNotification bounds a notification's body: a message to a customer,
// not a file.
const maxNotification = 1 << 20

// ServeHTTP takes a POSTed notification: one JSON object with the fields
// the notify function sends (id, orderId, outcome, to), and its id again
// as the Idempotency-Key header, as a provider would insist on. Anything
// else is refused with a JSON reason naming the field, not counted.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, status, field, why := readNotification(r)
	if why != "" {
		plane.WriteJSON(rw, status, map[string]string{"error": why, "field": field})
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failWith != 0 {
		http.Error(rw, "webhook told to fail", w.failWith)
		return
	}
	w.received++
	w.remember(r.Header.Get("Idempotency-Key"))
	w.recent = append(w.recent, body)
	if len(w.recent) > 50 {
		w.recent = w.recent[len(w.recent)-50:]
	}
	rw.WriteHeader(http.StatusNoContent)
}

// readNotification reads and checks a POSTed notification; why says what
// is wrong with it (and status and field how to answer), "" when nothing.
func readNotification(r *http.Request) (body []byte, status int, field, why string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotification+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest, "body", "reading the body: " + err.Error()
	case len(body) > maxNotification:
		return nil, http.StatusRequestEntityTooLarge, "body", fmt.Sprintf("a notification is at most %d bytes", maxNotification)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, http.StatusBadRequest, "body", "want one JSON object: a notification with id, orderId, outcome and to"
	}
	for _, name := range []string{"id", "orderId", "outcome", "to"} {
		var v string
		if err := json.Unmarshal(fields[name], &v); err != nil || strings.TrimSpace(v) == "" {
			return nil, http.StatusBadRequest, name, name + ": missing, empty or not a string"
		}
	}
	if strings.TrimSpace(r.Header.Get("Idempotency-Key")) == "" {
		return nil, http.StatusBadRequest, "Idempotency-Key", "the Idempotency-Key header is missing: it is what makes a resend count once"
	}
	return body, 0, "", ""
}

// remember counts key as distinct unless this generation or the one
// before holds it; a generation older than keyMemory is dropped whole
// (two small maps swapped, not a scan).
func (w *Webhook) remember(key string) {
	switch now := w.now(); {
	case now.Sub(w.rotated) >= 2*w.keyMemory: // quiet for two generations: both are old
		w.prev, w.keys, w.rotated = map[string]struct{}{}, map[string]struct{}{}, now
	case now.Sub(w.rotated) >= w.keyMemory:
		w.prev, w.keys, w.rotated = w.keys, map[string]struct{}{}, now
	}
	if _, ok := w.keys[key]; ok {
		return
	}
	if _, ok := w.prev[key]; ok {
		w.keys[key] = struct{}{} // seen again: keep it another generation
		return
	}
	w.keys[key] = struct{}{}
	w.distinct++
}

// FailWith makes the webhook answer status to every notification (0: accept
// again), to show what a customer-notification outage does.
func (w *Webhook) FailWith(status int) {
	w.mu.Lock()
	w.failWith = status
	w.mu.Unlock()
}

// WebhookStats counts what the webhook received.
type WebhookStats struct {
	Received int               `json:"received"`
	Distinct int               `json:"distinct"`
	Recent   []json.RawMessage `json:"recent"`
}

// Stats returns the counts.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WebhookStats{Received: w.received, Distinct: w.distinct, Recent: append([]json.RawMessage(nil), w.recent...)}
}

// ServeSchema answers GET /schemas/{file}: the catalog's dataschema URIs
// (urn:orderflow:schema:<type>.json) name a schema; locally this is where
// to read it.
func ServeSchema(w http.ResponseWriter, r *http.Request) {
	typ, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	body, known := events.Schema(typ)
	if !ok || !known {
		http.Error(w, fmt.Sprintf("no schema %q in the event catalog", r.PathValue("file")), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(body)
}

// Package dashboard is the live page of a running orderflow: the saga as
// a flow (how many orders passed each step in the last minute, how many
// wait at it now), orders per second, each function's lag, deliveries,
// errors and outbox, dead letters with a replay button, stalled sagas and
// an order's timeline. The page is plain HTML, CSS and JavaScript embedded
// in the binary; the plane's API serves it under /dashboard/ and streams
// an update a second to it with server-sent events, but only while a page
// is open: nobody watching costs nothing beyond the Tracker's counting.
package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/client"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
)

//go:embed static
var static embed.FS

// maxSubscribers bounds the open pages (each holds a connection).
const maxSubscribers = 32

// Config configures a Dashboard.
type Config struct {
	// JaegerUI is the Jaeger UI an order's trace is linked to when
	// tracing is on (default DefaultJaegerUI).
	JaegerUI string
	// MaxOrders bounds the orders the tracker follows (default 100,000).
	MaxOrders int
	// Every is the update period (default 1s); every ScrapeEvery-th
	// update (default 2) also reads the functions' metrics, the lag and
	// the dead letters.
	Every       time.Duration
	ScrapeEvery int
}

// Dashboard serves the page; its Tracker must observe the plane's sources.
type Dashboard struct {
	Tracker *Tracker
	cfg     Config
	token   string
	p       *plane.Plane
	hc      *http.Client
	replay  dlq.Replayer

	mu   sync.Mutex
	subs map[chan []byte]struct{}
	coll *collector // nil while no page is open
}

// New returns a dashboard; Routes gives it the plane's token, which a
// replay must present (package door): whoever can read the token file
// could run `orderflow dlq replay` with the same state directory anyway.
func New(cfg Config) (*Dashboard, error) {
	if cfg.MaxOrders <= 0 {
		cfg.MaxOrders = 100_000
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.ScrapeEvery <= 0 {
		cfg.ScrapeEvery = 2
	}
	c, err := client.New(15 * time.Second)
	if err != nil {
		return nil, err
	}
	return &Dashboard{Tracker: NewTracker(cfg.MaxOrders), cfg: cfg,
		hc: &http.Client{Timeout: 2 * time.Second}, replay: dlq.Replayer{HTTP: c, MaxReplays: 3},
		subs: map[chan []byte]struct{}{}}, nil
}

// Observer is what the plane's sources must report to.
func (d *Dashboard) Observer() source.Observer { return d.Tracker }

// DefaultJaegerUI is where scripts/jaeger.sh's Jaeger serves its UI.
const DefaultJaegerUI = "http://127.0.0.1:16686"

// Routes serves the page on mux, under /dashboard/.
func (d *Dashboard) Routes(p *plane.Plane, mux *http.ServeMux) error {
	d.p = p
	if !p.Tracing() {
		d.cfg.JaegerUI = "" // no trace to link to
	} else if d.cfg.JaegerUI == "" {
		d.cfg.JaegerUI = DefaultJaegerUI
	}
	if p.Token() == "" {
		return errors.New("the plane has no token for the replay to ask for")
	}
	d.mount(mux, p.Token())
	return nil
}

func (d *Dashboard) mount(mux *http.ServeMux, token string) {
	d.token = token
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /dashboard/", secured(http.StripPrefix("/dashboard/", http.FileServerFS(files))))
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /dashboard/events", d.events)
	mux.HandleFunc("GET /dashboard/api/deadletters/{id}", d.showLetter)
	mux.HandleFunc("POST /dashboard/api/deadletters/{id}/replay", d.replayLetter)
	// Without this, a GET of the replay path would fall to the files (404).
	mux.HandleFunc("GET /dashboard/api/deadletters/{id}/replay", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "replay is a POST")
	})
	mux.HandleFunc("GET /dashboard/api/orders/{id}", d.order)
}

// URL is the address `up` prints: the page, with the token in the
// fragment, which the browser keeps to itself (no request or log has it).
func URL(api, tokenFile string) (string, error) {
	t, err := door.ReadFile(tokenFile)
	if err != nil {
		return "", err
	}
	return api + "/dashboard/#token=" + t, nil
}

// Static reports whether r asks for one of the page's own files (HTML,
// script, style), which hold no data: a closed API door lets those
// through, so a browser can load the page that then sends the token.
func Static(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	switch r.URL.Path {
	case "/dashboard", "/dashboard/", "/dashboard/index.html", "/dashboard/app.js", "/dashboard/style.css":
		return true
	}
	return false
}

func secured(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// events streams an update a second as server-sent events.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, err := d.subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer d.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case b := <-ch:
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-d.p.Done():
			return
		}
	}
}

// subscribe adds a page; the first starts the collector.
func (d *Dashboard) subscribe() (chan []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.subs) >= maxSubscribers {
		return nil, fmt.Errorf("%d dashboard pages are open already", maxSubscribers)
	}
	ch := make(chan []byte, 1)
	d.subs[ch] = struct{}{}
	if d.coll == nil {
		d.coll = newCollector(d)
		go d.coll.run()
	} else if last := d.coll.latest(); last != nil {
		ch <- last
	}
	return ch, nil
}

func (d *Dashboard) unsubscribe(ch chan []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subs, ch)
	if len(d.subs) == 0 && d.coll != nil {
		d.coll.stop()
		d.coll = nil
	}
}

// broadcast hands an update to every page; a page still busy with the
// previous one gets this one instead (it wants the newest, not a queue).
func (d *Dashboard) broadcast(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	plane.WriteJSON(w, status, map[string]string{"error": msg})
}

// letter finds the dead letter the path names, answering 400 for an id
// that is none, 404 for one that is not there.
func (d *Dashboard) letter(w http.ResponseWriter, r *http.Request) (dlq.Row, bool) {
	id := r.PathValue("id")
	fn, _, _, err := dlq.ParseID(id)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return dlq.Row{}, false
	}
	topics := d.p.Endpoints().DLQTopics
	if _, ok := topics[fn]; !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("no function %q has dead letters", fn))
		return dlq.Row{}, false
	}
	row, err := dlq.Find(r.Context(), d.p.Kafka(), topics, id)
	switch {
	case errors.Is(err, dlq.ErrNoLetter):
		fail(w, http.StatusNotFound, err.Error())
		return dlq.Row{}, false
	case err != nil:
		fail(w, http.StatusBadGateway, err.Error())
		return dlq.Row{}, false
	}
	return row, true
}

func (d *Dashboard) showLetter(w http.ResponseWriter, r *http.Request) {
	if row, ok := d.letter(w, r); ok {
		plane.WriteJSON(w, http.StatusOK, row)
	}
}

// replayLetter sends a dead letter again to where it failed, as `orderflow
// dlq replay ID` does, for a caller holding the token.
func (d *Dashboard) replayLetter(w http.ResponseWriter, r *http.Request) {
	if !door.Authorized(r, d.token) {
		door.Refuse(w, r, "a replay needs it even on loopback; the page has it from the #token= of the URL `orderflow up` printed ("+door.Hint+")")
		return
	}
	// A replay takes no body; refuse a big one rather than read it.
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1024)); err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "a replay takes no body")
		return
	}
	row, ok := d.letter(w, r)
	if !ok {
		return
	}
	if err := d.replay.Replay(r.Context(), row.Letter, dlq.ToDestination); err != nil {
		status := http.StatusBadGateway // the function refused it again
		if errors.Is(err, dlq.ErrReplayLimit) {
			status = http.StatusConflict
		}
		fail(w, status, "not replayed: "+err.Error())
		return
	}
	plane.WriteJSON(w, http.StatusOK, map[string]string{"replayed": row.ID, "to": row.Dest})
}

// orderID is what an order id may look like here: the query goes to the
// order function, which has no use for anything else.
var orderID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// OrderReply is an order's view with, when tracing is on, where its trace is.
type OrderReply struct {
	events.OrderViewData
	Trace string `json:"trace,omitempty"`
}

func (d *Dashboard) order(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !orderID.MatchString(id) {
		fail(w, http.StatusBadRequest, "order id: 1 to 128 of A-Z a-z 0-9 . _ : -")
		return
	}
	var view events.OrderViewData
	if err := d.replay.HTTP.QueryFunction(r.Context(), d.p.Endpoints().Functions, events.OrderQuery, events.OrderQueryData{OrderID: id}, &view); err != nil {
		fail(w, http.StatusBadGateway, err.Error())
		return
	}
	if !view.Found {
		fail(w, http.StatusNotFound, "no order "+id)
		return
	}
	reply := OrderReply{OrderViewData: view}
	if d.cfg.JaegerUI != "" {
		// Jaeger's search by the tag every delivery span carries (what
		// `orderflow trace` looks up too).
		tags := fmt.Sprintf(`{"orderflow.correlation_id":%q}`, id)
		reply.Trace = strings.TrimRight(d.cfg.JaegerUI, "/") + "/search?service=order&tags=" + url.QueryEscape(tags)
	}
	plane.WriteJSON(w, http.StatusOK, reply)
}

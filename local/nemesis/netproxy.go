package nemesis

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Links are TCP proxies (toxiproxy, in this process) on each function's
// network links: between it and its PostgreSQL (LinkDatabase), and
// between it and the KafkaSink receiver it publishes to, its K_SINK
// (LinkBroker). The network faults act on them. A link's faults are
// toxics, added for a window and removed when it heals.
type Links struct {
	server *toxiproxy.ApiServer
	mu     sync.Mutex
	by     map[linkEnd]*toxiproxy.Proxy
}

// linkEnd names one link: a function's, to the database or the broker.
type linkEnd struct {
	fn   string
	link Link
}

// NewLinks makes an empty set of links.
func NewLinks() *Links {
	return &Links{server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), by: map[linkEnd]*toxiproxy.Proxy{}}
}

// Route puts a proxy in front of the database of every env entry
// "fn/…DATABASE_URL" and rewrites its URL to the proxy: one proxy per
// function (its URLs all name the same server).
func (l *Links) Route(env map[string]string) error {
	for key, raw := range env {
		fn, variable, ok := strings.Cut(key, "/")
		if !ok || !strings.HasSuffix(variable, "DATABASE_URL") {
			continue
		}
		routed, err := l.routeURL(fn, LinkDatabase, key, raw)
		if err != nil {
			return err
		}
		env[key] = routed
	}
	return nil
}

// RouteSink puts a proxy in front of the K_SINK of fn's environment env
// and rewrites it to the proxy (plane.Options.RouteEnv: the plane knows
// K_SINK only once it runs, and calls this as each process of fn
// starts; every replica shares the one proxy). A function without a
// K_SINK publishes nothing and has no broker link.
func (l *Links) RouteSink(fn string, env map[string]string) error {
	raw, ok := env["K_SINK"]
	if !ok {
		return nil
	}
	routed, err := l.routeURL(fn, LinkBroker, "K_SINK", raw)
	if err != nil {
		return err
	}
	env["K_SINK"] = routed
	return nil
}

// routeURL is raw (the variable key of fn) with its host replaced by the
// proxy of fn's link to it.
func (l *Links) routeURL(fn string, link Link, key, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s link of %s: %s is not a URL with a host", link, fn, key)
	}
	p, err := l.proxyFor(linkEnd{fn, link}, u.Host)
	if err != nil {
		return "", err
	}
	u.Host = p.Listen
	return u.String(), nil
}

func (l *Links) proxyFor(end linkEnd, upstream string) (*toxiproxy.Proxy, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.by[end]; ok {
		if p.Upstream != upstream {
			return nil, fmt.Errorf("%s link of %s: it goes to two servers (%s, %s)", end.link, end.fn, p.Upstream, upstream)
		}
		return p, nil
	}
	p := toxiproxy.NewProxy(l.server, end.fn+"-"+string(end.link), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("%s link of %s: %w", end.link, end.fn, err)
	}
	l.by[end] = p
	return p, nil
}

// Functions are those with a link of the kind given.
func (l *Links) Functions(link Link) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for end := range l.by {
		if end.link == link {
			out = append(out, end.fn)
		}
	}
	slices.Sort(out)
	return out
}

// toxicOf is the toxic a network fault adds (toxiproxy's JSON), each on
// the answers (downstream), so a request may reach the far end and its
// answer be lost: latency added to every answer; a connection reset as
// soon as an answer comes; or a partition, every answer dropped (a
// request waits for one until its own timeout) and the connections open
// during it closed when it heals.
func toxicOf(f Fault) (name, body string, err error) {
	switch f.Kind {
	case NetworkLatency:
		return "latency", fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d,"jitter":0}}`, f.Param), nil
	case NetworkReset:
		return "reset", `{"name":"reset","type":"reset_peer","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`, nil
	case NetworkPartition:
		return "partition", `{"name":"partition","type":"timeout","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`, nil
	}
	return "", "", fmt.Errorf("%s is not a network fault", f.Kind)
}

// Toxic adds (on) or removes (off) a network fault's toxic on the link
// f.Link of fn.
func (l *Links) Toxic(ctx context.Context, fn string, f Fault, on bool) error {
	l.mu.Lock()
	p := l.by[linkEnd{fn, f.Link}]
	l.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s: %s has no %s link through a proxy", f.Kind, fn, cmp.Or(string(f.Link), "(unnamed)"))
	}
	name, body, err := toxicOf(f)
	if err != nil {
		return err
	}
	if on {
		_, err = p.Toxics.AddToxicJson(strings.NewReader(body))
	} else {
		err = p.Toxics.RemoveToxic(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("%s on %s's %s link: %w", f.Kind, fn, f.Link, err)
	}
	return nil
}

// Close stops every proxy.
func (l *Links) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.by {
		p.Stop()
	}
}

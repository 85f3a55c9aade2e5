package nemesis

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Links are TCP proxies (toxiproxy, in this process) between each
// function and its PostgreSQL: the network faults act on them. A link's
// faults are toxics, added for a window and removed when it heals.
type Links struct {
	server *toxiproxy.ApiServer
	mu     sync.Mutex
	by     map[string]*toxiproxy.Proxy // by function
}

// NewLinks makes an empty set of links.
func NewLinks() *Links {
	return &Links{server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), by: map[string]*toxiproxy.Proxy{}}
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
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("network link of %s: %s is not a URL with a host", fn, key)
		}
		p, err := l.proxyFor(fn, u.Host)
		if err != nil {
			return err
		}
		u.Host = p.Listen
		env[key] = u.String()
	}
	return nil
}

func (l *Links) proxyFor(fn, upstream string) (*toxiproxy.Proxy, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.by[fn]; ok {
		if p.Upstream != upstream {
			return nil, fmt.Errorf("network link of %s: its databases are on two servers (%s, %s)", fn, p.Upstream, upstream)
		}
		return p, nil
	}
	p := toxiproxy.NewProxy(l.server, fn+"-database", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("network link of %s: %w", fn, err)
	}
	l.by[fn] = p
	return p, nil
}

// Functions are those with a link.
func (l *Links) Functions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for fn := range l.by {
		out = append(out, fn)
	}
	return out
}

// toxicOf is the toxic a network fault adds (toxiproxy's JSON): latency
// both ways, connections reset at once, or a partition (data held, never
// delivered, until the toxic goes).
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

// Toxic adds (on) or removes (off) a network fault's toxic on fn's link.
func (l *Links) Toxic(ctx context.Context, fn string, f Fault, on bool) error {
	l.mu.Lock()
	p := l.by[fn]
	l.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s: %s has no database link through a proxy", f.Kind, fn)
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
		return fmt.Errorf("%s on %s's database link: %w", f.Kind, fn, err)
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

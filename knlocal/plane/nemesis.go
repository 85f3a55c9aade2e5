package plane

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
)

// The injection points a nemesis (local/nemesis) switches while the
// topology runs; each heals by the same call with the opposite argument.

// SetDuplicateDelivery switches every source's duplicate delivery on or
// off at run time (Options.DuplicateDelivery fixes it at start).
func (p *Plane) SetDuplicateDelivery(on bool) error {
	if p.opts.DataPlane != nil {
		return fmt.Errorf("duplicate delivery: the sources are %s's, not the plane's", p.opts.DataPlane.Name())
	}
	for _, s := range p.sources {
		s.SetDuplicateDelivery(on)
	}
	return nil
}

// FirePings fires every PingSource n times now, one tick after the other,
// beside their schedules: clock-driven work landing at a chosen moment.
func (p *Plane) FirePings(ctx context.Context, n int) error {
	if len(p.Set.Pings) == 0 {
		return fmt.Errorf("ping burst: the manifests declare no PingSource")
	}
	before := p.pings.Load()
	client := &http.Client{Timeout: 30 * time.Second}
	for range n {
		for _, ps := range p.Set.Pings {
			p.ping(ctx, client, ps)
		}
	}
	if got, want := p.pings.Load()-before, int64(n*len(p.Set.Pings)); got < want {
		return fmt.Errorf("ping burst: %d of %d ticks delivered", got, want)
	}
	return nil
}

// deadLetterRefusal answers the dead-letter sinks' requests with 503
// while it is on, as a dead-letter sink that is down: the sources then
// hold the record (and spool it past their hold limit).
type deadLetterRefusal struct {
	on    atomic.Bool
	paths map[string]bool
	next  http.Handler
}

func (d *deadLetterRefusal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.on.Load() && d.paths[r.URL.Path] {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"injected fault: dead-letter sink refusing","status":503}`)
		return
	}
	d.next.ServeHTTP(w, r)
}

// deadLetterPaths are the ingress paths of the KafkaSinks some source
// dead-letters to.
func deadLetterPaths(set *manifests.Set) map[string]bool {
	out := map[string]bool{}
	for _, s := range set.Sources {
		d := s.Delivery.DeadLetterSink
		if d == nil || d.Ref == nil || d.Ref.Kind != manifests.KindKafkaSink {
			continue
		}
		out[sink.Path(d.Ref.Namespace, d.Ref.Name)] = true
	}
	return out
}

// RefuseDeadLetters has the dead-letter sinks answer 503 (on) or take
// letters again (off).
func (p *Plane) RefuseDeadLetters(on bool) error {
	if p.refusal == nil {
		return fmt.Errorf("refusing dead letters: the ingress is not the plane's")
	}
	if len(p.refusal.paths) == 0 {
		return fmt.Errorf("refusing dead letters: no source dead-letters to a KafkaSink")
	}
	p.refusal.on.Store(on)
	return nil
}

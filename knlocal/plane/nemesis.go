package plane

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/knlocal/source"
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

// sourceRun is one run of a source's dispatcher: stopping it leaves the
// consumer group (in-flight deliveries abandoned, not committed).
type sourceRun struct {
	stop context.CancelFunc
	done chan struct{}
}

// runSource starts s's dispatcher under the plane's context.
func (p *Plane) runSource(name string, s *source.Source) {
	ctx, stop := context.WithCancel(p.ctx)
	run := &sourceRun{stop: stop, done: make(chan struct{})}
	p.mu.Lock()
	if p.runs == nil {
		p.runs = map[string]*sourceRun{}
	}
	p.runs[name] = run
	p.mu.Unlock()
	p.wg.Go(func() {
		defer close(run.done)
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			p.opts.Log.Error("source stopped", "source", name, "error", err)
			fmt.Fprintf(p.opts.Progress, "  source %s stopped: %v\n", name, err)
		}
	})
}

// RestartSource restarts one KafkaSource's dispatcher: its group members
// leave the consumer group (what was in flight is abandoned uncommitted,
// so delivered again) and join it afresh, as a dispatcher pod replaced.
// It returns once the old run has ended and the new one started.
func (p *Plane) RestartSource(ctx context.Context, name string) error {
	p.mu.Lock()
	run := p.runs[name]
	p.mu.Unlock()
	var s *source.Source
	for i, spec := range p.Set.Sources {
		if spec.Name == name && i < len(p.sources) {
			s = p.sources[i]
		}
	}
	if run == nil || s == nil {
		return fmt.Errorf("restart source %s: no such source run by the plane", name)
	}
	run.stop()
	select {
	case <-run.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.ctx.Err() != nil {
		return fmt.Errorf("restart source %s: the plane is closing", name)
	}
	p.runSource(name, s)
	return nil
}

// RestartBroker restarts the embedded broker in place: it stops, stays
// down for down, and starts again from its data directory on the same
// port, as a broker process restarted by its supervisor. The plane's
// clients (sinks' producers, sources' group members, lag, admin) see
// their connections drop and reconnect by themselves: what a restart of
// one Kafka broker does to Knative's data plane. It needs the broker's
// data directory (Options.BrokerDataDir); an external Kafka is restarted
// by whoever runs it.
func (p *Plane) RestartBroker(ctx context.Context, down time.Duration) error {
	if p.cluster == nil {
		return fmt.Errorf("restart broker: the plane has not started its Kafka")
	}
	if !p.cluster.Embedded() {
		return fmt.Errorf("restart broker: the plane runs on an external Kafka (%v): restart it with the script that runs it", p.Brokers)
	}
	if p.opts.BrokerDataDir == "" {
		return fmt.Errorf("restart broker: the embedded broker keeps its log in memory (no BrokerDataDir): a restart would lose it")
	}
	fmt.Fprintf(p.opts.Progress, "  kafka: embedded broker stopped, back in %s\n", down)
	if err := p.cluster.Restart(ctx, down); err != nil {
		return err
	}
	fmt.Fprintf(p.opts.Progress, "  kafka: embedded broker started again at %v from %s\n", p.Brokers, p.opts.BrokerDataDir)
	return nil
}

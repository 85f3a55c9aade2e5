package plane

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// watchManifests reads the manifests again every interval and applies
// what a running KafkaSource's dispatcher applies at once on a cluster:
// its consumers (the group gains or loses members, Kafka rebalances). Any
// other change is reported, once per change, as needing a restart: the
// plane does not rebuild its topology while it runs.
func (p *Plane) watchManifests(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	applied := shapeOf(p.Set)
	reported := applied
	// The consumers each source runs now; p.Set stays as loaded (others
	// read it meanwhile).
	consumers := make([]int32, len(p.Set.Sources))
	for i, s := range p.Set.Sources {
		consumers[i] = s.Consumers
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		set, err := manifests.Load(p.opts.Manifests)
		if err != nil {
			if msg := "manifests: " + err.Error(); msg != reported {
				reported = msg
				fmt.Fprintf(p.opts.Progress, "  manifests changed but do not load (%v); running on as loaded\n", err)
			}
			continue
		}
		for i, s := range p.Set.Sources {
			for _, now := range set.Sources {
				if now.Namespace == s.Namespace && now.Name == s.Name && now.Consumers != consumers[i] && i < len(p.sources) {
					fmt.Fprintf(p.opts.Progress, "  source %s: consumers %d -> %d (manifests changed)\n", s.Name, consumers[i], now.Consumers)
					p.opts.Log.Info("consumers changed", "source", s.Name, "from", consumers[i], "to", now.Consumers)
					p.sources[i].SetConsumers(int(now.Consumers))
					consumers[i] = now.Consumers
				}
			}
		}
		if shape := shapeOf(set); shape != applied && shape != reported {
			reported = shape
			fmt.Fprintln(p.opts.Progress, "  manifests changed beyond consumers: restart to apply")
		}
	}
}

// shapeOf is the manifests as the plane runs them, consumers left out
// (those it applies while running).
func shapeOf(set *manifests.Set) string {
	c := *set
	c.Sources = make([]manifests.KafkaSource, len(set.Sources))
	for i, s := range set.Sources {
		s.Consumers = 0
		c.Sources[i] = s
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

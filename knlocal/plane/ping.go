package plane

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"orderflow.dev/knlocal/manifests"
)

// PingType is the CloudEvents type a PingSource sends.
const PingType = "dev.knative.sources.ping"

// runPings emulates each PingSource: on its schedule (or every
// Options.PingEvery, for tests and demos that cannot wait a minute) it
// sends the CloudEvent Knative's ping adapter sends to the resolved sink.
// Like Knative, a tick that fails after a few tries is dropped; the next
// one follows.
func (p *Plane) runPings(ctx context.Context) {
	for _, ps := range p.Set.Pings {
		sched, err := manifests.ParseSchedule(ps.Schedule, ps.Timezone)
		if err != nil { // Load checked it; keep the plane up regardless
			p.opts.Log.Error("ping schedule", "pingsource", ps.Name, "error", err)
			continue
		}
		p.wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				wait := time.Until(sched.Next(time.Now()))
				if p.opts.PingEvery > 0 {
					wait = p.opts.PingEvery
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				p.ping(ctx, client, ps)
			}
		})
	}
}

func (p *Plane) ping(ctx context.Context, client *http.Client, ps manifests.PingSource) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(uuid.NewString())
	e.SetType(PingType)
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/pingsources/%s", ps.Namespace, ps.Name))
	e.SetTime(time.Now().UTC())
	if len(ps.Data) > 0 {
		ct := ps.ContentType
		if ct == "" {
			ct = "text/plain"
		}
		_ = e.SetData(ct, ps.Data)
	}
	for k, v := range ps.CEOverrides {
		e.SetExtension(k, v)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		url, err := p.resolve(ctx, ps.Sink)
		if err == nil {
			var req *http.Request
			if req, err = http.NewRequestWithContext(ctx, http.MethodPost, url, nil); err == nil {
				if err = cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err == nil {
					var resp *http.Response
					if resp, err = client.Do(req); err == nil {
						resp.Body.Close()
						if resp.StatusCode < 300 {
							p.pings.Add(1)
							return
						}
						err = fmt.Errorf("%s answered %d", url, resp.StatusCode)
					}
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		p.opts.Log.Warn("ping not delivered", "pingsource", ps.Name, "attempt", attempt, "error", err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

// Pings counts the PingSource events delivered.
func (p *Plane) Pings() int64 { return p.pings.Load() }

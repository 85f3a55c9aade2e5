// Package function greets: each name a KafkaSource delivers (a plain Kafka
// record, which Knative turns into a CloudEvent of type
// dev.knative.kafka.event) is answered with a greeting, sent to K_SINK.
package function

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// Greeter is the function.
type Greeter struct {
	greeting string
	sink     string
	client   cloudevents.Client
	started  atomic.Bool
}

// New constructs the function; Start configures it.
func New() *Greeter { return &Greeter{} }

// Start reads the greeting and where greetings go (K_SINK, which a
// SinkBinding sets) from the environment func-go hands it.
func (g *Greeter) Start(_ context.Context, cfg map[string]string) error {
	g.greeting, g.sink = cfg["GREETING"], cfg["K_SINK"]
	if g.greeting == "" || g.sink == "" {
		return errors.New("greeter needs GREETING and K_SINK")
	}
	c, err := cloudevents.NewClientHTTP()
	if err != nil {
		return err
	}
	g.client = c
	g.started.Store(true)
	return nil
}

// Ready reports whether Start has run.
func (g *Greeter) Ready(context.Context) (bool, error) { return g.started.Load(), nil }

// Handle greets the name e carries. A blank name is refused with 400,
// which Knative does not retry: the event goes to the dead-letter sink. A
// greeting the sink does not take fails the delivery, which is retried.
func (g *Greeter) Handle(ctx context.Context, e event.Event) error {
	name := strings.TrimSpace(string(e.Data()))
	if name == "" {
		return cloudevents.NewHTTPResult(http.StatusBadRequest, "no name to greet")
	}
	out := Greeting(e.ID(), g.greeting, name)
	if res := g.client.Send(cloudevents.ContextWithTarget(ctx, g.sink), out); !cloudevents.IsACK(res) {
		return fmt.Errorf("sending the greeting to %s: %w", g.sink, res)
	}
	return nil
}

// Greeting is the event answering name: keyed by the name (partitionkey),
// with an id derived from the name's, so a redelivery sends the same one.
func Greeting(causeID, greeting, name string) event.Event {
	out := cloudevents.NewEvent()
	out.SetID(causeID + "/greeting")
	out.SetType("greetings.greeting")
	out.SetSource("/greetings/greeter")
	out.SetExtension("partitionkey", name)
	_ = out.SetData(cloudevents.TextPlain, greeting+", "+name)
	return out
}

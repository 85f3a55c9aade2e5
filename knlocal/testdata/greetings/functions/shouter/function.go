// Package function shouts: each greeting a KafkaSource delivers is sent on
// to K_SINK in capitals.
package function

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// Shouter is the function.
type Shouter struct {
	sink    string
	client  cloudevents.Client
	started atomic.Bool
}

// New constructs the function; Start configures it.
func New() *Shouter { return &Shouter{} }

// Start reads where shouts go (K_SINK, which a SinkBinding sets).
func (s *Shouter) Start(_ context.Context, cfg map[string]string) error {
	if s.sink = cfg["K_SINK"]; s.sink == "" {
		return errors.New("shouter needs K_SINK")
	}
	c, err := cloudevents.NewClientHTTP()
	if err != nil {
		return err
	}
	s.client = c
	s.started.Store(true)
	return nil
}

// Ready reports whether Start has run.
func (s *Shouter) Ready(context.Context) (bool, error) { return s.started.Load(), nil }

// Handle shouts the greeting e carries.
func (s *Shouter) Handle(ctx context.Context, e event.Event) error {
	out := Shout(e)
	if res := s.client.Send(cloudevents.ContextWithTarget(ctx, s.sink), out); !cloudevents.IsACK(res) {
		return fmt.Errorf("sending the shout to %s: %w", s.sink, res)
	}
	return nil
}

// Shout is the greeting in capitals, keyed as the greeting was.
func Shout(greeting event.Event) event.Event {
	out := cloudevents.NewEvent()
	out.SetID(greeting.ID() + "/shout")
	out.SetType("greetings.shout")
	out.SetSource("/greetings/shouter")
	if k, ok := greeting.Extensions()["partitionkey"]; ok {
		out.SetExtension("partitionkey", k)
	}
	_ = out.SetData(cloudevents.TextPlain, strings.ToUpper(string(greeting.Data()))+"!")
	return out
}

// Package client is how people and programs talk to a running orderflow:
// commands go into Kafka through the orders KafkaSink (an HTTP POST of a
// CloudEvent, exactly what a producer on a cluster does), and queries are
// request/reply CloudEvents to one function.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/shared/events"
)

// Source is the CloudEvents source of what the CLI sends.
const Source = "/orderflow/cli"

// Client sends commands and queries.
type Client struct {
	ce cloudevents.Client
}

// New builds a client with a per-request timeout.
func New(timeout time.Duration) (*Client, error) { return NewWithToken(timeout, "") }

// NewWithToken builds a client that presents token as a bearer token to
// the plane's doors (doorURLs: its ingress and API) and to nothing else.
func NewWithToken(timeout time.Duration, token string, doorURLs ...string) (*Client, error) {
	p, err := cloudevents.NewHTTP(cehttp.WithClient(http.Client{Timeout: timeout, Transport: transport(token, doorURLs)}))
	if err != nil {
		return nil, err
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		return nil, err
	}
	return &Client{ce: c}, nil
}

// Place posts a place-order command to the orders KafkaSink ingress. Once it
// returns nil the command is in Kafka (the ingress answers 202 after the
// broker acknowledged with acks=all): it will not be lost.
func (c *Client) Place(ctx context.Context, ingressURL string, order events.PlaceOrderData) (event.Event, error) {
	e, err := PlaceEvent(order)
	if err != nil {
		return event.Event{}, err
	}
	return e, c.Send(ctx, ingressURL, e)
}

// PlaceEvent is the place-order command for order, checked against its
// schema: what Place posts, and what `orderflow place --brokers` writes
// to the commands topic itself.
func PlaceEvent(order events.PlaceOrderData) (event.Event, error) {
	if _, err := events.Decode(events.PlaceOrder, mustJSON(order)); err != nil {
		return event.Event{}, err
	}
	return events.New(events.PlaceOrder, order, nil, Source)
}

// Send posts one event and wants a 2xx.
func (c *Client) Send(ctx context.Context, url string, e event.Event) error {
	res := c.ce.Send(cloudevents.ContextWithTarget(ctx, url), e)
	if cloudevents.IsACK(res) {
		return nil
	}
	return fmt.Errorf("POST %s: %w", url, res)
}

// Query asks one function a question and decodes the reply's data into out.
// A refusal comes back as the function's JSON error.
func (c *Client) Query(ctx context.Context, functionURL, typ string, q any, out any) error {
	e, err := events.New(typ, q, nil, Source)
	if err != nil {
		return err
	}
	reply, res := c.ce.Request(cloudevents.ContextWithTarget(ctx, functionURL), e)
	if !cloudevents.IsACK(res) {
		if reply != nil && reply.Type() == events.Error {
			var d events.ErrorData
			if reply.DataAs(&d) == nil {
				return fmt.Errorf("%s refused the query: %s (field %s, status %d)", functionURL, d.Error, d.Field, d.Status)
			}
		}
		return fmt.Errorf("query %s at %s: %w", typ, functionURL, res)
	}
	if reply == nil {
		return fmt.Errorf("query %s at %s: no reply", typ, functionURL)
	}
	return reply.DataAs(out)
}

// Answerer names the function that answers query typ: the one consumer the
// catalog gives it. Which function holds which read model is the
// catalog's to say, so no caller names one.
func Answerer(typ string) (string, error) {
	spec, ok := events.Lookup(typ)
	switch {
	case !ok:
		return "", fmt.Errorf("query %q is not in the event catalog", typ)
	case spec.Kind != events.KindQuery:
		return "", fmt.Errorf("%s is a %s, not a query", typ, spec.Kind)
	case len(spec.ConsumedBy) != 1:
		return "", fmt.Errorf("the catalog names %d functions answering %s (%s), want one", len(spec.ConsumedBy), typ, strings.Join(spec.ConsumedBy, ", "))
	}
	return spec.ConsumedBy[0], nil
}

// QueryFunction is Query sent to the function answering typ (Answerer),
// found in functions (name -> URL, as endpoints.json lists them).
func (c *Client) QueryFunction(ctx context.Context, functions map[string]string, typ string, q any, out any) error {
	name, err := Answerer(typ)
	if err != nil {
		return err
	}
	url, ok := functions[name]
	if !ok {
		return fmt.Errorf("%s is answered by the %s function, which this topology does not run", typ, name)
	}
	return c.Query(ctx, url, typ, q, out)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// GetJSON GETs url (within 5 s, or ctx's own deadline if sooner) and
// decodes its 200 answer's JSON into v: for the plane's API and the other
// JSON services a command or test reads.
func GetJSON(ctx context.Context, url string, v any) error { return GetJSONWithToken(ctx, url, "", v) }

func transport(token string, doorURLs []string) http.RoundTripper {
	t := door.Transport{Token: token}
	for _, u := range doorURLs {
		t.Hosts = append(t.Hosts, door.HostOf(u))
	}
	return t
}

// GetJSONWithToken is GetJSON presenting token as a bearer token (to
// url's host alone: it is a door of the plane).
func GetJSONWithToken(ctx context.Context, url, token string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transport(token, []string{url})}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

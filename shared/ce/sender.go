package ce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Sender posts CloudEvents, in binary content mode, to one HTTP target: on a
// cluster the K_SINK a SinkBinding injects (a KafkaSink), locally the plane's
// KafkaSink ingress. KafkaSource discards a function's reply, so this is how
// a function publishes.
type Sender struct {
	target string
	client cloudevents.Client
}

// NewSender checks target is an absolute http(s) URL; setting names where it
// came from for the error message.
func NewSender(setting, target string) (*Sender, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q is not an absolute http(s) URL", setting, target)
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	p, err := cloudevents.NewHTTP(cloudevents.WithTarget(target), cehttp.WithClient(*hc))
	if err != nil {
		return nil, err
	}
	c, err := cloudevents.NewClient(p, cloudevents.WithTimeNow(), cloudevents.WithUUIDs())
	if err != nil {
		return nil, err
	}
	return &Sender{target: target, client: c}, nil
}

// Target is where events go.
func (s *Sender) Target() string { return s.target }

// ErrRejected marks a send the sink answered with a non-2xx status.
var ErrRejected = errors.New("sink rejected the event")

// Send delivers one event and returns nil only on a 2xx answer.
func (s *Sender) Send(ctx context.Context, e event.Event) error {
	res := s.client.Send(ctx, e)
	if cloudevents.IsACK(res) {
		return nil
	}
	var httpRes *cehttp.Result
	if cloudevents.ResultAs(res, &httpRes) {
		return fmt.Errorf("%w: POST %s answered %d: %v", ErrRejected, s.target, httpRes.StatusCode, res)
	}
	return fmt.Errorf("POST %s: %w", s.target, res)
}

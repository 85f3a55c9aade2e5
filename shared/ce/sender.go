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

// RejectedError is a send the sink answered with a non-2xx status; it
// matches ErrRejected.
type RejectedError struct {
	Target string
	Status int
	Answer error // the answer as the CloudEvents client reports it
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%v: POST %s answered %d: %v", ErrRejected, e.Target, e.Status, e.Answer)
}

func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Permanent reports whether sending the same event again cannot succeed:
// any 4xx but the four Knative's data plane retries (404, 408, 409, 429),
// which mean "not yet" rather than "never".
func (e *RejectedError) Permanent() bool {
	if e.Status < 400 || e.Status > 499 {
		return false
	}
	switch e.Status {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return true
}

// IsPermanent reports whether err is a refusal that retrying cannot
// change (see RejectedError.Permanent). Connection errors, timeouts and
// 5xx are not.
func IsPermanent(err error) bool {
	var re *RejectedError
	return errors.As(err, &re) && re.Permanent()
}

// Send delivers one event and returns nil only on a 2xx answer; a non-2xx
// answer is a *RejectedError.
func (s *Sender) Send(ctx context.Context, e event.Event) error {
	res := s.client.Send(ctx, e)
	if cloudevents.IsACK(res) {
		return nil
	}
	var httpRes *cehttp.Result
	if cloudevents.ResultAs(res, &httpRes) {
		return &RejectedError{Target: s.target, Status: httpRes.StatusCode, Answer: res}
	}
	return fmt.Errorf("POST %s: %w", s.target, res)
}

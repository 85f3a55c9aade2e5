package ce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/shared/tracing"
)

// Sender posts CloudEvents, in binary content mode, to one HTTP target: on a
// cluster the K_SINK a SinkBinding injects (a KafkaSink), locally the plane's
// KafkaSink ingress. KafkaSource discards a function's reply, so this is how
// a function publishes.
type Sender struct {
	target string
	client *http.Client
}

// NewSender checks target is an absolute http(s) URL; setting names where it
// came from for the error message.
func NewSender(setting, target string) (*Sender, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q is not an absolute http(s) URL", setting, target)
	}
	// The relay sends on many keys at once: keep that many connections
	// open (the default transport keeps two per host, so every send past
	// the second dialled a new connection and threw it away).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 128, 64
	return &Sender{target: target, client: &http.Client{Timeout: 15 * time.Second, Transport: tr}}, nil
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
// answer is a *RejectedError. The event goes as it is: its id and time were
// set when it was built (the CloudEvents client would fill in missing ones,
// which an event from the outbox never has). Written straight onto the
// request: the SDK's client adds a goroutine, observability hooks and
// copies per send that a relay sending thousands a second does not need.
func (s *Sender) Send(ctx context.Context, e event.Event) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("POST %s: not a valid event: %w", s.target, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, nil)
	if err != nil {
		return err
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("POST %s: encoding the event: %w", s.target, err)
	}
	tracing.Inject(ctx, req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", s.target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection is reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &RejectedError{Target: s.target, Status: resp.StatusCode, Answer: answerError(resp.StatusCode, body)}
}

// answerError is the sink's answer as an error: its status and body.
func answerError(status int, body []byte) error {
	if b := strings.TrimSpace(string(body)); b != "" {
		return fmt.Errorf("%d: %s", status, b)
	}
	return fmt.Errorf("%d %s", status, http.StatusText(status))
}

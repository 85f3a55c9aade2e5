package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Extensions of a dead-lettered event. The first three are Knative's
// (RecordDispatcherImpl in eventing-kafka-broker); AttemptsExtension is
// ours, so a replay tool can tell a flaky subscriber from a refusal.
const (
	ErrorDestExtension = "knativeerrordest"
	ErrorCodeExtension = "knativeerrorcode"
	ErrorDataExtension = "knativeerrordata"
	// AttemptsExtension (orderflow, not Knative) is the number of
	// delivery attempts made to the subscriber before dead-lettering.
	AttemptsExtension = "orderflowattempts"
	// ErrorDataMaxBytes is how much of the response body
	// knativeerrordata keeps (before base64).
	ErrorDataMaxBytes = 1024
	// errorHeaderPrefix: a subscriber's response header "Kne-<name>" is
	// copied to the dead letter as extension <name> (lower-cased), as
	// Knative does.
	errorHeaderPrefix = "kne-"
)

// Response is the outcome of one delivery attempt.
type Response struct {
	Status int         // 0: no response at all
	Body   []byte      // the first ErrorDataMaxBytes bytes of the body
	Header http.Header // nil without a response
	Err    error       // transport error, when Status is 0
	// Unsendable: the event cannot be put in an HTTP request at all (a
	// header value with control characters). No retry can change that.
	Unsendable bool
}

// responseBodyDrain bounds how much of a response body is read (and
// discarded past ErrorDataMaxBytes) so the connection can be reused.
const responseBodyDrain = 1 << 20

// send POSTs e in binary content mode to url and waits at most timeout
// for the answer. Like Knative's dispatcher it says "Prefer: reply" and
// names the source's namespace in Kn-Namespace, to the subscriber and to
// the dead-letter sink alike.
func send(ctx context.Context, client *http.Client, url string, e *event.Event, timeout time.Duration, namespace string) Response {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return Response{Err: err}
	}
	if err := writeBinary(ctx, req, e); err != nil {
		return Response{Err: err, Unsendable: true}
	}
	req.Header.Set("Prefer", "reply")
	req.Header.Set("Kn-Namespace", namespace)
	// The traceparent header is the client's to set (Instrument): the
	// request's own CLIENT span.
	resp, err := client.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = io.Copy(&body, io.LimitReader(resp.Body, ErrorDataMaxBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseBodyDrain))
	return Response{Status: resp.StatusCode, Body: body.Bytes(), Header: resp.Header}
}

// DeadLetter returns the event to send to the dead-letter sink: the
// original event as it was delivered, plus
//
//	knativeerrordest  the subscriber URL
//	knativeerrorcode  the last HTTP status, as a string
//	knativeerrordata  base64 (standard encoding) of the last response
//	                  body cut to ErrorDataMaxBytes bytes, when the body
//	                  is not empty
//	<name>            for each "Kne-<name>" response header
//	orderflowattempts the attempts made (ours, not Knative's)
//
// With no response at all (last.Status 0) only knativeerrordest (and our
// attempts count) are added, as Knative does, and orderflowerror saying
// what happened instead (connection refused, timeout, unsendable).
// A Kne- header whose value is not HeaderSafe is left out: it would make
// the dead letter itself impossible to carry.
func DeadLetter(orig event.Event, dest string, last Response, attempts int) event.Event {
	e := orig.Clone()
	e.SetExtension(ErrorDestExtension, printable(dest))
	if attempts > 0 {
		e.SetExtension(AttemptsExtension, int32(attempts))
	}
	if last.Status == 0 {
		if last.Err != nil {
			e.SetExtension(ErrorExtension, printable(last.Err.Error()))
		}
		return e
	}
	e.SetExtension(ErrorCodeExtension, strconv.Itoa(last.Status))
	for k, vs := range last.Header {
		if len(k) > len(errorHeaderPrefix) && strings.EqualFold(k[:len(errorHeaderPrefix)], errorHeaderPrefix) && len(vs) > 0 {
			name := strings.ToLower(k[len(errorHeaderPrefix):])
			if validExtension.MatchString(name) && !reservedDLExtension[name] && HeaderSafe(vs[0]) {
				e.SetExtension(name, vs[0])
			}
		}
	}
	if body := last.Body; len(body) > 0 {
		if len(body) > ErrorDataMaxBytes {
			body = body[:ErrorDataMaxBytes]
		}
		e.SetExtension(ErrorDataExtension, base64.StdEncoding.EncodeToString(body))
	}
	return e
}

var validExtension = regexp.MustCompile(`^[a-z0-9]+$`)

// reservedDLExtension: a Kne- header may not overwrite what we set, nor a
// CloudEvents context attribute.
var reservedDLExtension = map[string]bool{
	ErrorDestExtension: true, ErrorCodeExtension: true, ErrorDataExtension: true, AttemptsExtension: true,
	ErrorExtension: true, AsRecordExtension: true, RecordExtension: true, Base64Extension: true,
	"id": true, "source": true, "type": true, "specversion": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

// SendError reports why e cannot be sent as a binary-mode HTTP request at
// all (a delivery of it is dead-lettered at once, unsent), or nil.
func SendError(e event.Event) error {
	req, err := http.NewRequest(http.MethodPost, "http://send.check/", nil)
	if err != nil {
		return err
	}
	return writeBinary(context.Background(), req, &e)
}

// writeBinary puts e on req in binary content mode. An error means the
// event cannot be sent this way at all: net/http would refuse the request
// before sending it (saying so here keeps that from looking like "no
// response", which is retried).
func writeBinary(ctx context.Context, req *http.Request, e *event.Event) error {
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(e), req); err != nil {
		return fmt.Errorf("cannot encode the event as an HTTP request: %w", err)
	}
	if err := illegalHeader(req.Header); err != nil {
		return fmt.Errorf("cannot send the event as an HTTP request: %w", err)
	}
	return nil
}

// printable makes s HeaderSafe: every byte outside printable ASCII becomes
// '?', surrounding blanks go, and it is cut to 1024 bytes.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 1024 {
		b = b[:1024]
	}
	return strings.TrimSpace(string(b))
}

// illegalHeader names the first header net/http would refuse to send: a
// value with a control character other than tab.
func illegalHeader(h http.Header) error {
	for k, vs := range h {
		for _, v := range vs {
			if i := strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }); i >= 0 {
				return fmt.Errorf("header %s holds control character %q at byte %d", k, v[i], i)
			}
		}
	}
	return nil
}

// describe renders a response for logs.
func (r Response) describe() string {
	if r.Unsendable {
		return r.Err.Error()
	}
	if r.Status == 0 {
		if r.Err == nil {
			return "no response"
		}
		return "no response: " + r.Err.Error()
	}
	return fmt.Sprintf("HTTP %d", r.Status)
}

// errOf returns an error for a failed response (nil for success).
func (r Response) errOf() error {
	switch {
	case r.Status == 0 && r.Err != nil:
		return r.Err
	case r.Status == 0:
		return errors.New("no response")
	case Success(r.Status):
		return nil
	default:
		return fmt.Errorf("HTTP %d", r.Status)
	}
}

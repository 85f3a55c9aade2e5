// Package dlq reads dead letters: the events a function refused or never
// acknowledged, as the KafkaSource dispatcher wrote them to the function's
// dead-letter topic with the knativeerror* extensions.
package dlq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// The extensions Knative's dispatcher adds to a dead-lettered event.
const (
	ExtErrorDest = source.ErrorDestExtension
	ExtErrorCode = source.ErrorCodeExtension
	ExtErrorData = source.ErrorDataExtension
)

// Letter is one dead letter, decoded.
type Letter struct {
	Topic     string      `json:"topic"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Time      time.Time   `json:"time"`
	Event     event.Event `json:"event"`
	OrderID   string      `json:"orderId"`
	Dest      string      `json:"dest"`   // where delivery failed
	Code      string      `json:"code"`   // last HTTP status; "" when there was no response
	Body      string      `json:"body"`   // the response body, decoded from base64 (at most 1024 bytes)
	Reason    string      `json:"reason"` // one line: the function's JSON error if it gave one
	Field     string      `json:"field"`
	// PlaneError is the plane's account of a failure without a response
	// (connection refused, timeout, an event that cannot be sent).
	PlaneError string `json:"planeError"`
	// AsRecord, when set, says why this letter carries the original
	// Kafka record instead of the event: Original then holds it.
	AsRecord string    `json:"asRecord"`
	Original *Original `json:"original,omitempty"`
	// Foreign: the record is no valid CloudEvent, so no dead-letter sink
	// wrote it (something else wrote to the topic). Original holds it; it
	// names no destination and no topic, so it cannot be replayed, only
	// shown and purged.
	Foreign bool `json:"foreign,omitempty"`
}

// ForeignReason is a Foreign letter's Reason.
const ForeignReason = "not a valid CloudEvent: no dead-letter sink wrote this record (shown as it is; it cannot be replayed, only purged)"

// ErrForeign refuses to replay a Foreign letter.
var ErrForeign = errors.New("not a dead letter a dead-letter sink wrote")

func foreign(r kafkalog.Record) Letter {
	o := Original{}
	if r.Raw != nil {
		o.Key, o.Value = r.Raw.Key, r.Raw.Value
		for _, h := range r.Raw.Headers {
			if h != nil {
				o.Headers = append(o.Headers, *h)
			}
		}
	}
	// An event of its coordinates, so every reader of Letter.Event (the
	// tables, JSON) has one; its type stays empty.
	e := event.New()
	e.SetID(fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset))
	return Letter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp, Event: e,
		Original: &o, Foreign: true, AsRecord: "it is no valid CloudEvent", Reason: ForeignReason}
}

// Original is a refused Kafka record exactly as it was written.
type Original = source.Original

// FromRecord decodes a dead-letter record. A record that is not a valid
// CloudEvent, which no dead-letter sink writes, is a Foreign letter: listed
// as it is, never hidden (ok is always true; it is kept for the callers).
func FromRecord(r kafkalog.Record) (Letter, bool) {
	if r.Event == nil || r.Event.Validate() != nil {
		return foreign(r), true
	}
	e := *r.Event
	l := Letter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp, Event: e,
		OrderID: ce.String(e, ce.PartitionKey), Dest: extString(e, ExtErrorDest), Code: extString(e, ExtErrorCode),
		PlaneError: extString(e, source.ErrorExtension), AsRecord: extString(e, source.AsRecordExtension)}
	if _, ok := e.Extensions()[source.RecordExtension]; ok {
		if o, err := source.OriginalOf(e); err == nil {
			l.Original = &o
			if !source.HeaderSafe(string(o.Key)) {
				l.OrderID = "" // a base64 stand-in is no order id
			}
		}
	}
	if raw := extString(e, ExtErrorData); raw != "" {
		if b, err := base64.StdEncoding.DecodeString(raw); err == nil {
			l.Body = string(b)
		} else {
			l.Body = raw
		}
	}
	l.Reason, l.Field = reason(l)
	return l, true
}

func extString(e event.Event, name string) string {
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

func reason(l Letter) (string, string) {
	var body events.ErrorData
	if l.Body != "" && json.Unmarshal([]byte(l.Body), &body) == nil && body.Error != "" {
		if body.Field != "" {
			return body.Field + ": " + body.Error, body.Field
		}
		return body.Error, ""
	}
	switch {
	case l.Code == "" && strings.HasPrefix(l.PlaneError, "cannot "):
		return "not sent to " + l.Dest + ": " + l.PlaneError, ""
	case l.Code == "" && l.PlaneError != "":
		return "no response from " + l.Dest + ": " + l.PlaneError, ""
	case l.Code == "":
		return "no response from " + l.Dest, ""
	case l.Body != "":
		return "HTTP " + l.Code + ": " + oneLine(l.Body), ""
	}
	return "HTTP " + l.Code, ""
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// ID names a dead letter for `dlq show` and `dlq replay`:
// <function>:<partition>:<offset> of its dead-letter topic.
func ID(function string, l Letter) string {
	return fmt.Sprintf("%s:%d:%d", function, l.Partition, l.Offset)
}

// ParseID splits an ID; errors say what a good one looks like.
func ParseID(id string) (function string, partition int32, offset int64, err error) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, 0, argumentError("dead letter id %q: want FUNCTION:PARTITION:OFFSET as `orderflow dlq list` prints it", id)
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return "", 0, 0, argumentError("dead letter id %q: partition and offset must be non-negative numbers", id)
	}
	return parts[0], int32(p), o, nil
}

// ArgumentError is an id or a function name that names nothing there can
// be: the caller's mistake (the CLI's usage exit), not a failure to read.
type ArgumentError struct{ msg string }

func (e *ArgumentError) Error() string { return e.msg }

func argumentError(format string, args ...any) error {
	return &ArgumentError{fmt.Sprintf(format, args...)}
}

// ExtReplays counts how often an event was replayed from a dead-letter
// topic. It travels with the event, so an event that keeps failing after
// replays is recognised and not replayed forever.
const ExtReplays = "orderflowreplays"

// ExtAttempts is the plane's count of delivery attempts before the event
// was dead-lettered (not a Knative extension; ours).
const ExtAttempts = "orderflowattempts"

// Replays returns how often the letter's event was replayed already.
func (l Letter) Replays() int {
	n, _ := strconv.Atoi(extString(l.Event, ExtReplays))
	return n
}

// Attempts returns the delivery attempts recorded by the plane, or 0.
func (l Letter) Attempts() int {
	n, _ := strconv.Atoi(extString(l.Event, ExtAttempts))
	return n
}

// ErrReplayLimit refuses to replay an event that already failed after
// max replays: the fault is not fixed, and replaying it again would only
// loop.
var ErrReplayLimit = errors.New("replay limit reached")

// ForReplay returns the event to send again: the original event as it was
// delivered, without the dead-letter extensions the dispatcher added, with
// its replay count raised. Its id is unchanged, so a consumer that did
// process it after all recognises it and changes nothing.
func ForReplay(l Letter, max int) (event.Event, error) {
	if l.Foreign {
		return event.Event{}, fmt.Errorf("%w: %s", ErrForeign, ForeignReason)
	}
	if n := l.Replays(); n >= max {
		return event.Event{}, fmt.Errorf("%w: %s was replayed %d times and dead-lettered again; fix the cause, then replay with a higher --max-replays", ErrReplayLimit, l.Event.ID(), n)
	}
	e := l.Event.Clone()
	for _, ext := range []string{ExtErrorDest, ExtErrorCode, ExtErrorData, ExtAttempts, source.ErrorExtension, source.AsRecordExtension} {
		e.SetExtension(ext, nil) // nil removes it
	}
	e.SetExtension(ExtReplays, strconv.Itoa(l.Replays()+1))
	return e, e.Validate()
}

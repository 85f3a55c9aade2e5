// Package dlq reads dead letters: the events a function refused or never
// acknowledged, as the KafkaSource dispatcher wrote them to the function's
// dead-letter topic with the knativeerror* extensions.
package dlq

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/local/kafkalog"
	"orderflow.dev/shared/ce"
	"orderflow.dev/shared/events"
)

// The extensions Knative's dispatcher adds to a dead-lettered event.
const (
	ExtErrorDest = "knativeerrordest"
	ExtErrorCode = "knativeerrorcode"
	ExtErrorData = "knativeerrordata"
)

// Letter is one dead letter, decoded.
type Letter struct {
	Topic     string
	Partition int32
	Offset    int64
	Time      time.Time
	Event     event.Event
	OrderID   string
	Dest      string // where delivery failed
	Code      string // last HTTP status; "" when there was no response
	Body      string // the response body, decoded from base64 (at most 1024 bytes)
	Reason    string // one line: the function's JSON error if it gave one
	Field     string
}

// FromRecord decodes a dead-letter record; ok is false for a record that is
// not a CloudEvent (which the dispatcher never writes).
func FromRecord(r kafkalog.Record) (Letter, bool) {
	if r.Event == nil {
		return Letter{}, false
	}
	e := *r.Event
	l := Letter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp, Event: e,
		OrderID: ce.String(e, ce.PartitionKey), Dest: extString(e, ExtErrorDest), Code: extString(e, ExtErrorCode)}
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

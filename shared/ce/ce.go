// Package ce holds what every orderflow CloudEvent carries besides its data:
// the correlation, causation, tracing and partitioning extensions, and the
// publisher that hands events to K_SINK.
package ce

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Extension attribute names. CloudEvents extension names are lower-case
// alphanumerics only, so these are written as one word.
const (
	// CorrelationID is the saga id, which is the order id: every event of
	// one order carries the same value, whoever produced it.
	CorrelationID = "correlationid"
	// CausationID is the id of the event whose handling produced this one
	// (CloudEvents correlation extension).
	CausationID = "causationid"
	// Traceparent is the W3C trace context (CloudEvents distributed tracing
	// extension); each hop keeps the trace id and takes a new span id.
	Traceparent = "traceparent"
	// PartitionKey is read by KafkaSink as the record key (CloudEvents
	// partitioning extension). It is the order id, so one order's events
	// stay in one partition, in order.
	PartitionKey = "partitionkey"
	// PublishedTime is when the outbox relay handed the event to its sink:
	// how late a fact reached the log after its time, which analytics'
	// event-time windows judge lateness by. It travels in the record, so a
	// replay of the log sees the same value the live consumer saw.
	PublishedTime = "publishedtime"
)

// String returns an extension as a string, or "" when absent.
func String(e event.Event, name string) string {
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return s
}

// Time returns an extension as a time, false when absent or not a time
// (a binary record carries it as an RFC 3339 string).
func Time(e event.Event, name string) (time.Time, bool) {
	v, ok := e.Extensions()[name]
	if !ok {
		return time.Time{}, false
	}
	t, err := types.ToTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// ChildTraceparent returns a traceparent for an event caused by one carrying
// parent: same trace id, new span id, same flags. With no valid parent it
// starts a new sampled trace.
func ChildTraceparent(parent string) string {
	if traceID, flags, ok := parseTraceparent(parent); ok {
		return "00-" + traceID + "-" + randomHex(8) + "-" + flags
	}
	return "00-" + randomHex(16) + "-" + randomHex(8) + "-01"
}

// TraceID returns the trace id of a traceparent, or "".
func TraceID(traceparent string) string {
	id, _, ok := parseTraceparent(traceparent)
	if !ok {
		return ""
	}
	return id
}

func parseTraceparent(tp string) (traceID, flags string, ok bool) {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return "", "", false
	}
	for _, p := range parts[1:] {
		if _, err := hex.DecodeString(p); err != nil {
			return "", "", false
		}
	}
	if strings.Trim(parts[1], "0") == "" || strings.Trim(parts[2], "0") == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

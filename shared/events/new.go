package events

import (
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"orderflow.dev/shared/ce"
)

// New builds a CloudEvent of a catalog type. cause is the event whose
// handling produced this one (nil for a client's command): the new event
// inherits its correlation id and trace, and names it as its causation.
func New(typ string, payload any, cause *event.Event, source string) (event.Event, error) {
	spec, ok := catalog[typ]
	if !ok {
		return event.Event{}, fmt.Errorf("events: %q is not in the catalog", typ)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return event.Event{}, err
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id.String())
	e.SetType(typ)
	e.SetSource(source)
	e.SetTime(time.Now().UTC())
	e.SetDataSchema(spec.SchemaURI())
	if err := e.SetData(event.ApplicationJSON, payload); err != nil {
		return event.Event{}, fmt.Errorf("events: encoding %s: %w", typ, err)
	}
	key := Key(payload)
	if key != "" {
		e.SetSubject(key)
		e.SetExtension(ce.PartitionKey, key)
	}
	correlation := key
	parentTrace := ""
	if cause != nil {
		if c := ce.String(*cause, ce.CorrelationID); c != "" {
			correlation = c
		}
		e.SetExtension(ce.CausationID, cause.ID())
		parentTrace = ce.String(*cause, ce.Traceparent)
	}
	if correlation != "" {
		e.SetExtension(ce.CorrelationID, correlation)
	}
	e.SetExtension(ce.Traceparent, ce.ChildTraceparent(parentTrace))
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("events: built an invalid %s: %w", typ, err)
	}
	return e, nil
}

package scaffold

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/compat"
)

// manifest is knative/base/<name>.yaml: every object the function needs,
// each a copy of another function's (its delivery, sizes, bootstrap
// servers and schedule are theirs), renamed for it.
func (p *Plan) manifest(docs []doc, on []events.Spec) ([]byte, error) {
	var topics []string
	for _, s := range on {
		if !slices.Contains(topics, s.Topic) {
			topics = append(topics, s.Topic)
		}
	}
	sib, err := p.sibling(docs)
	if err != nil {
		return nil, err
	}
	name := p.Name
	source := deepCopy(sib.source.Obj)
	set(source, name, "metadata", "name")
	set(source, anySlice(topics), "spec", "topics")
	set(source, consumerGroupPrefix(docs)+name, "spec", "consumerGroup")
	set(source, "dlq-"+name, "spec", "delivery", "deadLetterSink", "ref", "name")
	set(source, name, "spec", "sink", "ref", "name")
	if spec, ok := source["spec"].(map[string]any); ok {
		delete(spec, "ceOverrides") // the sibling's own
	}
	reacts := strings.Join(shorts(on), ", ")
	parts := []struct {
		comment string
		obj     map[string]any
	}{{fmt.Sprintf("%s: reacts to %s. Scaffolded by `orderflow new function`, after %s:\nthe same delivery, ordering and servers.", name, reacts, sib.name), source}}
	if p.Emits != nil {
		binding := deepCopy(sib.binding.Obj)
		set(binding, name, "metadata", "name")
		set(binding, name, "spec", "subject", "name")
		set(binding, name, "spec", "sink", "ref", "name")
		sink := renamedSink(sib.sink, name, p.Topic)
		topic := renamedTopic(sib.topic, p.Topic)
		parts = append(parts,
			struct {
				comment string
				obj     map[string]any
			}{fmt.Sprintf("KafkaSource discards replies, so %s publishes by POSTing to K_SINK,\nwhich this binding points at the KafkaSink of its events.", name), binding},
			struct {
				comment string
				obj     map[string]any
			}{fmt.Sprintf("Where %s's events (%s) are written.", name, p.Emits.Short), sink},
			struct {
				comment string
				obj     map[string]any
			}{fmt.Sprintf("domain events: %s (kept forever: the audit log and replay source)", name), topic})
	}
	parts = append(parts,
		struct {
			comment string
			obj     map[string]any
		}{fmt.Sprintf("Dead letters of %s: events it refused or never acknowledged.", name), renamedSink(sib.deadLetterSink, "dlq-"+name, p.DeadLetterTopic)},
		struct {
			comment string
			obj     map[string]any
		}{fmt.Sprintf("dead letters of the %s function", name), renamedTopic(sib.deadLetterTopic, p.DeadLetterTopic)})
	ping := deepCopy(sib.ping.Obj)
	set(ping, name+"-outbox-sweep", "metadata", "name")
	set(ping, name, "spec", "sink", "ref", "name")
	parts = append(parts, struct {
		comment string
		obj     map[string]any
	}{"Housekeeping: publish what its outbox still holds, every minute.", ping})

	var b bytes.Buffer
	for i, part := range parts {
		if i > 0 {
			b.WriteString("---\n")
		}
		out, err := manifestDoc(part.comment, part.obj)
		if err != nil {
			return nil, err
		}
		b.Write(out)
	}
	return b.Bytes(), nil
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func renamedSink(d doc, name, topic string) map[string]any {
	obj := deepCopy(d.Obj)
	set(obj, name, "metadata", "name")
	set(obj, topic, "spec", "topic")
	return obj
}

func renamedTopic(d doc, topic string) map[string]any {
	obj := deepCopy(d.Obj)
	set(obj, topic, "metadata", "name")
	set(obj, topic, "spec", "topicName")
	return obj
}

// siblingObjects are another function's objects, the new one's models.
type siblingObjects struct {
	name                               string
	source, binding, sink, topic, ping doc
	deadLetterSink, deadLetterTopic    doc
}

// sibling finds the first function of knative/base with every object the
// new one needs: its KafkaSource, dead-letter sink and topic, outbox-sweep
// PingSource and, when the new one publishes, its SinkBinding, KafkaSink
// and topic.
func (p *Plan) sibling(docs []doc) (siblingObjects, error) {
	topicDoc := func(topic string) (doc, bool) {
		return first(docs, manifests.KindKafkaTopic, func(d doc) bool {
			t, _ := get(d.Obj, "spec", "topicName").(string)
			return t == topic || (t == "" && d.name() == topic)
		})
	}
	sinkDoc := func(name string) (doc, bool) {
		return first(docs, manifests.KindKafkaSink, func(d doc) bool { return d.name() == name })
	}
	for _, src := range docs {
		if src.kind() != manifests.KindKafkaSource || get(src.Obj, "spec", "sink", "ref", "kind") != manifests.KindService {
			continue
		}
		fn, _ := get(src.Obj, "spec", "sink", "ref", "name").(string)
		s := siblingObjects{name: fn, source: src}
		var ok bool
		dl, _ := get(src.Obj, "spec", "delivery", "deadLetterSink", "ref", "name").(string)
		if s.deadLetterSink, ok = sinkDoc(dl); !ok {
			continue
		}
		dlTopic, _ := get(s.deadLetterSink.Obj, "spec", "topic").(string)
		if s.deadLetterTopic, ok = topicDoc(dlTopic); !ok {
			continue
		}
		if s.ping, ok = first(docs, manifests.KindPingSource, func(d doc) bool {
			data, _ := get(d.Obj, "spec", "data").(string)
			return get(d.Obj, "spec", "sink", "ref", "name") == fn && strings.Contains(data, events.TaskOutboxSweep)
		}); !ok {
			continue
		}
		if p.Emits != nil {
			if s.binding, ok = first(docs, manifests.KindSinkBinding, func(d doc) bool { return get(d.Obj, "spec", "subject", "name") == fn }); !ok {
				continue
			}
			sinkName, _ := get(s.binding.Obj, "spec", "sink", "ref", "name").(string)
			if s.sink, ok = sinkDoc(sinkName); !ok {
				continue
			}
			t, _ := get(s.sink.Obj, "spec", "topic").(string)
			if s.topic, ok = topicDoc(t); !ok {
				continue
			}
		}
		return s, nil
	}
	return siblingObjects{}, fmt.Errorf("%s: no function there has every object a new one is made after (KafkaSource, dead-letter KafkaSink and topic, outbox-sweep PingSource; and to publish, SinkBinding, KafkaSink and topic)", BaseDir)
}

// newSchema is the JSON Schema (v1) of the new event type: the order it
// concerns, required, with the same rule as in the events it reacts to.
func newSchema(emits *newType, name string, on []events.Spec) ([]byte, error) {
	type schemaDoc struct {
		Schema      string                     `json:"$schema"`
		ID          string                     `json:"$id"`
		Title       string                     `json:"title"`
		Description string                     `json:"description"`
		Type        string                     `json:"type"`
		Required    []string                   `json:"required"`
		Properties  map[string]json.RawMessage `json:"properties"`
	}
	var from struct {
		Schema     string                     `json:"$schema"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	raw, _ := events.Schema(on[0].Type)
	if err := json.Unmarshal(raw, &from); err != nil || from.Properties["orderId"] == nil {
		return nil, fmt.Errorf("schema of %s: no orderId property to give %s (%v)", on[0].Type, emits.Type, err)
	}
	out, err := json.MarshalIndent(schemaDoc{
		Schema: from.Schema, ID: events.SchemaBase + emits.Type + ".json", Title: emits.Type,
		Description: fmt.Sprintf("what %s publishes when it reacts to %s (scaffolded: the order alone; add what its consumers need)", name, strings.Join(shorts(on), ", ")),
		Type:        "object", Required: []string{"orderId"}, Properties: map[string]json.RawMessage{"orderId": from.Properties["orderId"]},
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := compat.Parse(out); err != nil {
		return nil, fmt.Errorf("the schema of %s: %w", emits.Type, err)
	}
	return append(out, '\n'), nil
}

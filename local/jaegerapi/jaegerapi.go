// Package jaegerapi reads traces from Jaeger's query API (the HTTP API its
// UI uses, /api/traces) and draws one as a waterfall: for `orderflow trace`
// and the tracing test.
package jaegerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"orderflow.dev/local/client"
)

// Trace is one trace as the query API returns it.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span; times are microseconds.
type Span struct {
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	ProcessID     string      `json:"processID"`
	StartTime     int64       `json:"startTime"`
	Duration      int64       `json:"duration"`
	References    []Reference `json:"references"`
	Tags          []Tag       `json:"tags"`
}

type Reference struct {
	RefType string `json:"refType"`
	SpanID  string `json:"spanID"`
}

// Tag is a span's or a process's attribute; Type is Jaeger's name for the
// value's type (string, int64, bool, float64, binary).
type Tag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is what recorded spans: its service and its resource's other
// attributes.
type Process struct {
	ServiceName string `json:"serviceName"`
	Tags        []Tag  `json:"tags"`
}

// Tag returns the span's attribute key (the span kind is "span.kind").
func (s Span) Tag(key string) (Tag, bool) { return find(s.Tags, key) }

// Tag returns the process's resource attribute key.
func (p Process) Tag(key string) (Tag, bool) { return find(p.Tags, key) }

func find(tags []Tag, key string) (Tag, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t, true
		}
	}
	return Tag{}, false
}

// Find returns the traces of service holding a span tagged key=value, newest
// first, from the Jaeger query API at base (e.g. http://127.0.0.1:16686).
func Find(base, service, key, value string) ([]Trace, error) {
	tags, _ := json.Marshal(map[string]string{key: value})
	q := url.Values{"service": {service}, "tags": {string(tags)}, "limit": {"20"}, "lookback": {"24h"}}
	return get(base + "/api/traces?" + q.Encode())
}

// Recent returns up to limit recent traces of service.
func Recent(base, service string, limit int) ([]Trace, error) {
	q := url.Values{"service": {service}, "limit": {fmt.Sprint(limit)}, "lookback": {"1h"}}
	return get(base + "/api/traces?" + q.Encode())
}

func get(u string) ([]Trace, error) {
	var r struct{ Data []Trace }
	if err := client.GetJSON(context.Background(), u, &r); err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return r.Data, nil
}

// Service is the service that recorded span i.
func (t Trace) Service(i int) string { return t.Processes[t.Spans[i].ProcessID].ServiceName }

// Services lists the services with spans in the trace, sorted.
func (t Trace) Services() []string {
	seen := map[string]bool{}
	var out []string
	for i := range t.Spans {
		if s := t.Service(i); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Parent is the index of span i's parent in the trace, -1 for a root (or a
// parent Jaeger did not receive).
func (t Trace) Parent(i int) int {
	for _, r := range t.Spans[i].References {
		if r.RefType != "CHILD_OF" {
			continue
		}
		for j := range t.Spans {
			if t.Spans[j].SpanID == r.SpanID {
				return j
			}
		}
	}
	return -1
}

// Ancestors names span i's ancestors, nearest first, as "service: operation".
func (t Trace) Ancestors(i int) []string {
	var out []string
	for n := 0; n < len(t.Spans); n++ {
		if i = t.Parent(i); i < 0 {
			break
		}
		out = append(out, t.Service(i)+": "+t.Spans[i].OperationName)
	}
	return out
}

// Ordered is the spans in tree order (each after its parent, siblings by
// start time) with their depth.
func (t Trace) Ordered() (order []int, depth []int) {
	children := map[int][]int{}
	var roots []int
	for i := range t.Spans {
		if p := t.Parent(i); p >= 0 {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	byStart := func(s []int) {
		sort.Slice(s, func(a, b int) bool { return t.Spans[s[a]].StartTime < t.Spans[s[b]].StartTime })
	}
	byStart(roots)
	var walk func(i, d int)
	walk = func(i, d int) {
		order, depth = append(order, i), append(depth, d)
		kids := children[i]
		byStart(kids)
		for _, k := range kids {
			walk(k, d+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return order, depth
}

// Text renders the trace as an indented tree with each span's start (from
// the trace's first span) and duration.
func (t Trace) Text() string {
	if len(t.Spans) == 0 {
		return "(empty trace)\n"
	}
	start := t.Spans[0].StartTime
	for _, s := range t.Spans {
		start = min(start, s.StartTime)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s: %d spans from %s\n", t.TraceID, len(t.Spans), strings.Join(t.Services(), ", "))
	order, depth := t.Ordered()
	for k, i := range order {
		s := t.Spans[i]
		fmt.Fprintf(&b, "  +%8.1f ms %8.2f ms  %s%s: %s\n", float64(s.StartTime-start)/1000, float64(s.Duration)/1000,
			strings.Repeat("  ", depth[k]), t.Service(i), s.OperationName)
	}
	return b.String()
}

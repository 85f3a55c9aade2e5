package scaffold

import (
	"bytes"
	"fmt"
	"go/format"
	"strconv"
	"strings"
	"text/template"
)

// step is what the templates of a function folder are rendered from.
type step struct {
	Name    string
	Module  string
	GoLine  string // the go directive of the tree's modules
	On      []onType
	Emits   *newType
	Ignore  []string // catalog constants of the other types on its topics
	Created string   // func.yaml created:, RFC 3339
	// FuncHead and Deploy are taken from the other functions' func.yaml
	// (specVersion ... namespace, and the deploy block), so a new one is
	// deployed as they are.
	FuncHead, Deploy string
}

// onType is one event a scaffolded function reacts to.
type onType struct {
	Type, Short   string
	Const         string // its constant in package events
	Payload       string // its Go payload type in package events
	Topic         string
	Sample        string // a recorded payload (shared/events/testdata), "" when none
	SampleVarName string
}

var funcs = template.FuncMap{
	"quote": strconv.Quote,
	// raw writes s as a Go raw string literal when it can be one.
	"raw": func(s string) string {
		if strings.Contains(s, "`") {
			return strconv.Quote(s)
		}
		return "`" + s + "`"
	},
	"consts": func(names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = "events." + n
		}
		return strings.Join(out, ", ")
	},
}

func render(name, text string, data any) ([]byte, error) {
	t, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !strings.HasSuffix(name, ".go") {
		return b.Bytes(), nil
	}
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: rendered invalid Go: %w\n%s", name, err, b.Bytes())
	}
	return out, nil
}

const functionGo = `// Package function is the {{.Name}} step of the orderflow saga, a Knative
// Function (func-go http runtime; it receives CloudEvents over HTTP).
//
{{- range .On}}
//	{{.Short}} -> Decide{{.Const}} -> {{if $.Emits}}{{$.Emits.Short}}{{else}}nothing yet{{end}}
{{- end}}
//
// Scaffolded by ` + "`orderflow new function`" + `. The edge (decode, schema check,
// dedupe, the outbox, publishing to K_SINK) is shared/handler's, as in every
// function; what the step decides is decide.go's.
package function

import (
	"context"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

// Function is the {{.Name}} function: func-go finds Handle, Start, Stop,
// Ready and Alive on the Lifecycle it embeds.
type Function struct {
	handler.Lifecycle
}

// New builds the function; func-go calls it once per process.
func New() *Function {
	app := handler.New({{quote .Name}}{{if .Emits}}, handler.Publishes(){{end}})
	f := &Function{Lifecycle: app.Lifecycle()}
{{- range .On}}
	handler.On(app, events.{{.Const}}, f.on{{.Const}})
{{- end}}
{{- if .Ignore}}
	// Its topics carry these too; they are none of its business.
	app.Ignore({{consts .Ignore}})
{{- end}}
	return f
}
{{range .On}}
func (f *Function) on{{.Const}}(_ context.Context, _ *store.Tx, in handler.In[events.{{.Payload}}]) ([]saga.Emit, error) {
	return Decide{{.Const}}(in.Data)
}
{{end}}`

const decideGo = `package function

import (
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)

// The decisions of the {{.Name}} step, one per event it reacts to: pure,
// the event's payload in, the events to publish out, or a refusal
// (saga.Invalid, saga.Unprocessable, saga.Retry). No I/O here: the edge
// stores what they return and publishes it; decide_test.go holds the
// table of what each must do.
{{range .On}}
// Decide{{.Const}} decides what {{$.Name}} does when {{.Short}} arrives.
// Scaffolded: {{if $.Emits}}it publishes {{$.Emits.Short}} for the order{{else}}it publishes nothing{{end}}; write the
// step's decision here{{if $.Emits}} (and give {{$.Emits.Payload}} the fields it needs, in
// shared/events/payloads.go and the type's schema){{end}}.
func Decide{{.Const}}(in events.{{.Payload}}) ([]saga.Emit, error) {
{{- if $.Emits}}
	return []saga.Emit{ {Type: events.{{$.Emits.Const}}, Data: events.{{$.Emits.Payload}}{OrderID: in.OrderID}} }, nil
{{- else}}
	return nil, nil
{{- end}}
}
{{end}}`

const decideTestGo = `package function

import (
	"reflect"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/saga"
)
{{range .On}}
func TestDecide{{.Const}}(t *testing.T) {
	tests := []struct {
		name string
		in   events.{{.Payload}}
		want []saga.Emit
	}{
		{ {{if $.Emits}}"publishes {{$.Emits.Short}} for the order"{{else}}"publishes nothing"{{end}}, events.{{.Payload}}{OrderID: "o-1"},
			{{if $.Emits}}[]saga.Emit{ {Type: events.{{$.Emits.Const}}, Data: events.{{$.Emits.Payload}}{OrderID: "o-1"}} }{{else}}nil{{end}} },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide{{.Const}}(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
{{end}}`

const functionTestGo = `package function

import (
{{- if .HasSamples}}
	"encoding/json"
{{- end}}
	"net/http"
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// The function behind its real edge (func-go's mux, a store, a recording
// K_SINK): what it reacts to, what it ignores, what it refuses.
func TestEdge(t *testing.T) {
	h := handlertest.Start(t, New(), nil)
{{- range .On}}
{{- if .Sample}}

	// {{.Short}}, as the saga recorded one (shared/events/testdata).
	var {{.SampleVarName}} events.{{.Payload}}
	if err := json.Unmarshal([]byte({{raw .Sample}}), &{{.SampleVarName}}); err != nil {
		t.Fatal(err)
	}
	if r := h.Send(t, handlertest.Event(t, events.{{.Const}}, {{.SampleVarName}}, nil)); r.Status != http.StatusOK {
		t.Fatalf("{{.Short}}: %d %s", r.Status, r.Body)
	}
{{- if $.Emits}}
	if out := h.Flush(t); len(out) != 1 || out[0].Type() != events.{{$.Emits.Const}} {
		t.Fatalf("{{.Short}} published %v, want one {{$.Emits.Short}}", out)
	}
{{- end}}
{{- else}}

	// No {{.Short}} is recorded in shared/events/testdata: add a case here
	// with a payload its schema accepts.
{{- end}}
{{- end}}
{{- if .Ignore}}

	// What else its topics carry is answered 200 and dropped.
	for _, typ := range []string{ {{consts .Ignore}} } {
		if r := h.Send(t, handlertest.Event(t, typ, struct{}{}, nil)); r.Status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200 (ignored)", typ, r.Status, r.Body)
		}
	}
{{- end}}

	// A type it was never meant to see is refused: dead-lettered, not retried.
	r := h.Post(t, map[string]string{"ce-specversion": "1.0", "ce-id": "unknown-1", "ce-source": "/test",
		"ce-type": "dev.orderflow.nope.v1", "content-type": "application/json"}, "{}")
	if r.Status/100 != 4 {
		t.Errorf("unknown type: %d %s, want 4xx", r.Status, r.Body)
	}
}
`

const funcYAML = `{{.FuncHead}}run:
  envs:
    # On a cluster the database URL comes from a secret; locally ` + "`orderflow up`" + `
    # gives each function its own SQLite file instead.
    - name: ORDERFLOW_DATABASE_URL
      value: '{{"{{"}} secret:orderflow-db:{{.Name}} {{"}}"}}'
    - name: ORDERFLOW_LOG_LEVEL
      value: info
{{.Deploy}}`

const goMod = `module {{.Module}}

{{.GoLine}}

require orderflow.dev/shared v0.1.0
`

// HasSamples says whether any --on type has a recorded payload.
func (s step) HasSamples() bool {
	for _, o := range s.On {
		if o.Sample != "" {
			return true
		}
	}
	return false
}

package main

import (
	"strings"
	"testing"
)

func TestNewFunctionOptionsValidate(t *testing.T) {
	good := NewFunctionOptions{Name: "loyalty", On: []string{"order.confirmed"}}
	noOn := NewFunctionOptions{Name: "loyalty"}
	wantNoOn := noOn.Validate()
	if wantNoOn == nil || !strings.HasPrefix(wantNoOn.Error(), "--on: name at least one event type") {
		t.Fatalf("no --on: %v", wantNoOn)
	}
	testValidate(t, good, (*NewFunctionOptions).Validate, []validateCase[NewFunctionOptions]{
		{"a step", func(*NewFunctionOptions) {}, ""},
		{"a step that emits", func(o *NewFunctionOptions) { o.Emits = "points.granted" }, ""},
		{"no name", func(o *NewFunctionOptions) { o.Name = "" }, "the function needs a name (orderflow new function NAME --on TYPE)"},
		{"not a DNS label", func(o *NewFunctionOptions) { o.Name = "Loyalty_Points" },
			`function name "Loyalty_Points": not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-'): it names a Knative Service`},
		{"a producer's name", func(o *NewFunctionOptions) { o.Name = "client" },
			`function name "client": the event catalog uses it for producers that are not functions (client, pingsource, any)`},
		{"no --on", func(o *NewFunctionOptions) { o.On = nil }, wantNoOn.Error()},
	})
}

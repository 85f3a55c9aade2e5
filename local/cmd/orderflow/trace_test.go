package main

import (
	"context"
	"strings"
	"testing"
)

func TestTraceOptionsValidate(t *testing.T) {
	good := flagDefaults(&TraceOptions{}, (*TraceOptions).addFlags)
	good.OrderID = "ord-1234abcd"
	testValidate(t, good, (*TraceOptions).Validate, []validateCase[TraceOptions]{
		{"an order", func(*TraceOptions) {}, ""},
		{"an order among blanks", func(o *TraceOptions) { o.OrderID = " ord-1 " }, ""},
		{"no order", func(o *TraceOptions) { o.OrderID = "" }, "ORDER-ID is empty"},
		{"blanks", func(o *TraceOptions) { o.OrderID = " \t" }, "ORDER-ID is empty"},
	})
}

func TestTraceSaysWhenNoJaegerAnswers(t *testing.T) {
	o := flagDefaults(&TraceOptions{}, (*TraceOptions).addFlags)
	o.OrderID, o.Jaeger = "ord-1", "http://127.0.0.1:1"
	err := o.Run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "no Jaeger answers at http://127.0.0.1:1 (") || exitCode(err) != exitRuntime {
		t.Errorf("got %v (exit %d); want 'no Jaeger answers at ...', exit 3", err, exitCode(err))
	}
}

package main

import "testing"

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

package main

import (
	"testing"
	"time"
)

func TestLagOptionsValidate(t *testing.T) {
	testValidate(t, flagDefaults(&LagOptions{}, (*LagOptions).addFlags), (*LagOptions).Validate, []validateCase[LagOptions]{
		{"defaults", func(*LagOptions) {}, ""},
		{"interval 0", func(o *LagOptions) { o.Interval = 0 }, "--interval 0s: must be positive"},
		{"interval negative", func(o *LagOptions) { o.Interval = -time.Second }, "--interval -1s: must be positive"},
		{"watch and brokers", func(o *LagOptions) { o.Watch, o.Brokers = true, []string{"127.0.0.1:9092"} }, ""},
	})
}

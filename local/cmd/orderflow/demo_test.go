package main

import (
	"testing"
	"time"

	"orderflow.dev/local/profile"
)

func TestDemoOptionsValidate(t *testing.T) {
	good := DemoOptions{Orders: 1000, Concurrency: 16, Timeout: 5 * time.Minute, Settle: 30 * time.Second}
	testValidate(t, good, (*DemoOptions).Validate, []validateCase[DemoOptions]{
		{"defaults", func(*DemoOptions) {}, ""},
		{"orders 0", func(o *DemoOptions) { o.Orders = 0 }, "--orders 0: must be at least 1"},
		{"warmup negative", func(o *DemoOptions) { o.WarmUp = -1 }, "--warmup-orders -1: must not be negative"},
		{"concurrency 0", func(o *DemoOptions) { o.Concurrency = 0 }, "--concurrency 0: must be at least 1"},
		{"rate negative", func(o *DemoOptions) { o.Rate = -2.5 }, "--rate -2.5: must not be negative"},
		{"account with attach", func(o *DemoOptions) { o.Account, o.Attach = true, true }, "--account cannot go with --attach: it reads the counters of the plane this demo starts"},
		{"profile with attach", func(o *DemoOptions) { o.ProfileDir, o.Attach = "prof", true },
			"--profile cannot go with --attach: the running orderflow's functions were started without profiling (start it with `orderflow up --env " + profile.EnvDir + "=DIR` for theirs)"},
		{"attach alone", func(o *DemoOptions) { o.Attach = true }, ""},
		// --recheck places nothing: the placing's flags are not looked at.
		{"recheck with orders 0", func(o *DemoOptions) { o.Recheck, o.Orders = "results.json", 0 }, ""},
	})
}

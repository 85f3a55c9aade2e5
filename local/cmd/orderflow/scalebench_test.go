package main

import (
	"testing"

	"orderflow.dev/local/scalebench"
)

func TestScaleBenchOptionsValidate(t *testing.T) {
	good := flagDefaults(&ScaleBenchOptions{Bench: scalebench.Defaults()}, (*ScaleBenchOptions).addFlags)
	testValidate(t, good, (*ScaleBenchOptions).Validate, []validateCase[ScaleBenchOptions]{
		{"defaults", func(*ScaleBenchOptions) {}, ""},
		{"replicas 0", func(o *ScaleBenchOptions) { o.Bench.Replicas = []int{0} }, "--replicas 0: want 1 to 16 replicas of every function"},
		{"sqlite", func(o *ScaleBenchOptions) { o.Bench.DatabaseURL = "sqlite:///tmp/x.db" },
			"--database-url: want a postgres:// URL; replicas of a function cannot share an SQLite file"},
	})
}

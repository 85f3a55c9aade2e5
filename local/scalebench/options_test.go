package scalebench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const pgURL = "postgres://u:p@127.0.0.1:15432/db?sslmode=disable"

func valid() Options {
	o := Defaults()
	o.DatabaseURL = pgURL
	o.Out = "/nonexistent/scalebench-results"
	return o
}

func TestTheDefaultsAreValid(t *testing.T) {
	o := valid()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every bad value is refused with an error that begins with the flag it
// came from (the CLI's convention: exit 2, usage).
func TestValidateNamesTheFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flag   string
		mutate func(*Options)
		says   string
	}{
		{"--database-url", func(o *Options) { o.DatabaseURL = "sqlite:///tmp/x.db" }, "postgres://"},
		{"--database-url", func(o *Options) { o.DatabaseURL = "127.0.0.1:5432" }, "postgres://"},
		{"--wake-ups", func(o *Options) { o.WakeUps = 0 }, "at least 1"},
		{"--burst", func(o *Options) { o.Burst = -3 }, "at least 1"},
		{"--concurrency", func(o *Options) { o.Concurrency = 0 }, "at least 1"},
		{"--replicas", func(o *Options) { o.Replicas = nil }, "at least one"},
		{"--replicas", func(o *Options) { o.Replicas = []int{1, 0} }, "want 1 to 16"},
		{"--replicas", func(o *Options) { o.Replicas = []int{1, 17} }, "want 1 to 16"},
		{"--replicas", func(o *Options) { o.Replicas = []int{2, 1, 2} }, "given twice"},
		{"--partitions", func(o *Options) { o.Partitions = -1 }, "negative"},
		{"--target", func(o *Options) { o.Target = -5 }, "at least 0.01"},
		{"--target", func(o *Options) { o.Target = 0.001 }, "at least 0.01"},
		{"--idle", func(o *Options) { o.Idle = -time.Second }, "negative"},
		{"--sample", func(o *Options) { o.Sample = time.Millisecond }, "10ms to 10s"},
		{"--sample", func(o *Options) { o.Sample = time.Minute }, "10ms to 10s"},
		{"--timeout", func(o *Options) { o.Timeout = 0 }, "positive"},
		{"--cold-window", func(o *Options) { o.ColdWindow = 500 * time.Millisecond }, "at least 1s"},
		{"--stable-window", func(o *Options) { o.StableWindow = 0 }, "at least 1s"},
		{"--scale", func(o *Options) { o.Scale = []string{"order"} }, "FUNCTION=MIN:MAX"},
		{"--scale", func(o *Options) { o.Scale = []string{"order=a:b"} }, "whole numbers"},
		{"--scale", func(o *Options) { o.Scale = []string{"order=3:1"} }, "at least scale.min"},
		{"--scale", func(o *Options) { o.Scale = []string{"shipping=1:2"} }, "no function shipping"},
		{"--out", func(o *Options) { o.Out = file }, "not a directory"},
	} {
		t.Run(tc.flag+" "+tc.says, func(t *testing.T) {
			o := valid()
			tc.mutate(&o)
			err := o.Validate()
			if err == nil {
				t.Fatalf("accepted %+v", o)
			}
			if !strings.HasPrefix(err.Error(), tc.flag) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v: want an error beginning with %s and saying %q", err, tc.flag, tc.says)
			}
		})
	}
}

func TestScaleOverridesAreReadByFunction(t *testing.T) {
	o := valid()
	o.Scale = []string{"*=0:3", "payment=2"}
	got, err := o.scaleOverrides()
	if err != nil {
		t.Fatal(err)
	}
	if got["*"].Min != 0 || got["*"].Max != 3 || got["payment"].Min != 2 || got["payment"].Max != 2 || len(got) != 2 {
		t.Fatalf("%+v", got)
	}
}

func TestCompleteTakesTheDatabaseFromTheEnvironmentAndTheResultsUnderTheStateDir(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == DatabaseURLEnv {
				return v
			}
			return ""
		}
	}
	var o Options
	if err := o.Complete("/state/scalebench", env(" "+pgURL+"\n")); err != nil {
		t.Fatal(err)
	}
	if o.DatabaseURL != pgURL || o.Out != "/state/scalebench/results" || o.Progress == nil {
		t.Fatalf("%+v", o)
	}
	// A flag given wins over the environment.
	o = Options{DatabaseURL: "postgres://flag/db", Out: "/elsewhere"}
	if err := o.Complete("/state", env("sqlite:///x.db")); err != nil {
		t.Fatal(err)
	}
	if o.DatabaseURL != "postgres://flag/db" || o.Out != "/elsewhere" {
		t.Fatalf("%+v", o)
	}
	// Neither, or the environment on SQLite: refused, naming the flag.
	for v, says := range map[string]string{"": "required", "sqlite:///x.db": "not a postgres:// URL"} {
		o = Options{}
		if err := o.Complete("/state", env(v)); err == nil || !strings.HasPrefix(err.Error(), "--database-url") || !strings.Contains(err.Error(), says) {
			t.Errorf("%s=%q: %v, want an error naming --database-url and saying %q", DatabaseURLEnv, v, err, says)
		}
	}
}

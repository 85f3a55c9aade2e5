// Package scalebench measures the functions as Knative Services on one
// machine, on the embedded broker and PostgreSQL (replicas of a function
// share a database, which SQLite cannot be): how long a delivery that finds
// a function at zero waits for its replica (cold start, per function) and
// how long the first order takes after everything scaled to zero; the
// saga's throughput and CPU per order with 1, 2, 4... replicas of every
// function; and one run from idle to a burst and back to idle with the
// functions' own scale settings, sampled as replicas per function and
// orders ended per second, drawn as a picture. It is `orderflow
// scalebench`; docs/performance.md has its figures.
//
// Options follows kubectl's pattern: Validate refuses bad values naming
// the flag, Complete fills what the flags left out, Run measures.
package scalebench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/scratchdb"
)

// DatabaseURLEnv is where --database-url is read from when not given: the
// functions' own database setting, as bench and demo read it.
const DatabaseURLEnv = "ORDERFLOW_DATABASE_URL"

// Result files in Options.Out.
const (
	ResultsFile = "scalebench.json"
	PictureFile = "scalebench.png"
)

// MaxReplicas bounds --replicas: every replica is a process on this one
// machine, with its own connections to PostgreSQL.
const MaxReplicas = 16

// Options are the command's flags.
type Options struct {
	// DatabaseURL is the PostgreSQL database the functions get fresh
	// schemas in (dropped at the end); default $ORDERFLOW_DATABASE_URL.
	DatabaseURL string
	// WakeUps is how many times every function is let go to zero and an
	// order woken it (cold starts), ColdWindow the autoscaler's stable
	// window meanwhile (short, so functions reach zero fast).
	WakeUps    int
	ColdWindow time.Duration
	// Burst orders are placed at once (Concurrency in flight) at each of
	// Replicas replicas of every function, and once more in the idle ->
	// burst -> idle run.
	Burst       int
	Concurrency int
	Replicas    []int
	// Partitions gives every domain topic this many partitions (an
	// overlay of the manifests, as the prod overlay's 12); 0 keeps the
	// manifests' own. Ordered KafkaSources have one delivery in flight per
	// partition, so partitions bound what replicas can share.
	Partitions int
	// The idle -> burst -> idle run: the functions' func.yaml scale,
	// overridden by Scale (FUNCTION=MIN:MAX, as `up --scale`) and Target
	// (requests in flight per replica, every function; 0 keeps theirs);
	// StableWindow is the autoscaler's window, Idle how long the run stays
	// idle before and after the burst once every function is at its
	// minimum, Sample how often replicas are read.
	Scale        []string
	Target       float64
	StableWindow time.Duration
	Idle         time.Duration
	Sample       time.Duration
	// Timeout bounds each burst's wait for its orders' outcomes.
	Timeout time.Duration
	// Out is the directory the results and the picture go to.
	Out string
	// ProfileDir, when set, gets a CPU profile of this process (the plane:
	// the broker, the sources, the ingress, every function's load balancer,
	// and the load generator) over each burst at fixed replicas.
	ProfileDir string
	// Progress gets the progress lines and the summary (default stdout).
	Progress io.Writer
}

// Defaults are the flags' defaults: a moderate run, a few minutes.
func Defaults() Options {
	return Options{WakeUps: 5, ColdWindow: 2 * time.Second, Burst: 1000, Concurrency: 16, Replicas: []int{1, 2, 4}, Partitions: 12,
		StableWindow: 6 * time.Second, Idle: 5 * time.Second, Sample: 250 * time.Millisecond, Timeout: 5 * time.Minute}
}

// Complete fills what the flags left out: the database from getenv (it
// must then be PostgreSQL too), the results directory under stateDir (the
// command's own), the progress on stdout.
func (o *Options) Complete(stateDir string, getenv func(string) string) error {
	if o.DatabaseURL == "" {
		o.DatabaseURL = strings.TrimSpace(getenv(DatabaseURLEnv))
		switch {
		case o.DatabaseURL == "":
			return fmt.Errorf("--database-url: required (or %s): replicas of a function share one database, which must be PostgreSQL (scripts/postgres.sh url)", DatabaseURLEnv)
		case !scratchdb.IsPostgres(o.DatabaseURL):
			return fmt.Errorf("--database-url not given, and %s is not a postgres:// URL: replicas of a function cannot share an SQLite file", DatabaseURLEnv)
		}
	}
	if o.Out == "" {
		o.Out = filepath.Join(stateDir, "results")
	}
	if o.Progress == nil {
		o.Progress = os.Stdout
	}
	return nil
}

// Validate names the first flag whose value cannot be measured with.
func (o *Options) Validate() error {
	switch {
	case o.DatabaseURL != "" && !scratchdb.IsPostgres(o.DatabaseURL):
		return errors.New("--database-url: want a postgres:// URL; replicas of a function cannot share an SQLite file")
	case o.WakeUps < 1:
		return fmt.Errorf("--wake-ups %d: must be at least 1", o.WakeUps)
	case o.Burst < 1:
		return fmt.Errorf("--burst %d: must be at least 1 order", o.Burst)
	case len(o.Replicas) == 0:
		return errors.New("--replicas: give at least one replica count, e.g. 1,2,4")
	case o.Partitions < 0:
		return fmt.Errorf("--partitions %d: must not be negative (0 keeps the manifests' partitions)", o.Partitions)
	case o.Target != 0 && o.Target < 0.01:
		return fmt.Errorf("--target %g: must be at least 0.01 requests in flight per replica (0 keeps the functions' own)", o.Target)
	case o.Idle < 0:
		return fmt.Errorf("--idle %s: must not be negative", o.Idle)
	case o.Sample < 10*time.Millisecond || o.Sample > 10*time.Second:
		return fmt.Errorf("--sample %s: want 10ms to 10s", o.Sample)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	if err := demo.CheckConcurrency(o.Concurrency); err != nil {
		return err
	}
	for flag, w := range map[string]time.Duration{"--cold-window": o.ColdWindow, "--stable-window": o.StableWindow} {
		if w < time.Second {
			return fmt.Errorf("%s %s: want at least 1s (Knative's default is 60s)", flag, w)
		}
	}
	for i, n := range o.Replicas {
		if n < 1 || n > MaxReplicas {
			return fmt.Errorf("--replicas %d: want 1 to %d replicas of every function", n, MaxReplicas)
		}
		if slices.Contains(o.Replicas[:i], n) {
			return fmt.Errorf("--replicas %d: given twice", n)
		}
	}
	if _, err := o.scaleOverrides(); err != nil {
		return err
	}
	if fi, err := os.Stat(o.Out); o.Out != "" && err == nil && !fi.IsDir() {
		return fmt.Errorf("--out %s: a file, not a directory", o.Out)
	}
	return nil
}

// scaleOverrides reads --scale, by function ("*" for every one).
func (o *Options) scaleOverrides() (map[string]serving.Scale, error) {
	out := map[string]serving.Scale{}
	for _, v := range o.Scale {
		name, sc, err := serving.ParseScaleFlag(v)
		if err != nil {
			return nil, fmt.Errorf("--scale %w", err)
		}
		if name != "*" && !slices.Contains(fnserve.Names(), name) {
			return nil, fmt.Errorf("--scale %q: no function %s (want one of %s, or *)", v, name, strings.Join(fnserve.Names(), ", "))
		}
		out[name] = sc
	}
	return out, nil
}

// Command orderflow runs the orderflow saga on one machine: `up` starts the
// whole topology from the knative/ manifests, `demo` drives orders through
// it and checks the invariants, `place`, `order`, `dlq` and `stats` talk to a
// running `up`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/knplane"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/knlocal/statedir"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/scratchdb"
	"orderflow.dev/shared/gctune"
)

func main() {
	// The plane (up, demo, bench) allocates per delivery as the functions
	// do; the functions apply the same in their Start.
	if _, err := gctune.Apply(); err != nil {
		fmt.Fprintln(os.Stderr, "orderflow: bad configuration:", err)
		os.Exit(2)
	}
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "orderflow:", err)
		os.Exit(exitCode(err))
	}
}

type globals struct {
	root     string
	stateDir string
	// output is -o: text (default) or json, for the commands that print a
	// result.
	output string
}

// Output formats of -o.
const (
	outputText = "text"
	outputJSON = "json"
)

// printsJSON are the commands whose result -o json prints as JSON; the
// others refuse it rather than print text to a script that asked for JSON
// (the long runs write their results as JSON files: see their --results).
var printsJSON = map[string]bool{
	"orderflow place": true, "orderflow order": true, "orderflow stats": true, "orderflow lag": true, "orderflow version": true,
	"orderflow dlq": true, "orderflow dlq list": true, "orderflow dlq show": true, "orderflow dlq replay": true, "orderflow dlq purge": true,
}

// json reports -o json.
func (g *globals) json() bool { return g.output == outputJSON }

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "orderflow",
		Short:         "Run the orderflow order saga locally: Kafka, the Knative eventing stand-in and the five functions",
		Long:          "Run the orderflow order saga locally: Kafka, the Knative eventing stand-in and the five functions.\nThe manual is docs/ in the checkout (docs/operations.md for the commands).\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != outputText && g.output != outputJSON {
				return usage(fmt.Errorf("-o %q: want text or json", g.output))
			}
			if fi, err := os.Stat(g.stateDir); err == nil && !fi.IsDir() {
				return usage(fmt.Errorf("--state-dir %s: a file, not a directory", g.stateDir))
			}
			if g.json() && !printsJSON[cmd.CommandPath()] && cmd.Name() != "help" {
				return usage(fmt.Errorf("-o json: `%s` prints text only; JSON comes from dlq, lag, order, place, stats and version", cmd.CommandPath()))
			}
			return usage(emptyFlagValue(cmd.Flags()))
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.PersistentFlags().StringVar(&g.root, "root", "", "orderflow checkout holding knative/ and functions/ (default: found from the working directory)")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", ".orderflow", "where up keeps databases, logs and endpoints.json")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", outputText, "format of a command's result: text or json")
	root.AddCommand(newUp(g), newDemo(g), newPlace(g), newOrder(g), newDLQ(g), newStats(g), newFaults(g), newBench(g), newLag(g), newTrace(), newFunction(), newSchemas(), newSoak(g), newScaleBench(g), newReplay(g), newKnativeConfig(g), newNew(g), newVersion(g))
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (schemas, new) refuse a word that names none of them, as the root does:
// cobra prints such a command's help and exits 0, so `orderflow schemas
// chek` looked like it had worked.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usage(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
		}
		return cmd.Help()
	}
}

// emptyFlagValue refuses a flag given an empty value, a list flag an
// empty entry, or a number flag NaN or infinity: `--database-url "$DB"`
// with DB unset would otherwise run on the default (SQLite, here) without
// a word. Leaving a flag out is how to ask for its default.
func emptyFlagValue(flags *pflag.FlagSet) error {
	var err error
	flags.Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		if f.Value.Type() == "float64" {
			// ParseFloat takes NaN and Inf, which pass every "must be
			// positive" check and then mean nothing.
			if v, perr := strconv.ParseFloat(f.Value.String(), 64); perr == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = fmt.Errorf("--%s %s: want a finite number", f.Name, f.Value)
			}
			return
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if values = sv.GetSlice(); len(values) == 0 {
				values = []string{""}
			}
		} else if f.Value.Type() != "string" {
			return // numbers, durations and booleans refuse "" themselves
		}
		for _, v := range values {
			if strings.TrimSpace(v) == "" {
				err = fmt.Errorf("--%s %q: an empty value (an unset variable?); leave the flag out for its default", f.Name, v)
				return
			}
		}
	})
	return err
}

// checkout finds the orderflow tree: --root, or the nearest parent of the
// working directory holding knative/base and functions/.
func (g *globals) checkout() (string, error) {
	if g.root != "" {
		if !isCheckout(g.root) {
			return "", fmt.Errorf("--root %s: no knative/base and functions/ there", g.root)
		}
		return filepath.Abs(g.root)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isCheckout(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside an orderflow checkout (no knative/base and functions/ above the working directory); pass --root")
		}
		dir = parent
	}
}

func isCheckout(dir string) bool {
	for _, p := range []string{"knative/base/kustomization.yaml", "functions"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}

// functionCommand starts a function process from this very binary, which
// holds the func-go scaffolding of every function (see fnserve).
func functionCommand() (func(string) []string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// The slim function binary (`make build` puts it beside this one) is
	// what a func build makes of a function: a process that maps a third
	// less and starts faster than the whole CLI.
	if slim := filepath.Join(filepath.Dir(self), FunctionBinary); isExecutable(slim) {
		return func(name string) []string { return []string{slim, name} }, nil
	}
	return func(name string) []string { return []string{self, "function", name} }, nil
}

// FunctionBinary is the slim binary that serves one function
// (local/cmd/orderflow-fn).
const FunctionBinary = "orderflow-fn"

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// functionOf names the function a process serves, from the arguments
// functionCommand gave it (`orderflow-fn NAME` or `orderflow function NAME`).
func functionOf(pid int) (string, bool) {
	args, err := profile.Cmdline(pid)
	if err != nil || len(args) < 2 {
		return "", false
	}
	if len(args) == 2 && filepath.Base(args[0]) == FunctionBinary {
		return args[1], true
	}
	if len(args) < 3 || args[len(args)-2] != "function" {
		return "", false
	}
	return args[len(args)-1], true
}

type upFlags struct {
	brokers           []string
	manifests         string
	brokerPort        int
	topicReplicas     int
	minInsync         int
	ingressPort       int
	apiPort           int
	host, tokenFile   string
	duplicateDelivery bool
	pingEvery         time.Duration
	keepState         bool
	holdLimit         time.Duration
	gateLimit         time.Duration
	brokerSync        bool
	env               []string
	dataPlane         string
	scale             []string
	stableWindow      time.Duration
	databaseURL       string
	watchManifests    time.Duration
}

func (f *upFlags) register(cmd *cobra.Command) {
	cmd.Flags().Var(brokerList(&f.brokers), "brokers", "bootstrap servers of an existing Kafka (default: start the embedded broker); SASL/TLS from ORDERFLOW_KAFKA_* variables")
	cmd.Flags().StringVar(&f.manifests, "manifests", "", "kustomization directory to run (default <root>/knative/base)")
	cmd.Flags().IntVar(&f.brokerPort, "broker-port", 0, "port of the embedded broker (default: any free port)")
	cmd.Flags().IntVar(&f.topicReplicas, "topic-replicas", 0, "create missing topics with this replication factor instead of the KafkaTopics' replicas (e.g. 3 on a 3-broker cluster)")
	cmd.Flags().IntVar(&f.minInsync, "min-insync-replicas", 0, "set min.insync.replicas on the topics it creates (e.g. 2 with --topic-replicas 3)")
	cmd.Flags().IntVar(&f.ingressPort, "ingress-port", 0, "port of the KafkaSink ingress (default: any free port)")
	cmd.Flags().IntVar(&f.apiPort, "api-port", 0, "port of the plane's HTTP API and webhook (default: any free port)")
	cmd.Flags().StringVar(&f.host, "host", "127.0.0.1", "address the KafkaSink ingress and the plane's API bind; any but loopback makes both ask for a bearer token")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding that bearer token (default: $"+door.EnvToken+", else a new one kept in <state-dir>/"+door.FileName+")")
	cmd.Flags().BoolVar(&f.duplicateDelivery, "duplicate-delivery", false, "deliver every event twice (proves the functions idempotent)")
	cmd.Flags().DurationVar(&f.pingEvery, "ping-every", 0, "fire the PingSources (outbox sweep, stalled-saga check) at this interval instead of their cron schedules")
	cmd.Flags().BoolVar(&f.keepState, "keep-state", false, "resume the previous run in this state directory: keep the functions' databases and the embedded broker's log (with --brokers: the databases; the topics are Kafka's)")
	cmd.Flags().DurationVar(&f.holdLimit, "hold-limit", source.DefaultHoldLimit, "longest a record may hold its partition while its dead-letter sink fails transiently; then its dead letter goes to the spool (<state-dir>/"+plane.SpoolDir+")")
	cmd.Flags().BoolVar(&f.brokerSync, "broker-sync", false, "sync the embedded broker's log to disk before it answers each write, so an accepted order survives a crash of the machine, not only of orderflow (about half the throughput; docs/local-state.md)")
	cmd.Flags().DurationVar(&f.gateLimit, "ready-hold-limit", source.DefaultGateLimit, "longest a delivery waits, in all, for a function that reports not ready (its store cannot write, say) before its retries count again and it may be dead-lettered")
	cmd.Flags().StringVar(&f.dataPlane, "data-plane", dataPlaneLocal, "what carries events between Kafka and HTTP: "+dataPlaneLocal+" (the plane's own KafkaSink ingress and KafkaSources) or "+knplane.Name+" (Knative's Java receiver and dispatcher, built once by "+knplane.Script+")")
	cmd.Flags().StringVar(&f.databaseURL, "database-url", "", "a PostgreSQL database for every function's store, a schema each (orderflow_<key>, kept across runs; emptied on a start without --keep-state); default: SQLite files in the state directory")
	cmd.Flags().StringArrayVar(&f.scale, "scale", nil, "replicas of a function, FUNCTION=MIN:MAX or FUNCTION=N (* for every one), instead of its func.yaml's deploy.options.scale (repeatable; more than one needs PostgreSQL)")
	cmd.Flags().DurationVar(&f.watchManifests, "watch-manifests", f.watchManifests, "read the manifests again at this interval and apply a KafkaSource's changed consumers at once (0: never); other changes need a restart")
	cmd.Flags().DurationVar(&f.stableWindow, "stable-window", 0, "the autoscaler's stable window (default Knative's 60s); its panic window is a tenth of it, its scale-to-zero grace half")
	cmd.Flags().StringArrayVar(&f.env, "env", nil, "extra function environment VAR=value, or FUNCTION/VAR=value for one function (repeatable)")
}

// validate checks the up flags alone, before anything is read or
// started: each value, and the flags that cannot go together.
func (f *upFlags) validate() error {
	for _, b := range f.brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("--brokers %q: want host:port", b)
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--broker-port", f.brokerPort}, {"--ingress-port", f.ingressPort}, {"--api-port", f.apiPort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("%s %d: not a port", p.name, p.v)
		}
	}
	switch {
	case f.host != "localhost" && net.ParseIP(f.host) == nil:
		// A name would be looked up when the ingress binds, and the
		// failure would name the ingress, not this flag.
		return fmt.Errorf("--host %q: want an IP address of this machine (0.0.0.0 for all, 127.0.0.1 for loopback only)", f.host)
	case f.pingEvery < 0:
		return fmt.Errorf("--ping-every %s: must not be negative", f.pingEvery)
	case f.pingEvery > 0 && f.pingEvery < minPingEvery:
		// A PingSource fired back to back only burns CPU: each firing
		// sweeps an outbox and scans for stalled sagas.
		return fmt.Errorf("--ping-every %s: want at least %s (or leave it out for the PingSources' schedules)", f.pingEvery, minPingEvery)
	case f.gateLimit <= 0:
		return fmt.Errorf("--ready-hold-limit %s: must be positive (how long a delivery may wait for its function to be ready)", f.gateLimit)
	case f.holdLimit <= 0:
		return fmt.Errorf("--hold-limit %s: must be positive (how long a partition may wait on a failing dead-letter sink)", f.holdLimit)
	case f.topicReplicas < 0 || f.topicReplicas > 32767:
		return fmt.Errorf("--topic-replicas %d: want a replication factor of at least 1", f.topicReplicas)
	case f.minInsync < 0 || (f.topicReplicas > 0 && f.minInsync > f.topicReplicas):
		return fmt.Errorf("--min-insync-replicas %d: want at least 1 and at most --topic-replicas (%d)", f.minInsync, f.topicReplicas)
	case len(f.brokers) > 0 && f.brokerPort != 0:
		return errors.New("--broker-port is for the embedded broker; it cannot go with --brokers")
	}
	if _, err := f.envOf(); err != nil {
		return err
	}
	if _, err := f.scaleOf(); err != nil {
		return err
	}
	switch {
	case f.stableWindow < 0 || (f.stableWindow > 0 && f.stableWindow < time.Second):
		return fmt.Errorf("--stable-window %s: want at least 1s (Knative's default is 60s)", f.stableWindow)
	case f.watchManifests < 0:
		return fmt.Errorf("--watch-manifests %s: must not be negative (0: never)", f.watchManifests)
	case f.watchManifests > 0 && f.watchManifests < minInterval:
		return fmt.Errorf("--watch-manifests %s: want at least %s (0: never)", f.watchManifests, minInterval)
	case f.databaseURL != "" && !scratchdb.IsPostgres(f.databaseURL):
		return fmt.Errorf("--database-url: want a postgres:// URL (SQLite is the default: a file per function in the state directory)")
	case len(f.brokers) > 0 && f.brokerSync:
		return errors.New("--broker-sync is for the embedded broker; it cannot go with --brokers (a Kafka cluster's durability is its replication: acks=all, min.insync.replicas)")
	}
	return f.validateDataPlane()
}

// envOf reads --env into the extra function environment.
func (f *upFlags) envOf() (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--env %q: want VAR=value or FUNCTION/VAR=value", kv)
		}
		env[k] = v
	}
	return env, nil
}

// scaleOf reads --scale; nil when none is given.
func (f *upFlags) scaleOf() (map[string]serving.Scale, error) { return scalesOf(f.scale) }

// scalesOf reads --scale's values (up's, bench's); nil when none is given.
func scalesOf(values []string) (map[string]serving.Scale, error) {
	var scale map[string]serving.Scale
	for _, v := range values {
		name, sc, err := serving.ParseScaleFlag(v)
		if err != nil {
			return nil, fmt.Errorf("--scale %w", err)
		}
		if scale == nil {
			scale = map[string]serving.Scale{}
		}
		scale[name] = sc
	}
	return scale, nil
}

// options are the plane the up flags start, from the checkout: the flags
// checked (validate) first, then the functions' environment and scales
// against the manifests.
func (f *upFlags) options(g *globals, stateDir string, progress *os.File) (plane.Options, error) {
	if err := f.validate(); err != nil {
		return plane.Options{}, err
	}
	opts, _, err := g.baseOptions(stateDir)
	if err != nil {
		return plane.Options{}, err
	}
	if f.manifests != "" {
		opts.Manifests = f.manifests
	}
	if opts.Env, err = f.envOf(); err != nil {
		return plane.Options{}, err
	}
	if opts.Scale, err = f.scaleOf(); err != nil {
		return plane.Options{}, err
	}
	if f.stableWindow > 0 {
		opts.Windows = serving.WindowsOf(f.stableWindow)
	}
	opts.WatchManifests = f.watchManifests
	if err := plane.CheckOptions(opts); err != nil {
		return plane.Options{}, envFlag(err)
	}
	if len(f.brokers) == 0 {
		opts.BrokerDataDir = filepath.Join(opts.StateDir, plane.BrokerDir)
		opts.BrokerSync = f.brokerSync
	}
	opts.Brokers, opts.BrokerPort, opts.TopicReplicas, opts.TopicMinInsync = f.brokers, f.brokerPort, int16(f.topicReplicas), f.minInsync
	opts.IngressPort, opts.APIPort, opts.DuplicateDelivery, opts.PingEvery = f.ingressPort, f.apiPort, f.duplicateDelivery, f.pingEvery
	opts.Host, opts.TokenFile, opts.Token = f.host, f.tokenFile, os.Getenv(door.EnvToken)
	opts.HoldLimit, opts.GateLimit, opts.Progress = f.holdLimit, f.gateLimit, progress
	orderflow.Wire(&opts)
	if err := f.useDataPlane(g, &opts, progress); err != nil {
		return plane.Options{}, err
	}
	return opts, nil
}

// databases puts every function's stores on --database-url, a schema of
// its own per store, kept for a later --keep-state; what --env gives a
// function wins.
func (f *upFlags) databases(ctx context.Context, opts *plane.Options) (func(), error) {
	if f.databaseURL == "" {
		return func() {}, nil
	}
	schemas, err := scratchdb.Open(ctx, "--database-url", f.databaseURL)
	if err != nil {
		return nil, err
	}
	schemas.Keep("orderflow", !f.keepState)
	env, err := orderflow.DatabaseEnv(opts.FunctionsDir, fnserve.Names(), func(key string) (string, error) { return schemas.URL(ctx, key) })
	if err != nil {
		schemas.Close(ctx)
		return nil, err
	}
	for k, v := range env {
		if _, given := opts.Env[k]; !given {
			opts.Env[k] = v
		}
	}
	return func() { _ = schemas.Close(context.Background()) }, nil
}

// minPingEvery is the shortest --ping-every: the tests fire every 300 ms.
const minPingEvery = 100 * time.Millisecond

// minInterval is the shortest interval of anything a command does again
// and again (reading lag, printing progress, reading manifests): below it
// the command only burns CPU, and its reader's terminal.
const minInterval = 100 * time.Millisecond

// envFlag names the flag in an error about one of --env's variables (not
// its value, which may be a password) or one of --scale's functions: a
// usage error.
func envFlag(err error) error {
	var bad *plane.EnvError
	if errors.As(err, &bad) {
		return fmt.Errorf("--env %s=...: %s", bad.Key, bad.Reason)
	}
	var scale *plane.ScaleError
	if errors.As(err, &scale) {
		return fmt.Errorf("--scale %s: %s", scale.Function, scale.Reason)
	}
	return err
}

// baseOptions are what every topology this command starts shares: the
// checkout's (root's) knative/base and functions, served by this binary,
// state in stateDir made absolute.
func (g *globals) baseOptions(stateDir string) (opts plane.Options, root string, err error) {
	if root, err = g.checkout(); err != nil {
		return opts, "", err
	}
	if opts.Command, err = functionCommand(); err != nil {
		return opts, "", err
	}
	opts.Manifests, opts.FunctionsDir = filepath.Join(root, "knative", "base"), filepath.Join(root, "functions")
	opts.StateDir, err = filepath.Abs(stateDir)
	return opts, root, err
}

// claim takes opts.StateDir for this process and readies it for a run,
// before anything there is deleted or written: the lock first (a second
// `up` on the directory fails at once naming the first; the functions
// inherit it, see plane.Options.StateLock), then the last run's logs
// rotated (never deleted), then, unless --keep-state, the last run's
// databases and broker log removed, then the plane's log opened.
func (f *upFlags) claim(opts *plane.Options) (closeLog func(), err error) {
	lock, err := statedir.AcquireWaiting(opts.StateDir, stateHandover)
	if err != nil {
		return nil, err
	}
	if err := lock.RotateLogs(); err != nil {
		return nil, err
	}
	// A killed run's endpoints name ports nobody serves now.
	if err := lock.Remove(plane.EndpointsFile); err != nil {
		return nil, err
	}
	if f.keepState {
		if err := resumable(opts.StateDir, opts.BrokerDataDir != ""); err != nil {
			return nil, err
		}
	} else if err := lock.Remove("db", plane.BrokerDir); err != nil {
		return nil, err
	}
	logFile, err := openLog(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.Log, opts.StateLock = slog.New(slog.NewJSONHandler(logFile, nil)), lock
	return func() { logFile.Close() }, nil
}

// stateHandover is how long a start waits for the processes of a run that
// ended without them (functions stopping after their plane was killed).
const stateHandover = 30 * time.Second

// resumable refuses --keep-state on the embedded broker when the last
// run's databases have no broker log beside them (it ran on --brokers, or
// on an orderflow that kept the broker in memory): they would describe
// events the broker does not have.
func resumable(stateDir string, embedded bool) error {
	if !embedded {
		return nil
	}
	dbs, _ := os.ReadDir(filepath.Join(stateDir, "db"))
	_, err := os.Stat(filepath.Join(stateDir, plane.BrokerDir, "meta.json"))
	if len(dbs) > 0 && err != nil {
		return fmt.Errorf("--keep-state: %s holds the functions' databases but %s holds no broker log (the last run used --brokers, or kept its broker in memory); run with the same --brokers, or without --keep-state to start afresh",
			filepath.Join(stateDir, "db"), filepath.Join(stateDir, plane.BrokerDir))
	}
	return nil
}

// freshRun prepares a command that starts topologies of its own (faults,
// nemesis, scalebench; bench takes its two steps apart): <state-dir>/<name> locked and emptied but for the last runs'
// logs (rotated), the plane's log in it, and the options every topology of
// the run shares. root is the checkout.
func (g *globals) freshRun(name string) (base plane.Options, root string, closeLog func(), err error) {
	if base, root, err = g.baseOptions(filepath.Join(g.stateDir, name)); err != nil {
		return base, "", nil, err
	}
	if closeLog, err = claimFresh(&base); err != nil {
		return base, "", nil, err
	}
	return base, root, closeLog, nil
}

// claimFresh is freshRun's taking of base.StateDir, for a command whose
// Complete found the options already: locked, emptied but for the last
// runs' logs (rotated), the plane's log opened in it.
func claimFresh(base *plane.Options) (closeLog func(), err error) {
	lock, err := statedir.Acquire(base.StateDir)
	if err != nil {
		return nil, err
	}
	if err := lock.RotateLogs(); err != nil {
		return nil, err
	}
	keep := []string{"logs"}
	for i := 1; i <= statedir.KeptLogs; i++ {
		keep = append(keep, fmt.Sprintf("logs.%d", i))
	}
	if err := lock.Clear(keep...); err != nil {
		return nil, err
	}
	logFile, err := openLog(base.StateDir)
	if err != nil {
		return nil, err
	}
	base.Log = slog.New(slog.NewJSONHandler(logFile, nil))
	return func() { logFile.Close() }, nil
}

func openLog(stateDir string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(stateDir, "logs"), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(stateDir, "logs", "plane.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// UpOptions are `orderflow up`'s, in kubectl's shape (as ReplayOptions):
// the flags as given, Validate checks them before anything is read or
// started, Complete makes the plane's options from the checkout, Run
// takes the state directory, starts the plane and keeps it up until
// interrupted.
type UpOptions struct {
	Up upFlags

	// Completed.
	plane plane.Options
}

// newUpOptions are up's defaults where they differ from the up flags'
// zero values (demo and soak keep those).
func newUpOptions() *UpOptions {
	return &UpOptions{Up: upFlags{watchManifests: 10 * time.Second}}
}

func (o *UpOptions) addFlags(cmd *cobra.Command) { o.Up.register(cmd) }

// Validate checks the up flags alone.
func (o *UpOptions) Validate() error { return o.Up.validate() }

// Complete makes the plane's options from the checkout, the state
// directory and the flags.
func (o *UpOptions) Complete(g *globals) (err error) {
	o.plane, err = o.Up.options(g, g.stateDir, os.Stdout)
	return err
}

// Run takes the state directory (waiting for a run ending there), starts
// the plane, prints its endpoints and keeps it up until interrupted.
func (o *UpOptions) Run(ctx context.Context) error {
	closeLog, err := o.Up.claim(&o.plane)
	if err != nil {
		return err
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	closeDB, err := o.Up.databases(ctx, &o.plane)
	if err != nil {
		return err
	}
	defer closeDB()
	fmt.Println("starting orderflow...")
	start := time.Now()
	p, err := plane.Up(ctx, o.plane)
	if err != nil {
		var unreachable *broker.UnreachableError
		if len(o.Up.brokers) > 0 && errors.As(err, &unreachable) {
			unreachable.Setting = "--brokers"
		}
		if errors.Is(err, broker.ErrTooFewBrokers) {
			return fmt.Errorf("--topic-replicas %d: %w", o.Up.topicReplicas, err)
		}
		return err
	}
	printEndpoints(os.Stdout, p.Endpoints(), time.Since(start))
	<-ctx.Done()
	fmt.Println("\nstopping: sources, then functions (flushing their outboxes), then Kafka...")
	return p.Close()
}

func newUp(g *globals) *cobra.Command {
	o := newUpOptions()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the whole topology and keep it running until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

func printEndpoints(w io.Writer, e plane.Endpoints, took time.Duration) {
	kind := "external"
	if e.Embedded {
		kind = "embedded"
	}
	fmt.Fprintf(w, "\norderflow is up (%s)\n", took.Round(time.Millisecond))
	fmt.Fprintf(w, "  kafka (%s):  %s\n", kind, strings.Join(e.Brokers, ","))
	fmt.Fprintf(w, "  place orders:    POST a CloudEvent to %s   (or: orderflow place --sku sku-tee:2)\n", e.Sinks["commands"])
	for _, n := range slices.Sorted(maps.Keys(e.Functions)) {
		fmt.Fprintf(w, "  function %-10s %s\n", n+":", e.Functions[n])
	}
	// The token is never printed: stdout ends up in scrollback and CI
	// logs. The page takes it from the URL's fragment, so the command
	// below builds that URL from the file when it runs.
	if e.TokenRequired {
		fmt.Fprintf(w, "  doors closed:    ingress and API want Authorization: Bearer <the token in %s>\n", e.TokenFile)
	}
	fmt.Fprintf(w, "  dashboard:       %s/dashboard/   (its token is in %s)\n", e.API, e.TokenFile)
	fmt.Fprintf(w, "    open it:       xdg-open \"%s/dashboard/#token=$(cat %s)\"\n", e.API, shellQuote(e.TokenFile))
	fmt.Fprintf(w, "  analytics JSON:  curl %s/api/analytics\n", e.API)
	fmt.Fprintf(w, "  one order:       curl %s/api/orders/<id>   (or: orderflow order <id>)\n", e.API)
	fmt.Fprintf(w, "  dead letters:    orderflow dlq\n")
	fmt.Fprintf(w, "  metrics:         curl %s/metrics   (the plane; each function at <its url>/metrics)\n", e.API)
	fmt.Fprintf(w, "  consumer lag:    orderflow lag --watch\n")
	fmt.Fprintf(w, "  logs:            %s/logs/\n", e.StateDir)
	fmt.Fprintln(w, "press Ctrl-C to stop")
}

// shellQuote quotes s for a POSIX shell, whatever it holds.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newFunction() *cobra.Command {
	return &cobra.Command{
		Use:    "function NAME",
		Short:  "Serve one function with the func-go runtime (what `up` starts per function)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return fnserve.Serve(args[0])
		},
	}
}

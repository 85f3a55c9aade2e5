// Package broker gives the local plane its Kafka: an embedded
// Kafka-protocol broker in-process (github.com/twmb/franz-go/pkg/kfake), or
// the bootstrap servers of a real cluster. Whichever it is, the rest of the
// plane talks to it only through sarama with a config fit for real Kafka
// (SaramaConfig), creates topics only from the KafkaTopic manifests
// (EnsureTopics) and never relies on auto-creation.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Option configures Start.
type Option func(*options)

type options struct {
	ports      []int
	brokers    int
	dataDir    string
	syncWrites bool
	bootstrap  []string
	kfakeOpts  []kfake.Opt
	warn       func(string)
}

// WithPort fixes the port of the (single) embedded broker, so that other
// processes (functions, kcat) can be pointed at a known address.
func WithPort(port int) Option { return WithPorts(port) }

// WithPorts fixes the ports of the embedded brokers; their number sets the
// number of brokers.
func WithPorts(ports ...int) Option { return func(o *options) { o.ports = ports } }

// WithBrokers sets how many embedded brokers to run (default 1). More than
// one lets tests exercise replication factors above 1.
func WithBrokers(n int) Option { return func(o *options) { o.brokers = n } }

// WithDataDir persists the embedded broker's log and offsets in dir and
// reloads them on the next Start, so topics (the audit log) survive a
// restart of the local plane.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithSyncWrites makes the embedded broker with a data directory sync
// every write (a produced batch, a committed offset) to disk before it
// answers: an acknowledged record survives a crash of the process and of
// the machine. Without it kfake leaves writes to the page cache, as
// Kafka's default does on a replicated cluster, and syncs on segment roll
// and on Close.
func WithSyncWrites() Option { return func(o *options) { o.syncWrites = true } }

// WithWarnings hands the embedded broker's warnings and errors to warn,
// one line each: a log truncated at a corrupt entry when it is loaded (the
// records after it are gone), a write to its data directory that failed.
// Without it kfake drops them, and such a loss would pass unseen.
func WithWarnings(warn func(msg string)) Option { return func(o *options) { o.warn = warn } }

// kfakeLogger passes kfake's warnings and errors on; its info and debug
// lines (every request) are left out.
type kfakeLogger func(string)

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	if level == kfake.LogLevelError || level == kfake.LogLevelWarn {
		l(fmt.Sprintf(format, args...))
	}
}

// WithBootstrapServers uses an existing Kafka cluster instead of starting
// one; the embedded options are then ignored.
func WithBootstrapServers(servers ...string) Option {
	return func(o *options) { o.bootstrap = servers }
}

// WithKfakeOptions passes options straight to the embedded broker (for
// example kfake.EnableSASL and kfake.TLS, to test client security
// settings against a broker that demands them).
func WithKfakeOptions(opts ...kfake.Opt) Option {
	return func(o *options) { o.kfakeOpts = append(o.kfakeOpts, opts...) }
}

// Cluster is a running Kafka, embedded or external.
type Cluster struct {
	servers []string
	dataDir string
	kopts   []kfake.Opt // how the embedded broker was started, for Restart

	mu   sync.Mutex
	fake *kfake.Cluster
}

// Start starts the embedded broker, or, with WithBootstrapServers, wraps
// the given cluster without contacting it (use WaitReady for that).
func Start(opts ...Option) (*Cluster, error) {
	o := options{brokers: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.bootstrap) > 0 {
		for _, s := range o.bootstrap {
			if strings.TrimSpace(s) == "" {
				return nil, errors.New("broker: empty bootstrap server address")
			}
		}
		return &Cluster{servers: o.bootstrap}, nil
	}
	if o.brokers < 1 {
		return nil, fmt.Errorf("broker: need at least 1 broker, got %d", o.brokers)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(o.brokers)}
	if len(o.ports) > 0 {
		kopts = append(kopts, kfake.Ports(o.ports...))
	}
	if o.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.dataDir))
		if o.syncWrites {
			kopts = append(kopts, kfake.SyncWrites())
		}
	}
	// No kfake.AllowAutoTopicCreation: a topic that is not declared in
	// the manifests must fail here exactly as on a cluster with
	// auto.create.topics.enable=false.
	if o.warn != nil {
		kopts = append(kopts, kfake.WithLogger(kfakeLogger(o.warn)))
	}
	kopts = append(kopts, o.kfakeOpts...)
	fake, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start embedded kafka (ports %v): %w", o.ports, err)
	}
	return &Cluster{servers: fake.ListenAddrs(), fake: fake, dataDir: o.dataDir, kopts: kopts}, nil
}

// Restart stops the embedded broker, waits down, and starts it again from
// its data directory on the same ports, as a broker process restarted in
// place: clients see their connections drop and reconnect to the same
// addresses; what it acknowledged before the stop is there after it
// (written out on Close). Without a data directory a restart would lose
// every record, so it is refused; an external cluster is not ours to
// restart.
func (c *Cluster) Restart(ctx context.Context, down time.Duration) error {
	if c.fake == nil {
		return errors.New("broker: restart: an external Kafka is restarted by whoever runs it (scripts/kafka.sh)")
	}
	if c.dataDir == "" {
		return errors.New("broker: restart: the embedded broker has no data directory; it would come back empty")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ports := make([]int, 0, len(c.servers))
	for _, addr := range c.servers {
		_, port, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return fmt.Errorf("broker: restart: listen address %q: no port", addr)
		}
		ports = append(ports, n)
	}
	c.fake.Close()
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	opts := append(append([]kfake.Opt(nil), c.kopts...), kfake.Ports(ports...))
	// The ports were just released: another process may take one in the
	// gap (rare on loopback); retry for a while rather than give up at once.
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		var fake *kfake.Cluster
		if fake, err = kfake.NewCluster(opts...); err == nil {
			c.fake = fake
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("broker: restart on ports %v: %w", ports, err)
}

// BootstrapServers returns the addresses clients connect to.
func (c *Cluster) BootstrapServers() []string { return append([]string(nil), c.servers...) }

// Embedded reports whether the broker runs in this process.
func (c *Cluster) Embedded() bool { return c.kopts != nil }

// Close stops the embedded broker; it does nothing for an external one.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fake != nil {
		c.fake.Close()
	}
}

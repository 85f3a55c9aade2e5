package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
)

// LagOptions are `orderflow lag`'s, in kubectl's shape (as ReplayOptions):
// the flags as given, Validate refuses values that cannot work before
// anything is read, Complete finds the consumer groups in the manifests
// and, without --brokers, the running up's Kafka, Run reads (and with
// --watch reads again).
type LagOptions struct {
	Brokers   []string
	Manifests string
	Watch     bool
	Interval  time.Duration
	JSON      bool
	PerSource bool

	// Completed.
	groups   sourceGroupSet
	fromUp   bool   // no --brokers: the running up's Kafka, read again when it moves
	stateDir string // the running up's
	Out      io.Writer
	Errs     io.Writer
}

func (o *LagOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().Var(brokerList(&o.Brokers), "brokers", "Kafka bootstrap servers (default: the running up's)")
	cmd.Flags().StringVar(&o.Manifests, "manifests", "", "kustomization whose KafkaSources to read (default <root>/knative/base)")
	cmd.Flags().BoolVar(&o.Watch, "watch", false, "keep reading, every --interval, until interrupted")
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "time between readings with --watch")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "one JSON array of partitions per reading")
	_ = cmd.Flags().MarkHidden("json") // -o json; kept for a release for the scripts that use it
	cmd.Flags().BoolVar(&o.PerSource, "sources", false, "one line per KafkaSource (totals) instead of per partition")
}

// Validate refuses an interval that cannot pace the readings.
func (o *LagOptions) Validate() error {
	if o.Interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", o.Interval)
	}
	if o.Interval < minInterval {
		return fmt.Errorf("--interval %s: want at least %s", o.Interval, minInterval)
	}
	return nil
}

// Complete lists the consumer groups of the manifests' KafkaSources and,
// without --brokers, takes the running up's Kafka.
func (o *LagOptions) Complete(g *globals, out, errs io.Writer) (err error) {
	o.Out, o.Errs, o.stateDir = out, errs, g.stateDir
	o.JSON = o.JSON || g.json()
	if o.groups, err = sourceGroups(g, o.Manifests); err != nil {
		return err
	}
	if o.fromUp = len(o.Brokers) == 0; o.fromUp {
		ep, err := plane.ReadEndpoints(o.stateDir)
		if err != nil {
			return fmt.Errorf("%w; or give a Kafka with --brokers", err)
		}
		o.Brokers = ep.Brokers
	}
	return nil
}

// Run prints the lag once or, with --watch, every --interval until
// interrupted; with --watch a Kafka that does not answer is said once and
// tried again.
func (o *LagOptions) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := broker.NewClient(o.Brokers, "orderflow-lag")
	if err != nil {
		return err
	}
	defer func() { client.Close() }()
	var prev map[string]int64
	lastErr := ""
	for {
		parts, err := lag.Read(ctx, client, o.groups.groups)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !o.Watch:
			return err
		case err != nil:
			// Said once, not every interval, until it changes.
			if err.Error() != lastErr {
				fmt.Fprintf(o.Errs, "lag: %v; trying again every %s\n", err, o.Interval)
				lastErr = err.Error()
			}
			client = o.reconnect(client)
		default:
			lastErr = ""
			if o.JSON {
				if err := json.NewEncoder(o.Out).Encode(parts); err != nil {
					return err
				}
			} else {
				printLag(o.Out, o.groups, parts, prev, o.PerSource, o.Watch)
			}
			if !o.Watch {
				return nil
			}
			prev = lagByRow(parts)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

// reconnect follows the running up to its Kafka's new address when it
// has one (an up restarted meanwhile), else keeps client.
func (o *LagOptions) reconnect(client sarama.Client) sarama.Client {
	if !o.fromUp {
		return client
	}
	ep, err := plane.ReadEndpoints(o.stateDir)
	if err != nil || slices.Equal(ep.Brokers, o.Brokers) {
		return client
	}
	next, err := broker.NewClient(ep.Brokers, "orderflow-lag")
	if err != nil {
		return client
	}
	client.Close()
	o.Brokers = ep.Brokers
	return next
}

func newLag(g *globals) *cobra.Command {
	o := &LagOptions{}
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Consumer lag of every KafkaSource, per partition: against the running `up`, or any Kafka with --brokers",
		Long: `lag reads, for each KafkaSource of the manifests, its consumer group's committed
offset and the end of each partition of its topics, from Kafka itself, and prints
how many records each group still has to read. Without --brokers it asks the Kafka
of the running ` + "`orderflow up`" + ` (its state directory); with --brokers, any Kafka
(security from ORDERFLOW_KAFKA_* as for up). --watch reprints every --interval with
the change since the previous reading.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			complete := func() error { return o.Complete(g, cmd.OutOrStdout(), cmd.ErrOrStderr()) }
			return runOptions(o.Validate, complete, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

type sourceGroupSet struct {
	groups []lag.Group
	source map[string]string // consumer group -> KafkaSource
}

// sourceGroups lists the consumer group and topics of every KafkaSource of
// the manifests.
func sourceGroups(g *globals, dir string) (sourceGroupSet, error) {
	if dir == "" {
		root, err := g.checkout()
		if err != nil {
			return sourceGroupSet{}, err
		}
		dir = filepath.Join(root, "knative", "base")
	}
	set, err := manifests.Load(dir)
	if err != nil {
		return sourceGroupSet{}, err
	}
	out := sourceGroupSet{source: map[string]string{}}
	for _, s := range set.Sources {
		if s.ConsumerGroup == "" {
			return out, fmt.Errorf("KafkaSource %s/%s has no spec.consumerGroup: Knative would make one up, so lag cannot name it", s.Namespace, s.Name)
		}
		out.groups = append(out.groups, lag.Group{Name: s.ConsumerGroup, Topics: s.Topics})
		out.source[s.ConsumerGroup] = s.Name
	}
	if len(out.groups) == 0 {
		return out, errors.New(dir + ": no KafkaSource")
	}
	return out, nil
}

func rowKey(p lag.Partition) string {
	return fmt.Sprintf("%s\x00%s\x00%d", p.Group, p.Topic, p.Partition)
}

func lagByRow(parts []lag.Partition) map[string]int64 {
	out := make(map[string]int64, len(parts))
	for _, p := range parts {
		out[rowKey(p)] = p.Lag
	}
	return out
}

func printLag(w io.Writer, set sourceGroupSet, parts []lag.Partition, prev map[string]int64, perSource, watch bool) {
	if watch {
		fmt.Fprintf(w, "\n%s\n", time.Now().Format("15:04:05"))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	change := func(now, before int64, known bool) string {
		if !known {
			return ""
		}
		return fmt.Sprintf("%+d", now-before)
	}
	if perSource {
		totals, before := map[string]int64{}, map[string]int64{}
		for _, p := range parts {
			totals[p.Group] += p.Lag
			before[p.Group] += prev[rowKey(p)]
		}
		fmt.Fprintln(tw, "SOURCE\tGROUP\tLAG\tCHANGE\t")
		for _, g := range set.groups {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t\n", set.source[g.Name], g.Name, totals[g.Name], change(totals[g.Name], before[g.Name], prev != nil))
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "SOURCE\tGROUP\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tCHANGE\t")
	var total int64
	for _, p := range parts {
		committed := fmt.Sprint(p.Committed)
		if p.Committed < 0 {
			committed = "-"
		}
		before, known := prev[rowKey(p)]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t\n", set.source[p.Group], p.Group, p.Topic, p.Partition, committed, p.End, p.Lag, change(p.Lag, before, known))
		total += p.Lag
	}
	tw.Flush()
	fmt.Fprintf(w, "total lag %d records over %d partitions of %d consumer groups\n", total, len(parts), len(set.groups))
}

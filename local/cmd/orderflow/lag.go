package main

import (
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

	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
)

func newLag(g *globals) *cobra.Command {
	var (
		brokers   []string
		manifest  string
		watch     bool
		interval  time.Duration
		asJSON    bool
		perSource bool
	)
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
			if interval <= 0 {
				return fmt.Errorf("--interval %s: must be positive", interval)
			}
			groups, err := sourceGroups(g, manifest)
			if err != nil {
				return err
			}
			// Without --brokers, the running up's Kafka: read again when it
			// stops answering, since an up restarted meanwhile has a new
			// address.
			fromUp := len(brokers) == 0
			if fromUp {
				ep, err := plane.ReadEndpoints(g.stateDir)
				if err != nil {
					return fmt.Errorf("%w; or give a Kafka with --brokers", err)
				}
				brokers = ep.Brokers
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			client, err := broker.NewClient(brokers, "orderflow-lag")
			if err != nil {
				return err
			}
			defer func() { client.Close() }()
			out := cmd.OutOrStdout()
			var prev map[string]int64
			lastErr := ""
			for {
				parts, err := lag.Read(ctx, client, groups.groups)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					if !watch {
						return err
					}
					// Said once, not every interval, until it changes.
					if err.Error() != lastErr {
						fmt.Fprintf(cmd.ErrOrStderr(), "lag: %v; trying again every %s\n", err, interval)
						lastErr = err.Error()
					}
					if ep, rerr := plane.ReadEndpoints(g.stateDir); fromUp && rerr == nil && !slices.Equal(ep.Brokers, brokers) {
						if next, cerr := broker.NewClient(ep.Brokers, "orderflow-lag"); cerr == nil {
							client.Close()
							client, brokers = next, ep.Brokers
						}
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(interval):
					}
					continue
				}
				lastErr = ""
				if asJSON || g.json() {
					if err := json.NewEncoder(out).Encode(parts); err != nil {
						return err
					}
				} else {
					printLag(out, groups, parts, prev, perSource, watch)
				}
				if !watch {
					return nil
				}
				prev = lagByRow(parts)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().StringSliceVar(&brokers, "brokers", nil, "Kafka bootstrap servers (default: the running up's)")
	cmd.Flags().StringVar(&manifest, "manifests", "", "kustomization whose KafkaSources to read (default <root>/knative/base)")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep reading, every --interval, until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between readings with --watch")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON array of partitions per reading")
	_ = cmd.Flags().MarkDeprecated("json", "use -o json")
	cmd.Flags().BoolVar(&perSource, "sources", false, "one line per KafkaSource (totals) instead of per partition")
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

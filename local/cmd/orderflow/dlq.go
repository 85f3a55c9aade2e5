package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/activator"
	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/client"
	"orderflow.dev/local/dlq"
	"orderflow.dev/local/topicview"
)

// dlqFlags are the flags every dlq command shares: --brokers and the
// hidden --json, persistent on dlq.
type dlqFlags struct {
	JSON    bool
	Brokers brokersFlag
}

// dlqTarget is what every dlq command completes alike: where its dead
// letters are.
type dlqTarget struct {
	flags *dlqFlags
	plane *plane.Endpoints // the running up's; nil with --brokers
	json  bool             // --json or -o json
}

// complete takes the running up's endpoints, unless --brokers names a
// Kafka, and the output format.
func (t *dlqTarget) complete(g *globals) error {
	t.json = t.flags.JSON || g.json()
	if t.flags.Brokers.set() {
		return nil
	}
	ep, err := plane.ReadEndpoints(g.stateDir)
	if err != nil {
		return fmt.Errorf("%w; or give any Kafka with --brokers", err)
	}
	t.plane = &ep
	return nil
}

// connect reaches the Kafka the dead letters are in.
func (t *dlqTarget) connect() (deadLetters, error) {
	if t.plane == nil {
		kc, err := t.flags.Brokers.client("orderflow-cli")
		if err != nil {
			return deadLetters{}, err
		}
		topics, err := topicview.DeadLetterTopics(kc)
		if err != nil {
			kc.Close()
			return deadLetters{}, err
		}
		return deadLetters{kc: kc, topics: topics}, nil
	}
	kc, err := broker.NewClient(t.plane.Brokers, "orderflow-cli")
	return deadLetters{kc: kc, topics: t.plane.DLQTopics, plane: t.plane}, err
}

// withLetters connects to the Kafka the dead letters are in for do, and
// lets it go after.
func (t *dlqTarget) withLetters(do func(deadLetters) error) error {
	letters, err := t.connect()
	if err != nil {
		return err
	}
	defer letters.kc.Close()
	return do(letters)
}

// DLQListOptions are `orderflow dlq [list]`'s, in kubectl's shape (as
// ReplayOptions): Validate checks --brokers, Complete finds the running
// up unless --brokers is given, Run lists.
type DLQListOptions struct {
	dlqTarget
	Functions []string // only these functions' letters; all when none
}

// Validate refuses a --brokers that is no list of host:port.
func (o *DLQListOptions) Validate() error { return o.flags.Brokers.validate() }

// Complete takes the functions named and where the letters are.
func (o *DLQListOptions) Complete(g *globals, functions []string) error {
	o.Functions = functions
	return o.complete(g)
}

// Run lists the dead letters and, on a local plane, what holds its
// partitions now and what waits in its spool.
func (o *DLQListOptions) Run(ctx context.Context) error {
	return o.withLetters(func(t deadLetters) error { return o.list(ctx, t) })
}

func (o *DLQListOptions) list(ctx context.Context, t deadLetters) error {
	letters, err := t.read(ctx, o.Functions)
	if err != nil {
		return err
	}
	if o.json {
		if letters == nil {
			letters = []dlq.Row{} // [], not null, when there are none
		}
		return printJSON(letters)
	}
	// Holds and the spool are a local plane's (with --brokers there is
	// none: a cluster's dispatcher reports its own in its logs).
	if t.plane != nil {
		if err := printStuck(ctx, *t.plane, o.Functions); err != nil {
			fmt.Fprintf(os.Stderr, "(holds and unsent letters unknown: %v)\n", err)
		}
	}
	if len(letters) == 0 {
		fmt.Println("no dead letters")
		return nil
	}
	return writeLetters(os.Stdout, letters)
}

func newDLQ(g *globals) *cobra.Command {
	flags := &dlqFlags{}
	// dlq and dlq list are one command: one of them runs.
	o := &DLQListOptions{dlqTarget: dlqTarget{flags: flags}}
	list := func(cmd *cobra.Command, args []string) error {
		return runOptions(o.Validate, func() error { return o.Complete(g, args) }, func() error { return o.Run(cmd.Context()) })
	}
	cmd := &cobra.Command{
		Use:   "dlq [FUNCTION...]",
		Short: "Dead letters: list (the default), show, replay, purge",
		Long: `Every function's KafkaSource dead-letters what it could not deliver (refused with
a 4xx, or failing after every retry) to its own topic orderflow.dlq.<function>, with
Knative's knativeerrordest, knativeerrorcode and knativeerrordata extensions, which
these commands decode. The list also shows records holding their partition now and
dead letters kept in the plane's spool. With --brokers they work against any Kafka
holding orderflow's topics. See docs/failure-handling.md.`,
		RunE: list,
	}
	cmd.PersistentFlags().BoolVar(&flags.JSON, "json", false, "print as JSON")
	_ = cmd.PersistentFlags().MarkHidden("json") // -o json; kept for a release for the scripts that use it
	flags.Brokers.register(cmd, true)
	listCmd := &cobra.Command{Use: "list [FUNCTION...]", Short: "List dead letters with the reason each delivery failed", RunE: list}
	cmd.AddCommand(listCmd, newDLQShow(g, flags), newDLQReplay(g, flags), newDLQPurge(g, flags))
	return cmd
}

// writeLetters prints the dead letters as a table. Every cell is made
// printable: a dead letter holds what was refused, and a tab or a newline
// in an event's type would shift the columns (or forge a row).
func writeLetters(out io.Writer, letters []letterRow) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTIME\tORDER\tTYPE\tCODE\tTRIES\tREPLAYS\tREASON")
	for _, l := range letters {
		code := l.Code
		if code == "" {
			code = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", printable(l.ID), l.Time.Format("15:04:05"), printable(l.OrderID),
			printable(strings.TrimPrefix(l.Event.Type(), "dev.orderflow.")), printable(code), l.Attempts(), l.Replays(), printable(l.Reason))
	}
	return w.Flush()
}

// printStuck shows what the running plane holds now and what waits in its
// spool: a partition that does not move is the first thing to know.
func printStuck(ctx context.Context, ep plane.Endpoints, only []string) error {
	want := func(src string) bool {
		if len(only) == 0 {
			return true
		}
		for _, fn := range only {
			if src == fn {
				return true
			}
		}
		return false
	}
	token, err := door.ClientToken(ep.TokenFile)
	if err != nil {
		return err
	}
	var stats map[string]source.Stats
	if err := client.GetJSONWithToken(ctx, ep.API+"/api/sources", token, &stats); err != nil {
		return err
	}
	var unsent map[string][]source.Unsent
	if err := client.GetJSONWithToken(ctx, ep.API+"/api/deadletters/unsent", token, &unsent); err != nil {
		return err
	}
	var ready map[string]activator.State
	if err := client.GetJSONWithToken(ctx, ep.API+"/api/readiness", token, &ready); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	now := time.Now()
	held := false
	for _, fn := range slices.Sorted(maps.Keys(ready)) {
		if g := ready[fn]; !g.Ready && want(fn) {
			if !held {
				fmt.Fprintln(w, "NOT READY: deliveries to these functions wait until they are (up to --ready-hold-limit each)")
				fmt.Fprintln(w, "FUNCTION\tFOR\tHELD\tREASON")
				held = true
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", printable(fn), now.Sub(g.Since).Round(time.Second), g.Held, printable(g.Reason))
		}
	}
	if held {
		fmt.Fprintln(w)
		held = false
	}
	for _, src := range slices.Sorted(maps.Keys(stats)) {
		for _, h := range stats[src].Holds {
			if !want(src) {
				continue
			}
			if !held {
				fmt.Fprintln(w, "HELD NOW: these partitions wait on a failing dead-letter sink (up to --hold-limit, then the spool)")
				fmt.Fprintln(w, "SOURCE\tTOPIC\tPARTITION\tOFFSET\tHELD FOR\tRECORD AGE\tREASON")
				held = true
			}
			age := "-"
			if !h.RecordTime.IsZero() {
				age = now.Sub(h.RecordTime).Round(time.Second).String()
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", printable(src), printable(h.Topic), h.Partition, h.Offset, now.Sub(h.Since).Round(time.Second), age, printable(h.Reason))
		}
	}
	n := 0
	for _, src := range slices.Sorted(maps.Keys(unsent)) {
		if !want(src) {
			continue
		}
		for _, u := range unsent[src] {
			if n == 0 {
				if held {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "UNSENT: the dead-letter sink did not take these; kept in %s, offered to it again\n", filepath.Join(ep.StateDir, plane.SpoolDir))
				fmt.Fprintln(w, "SOURCE\tID\tTYPE\tSPOOLED\tREASON")
			}
			n++
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", printable(src), printable(u.ID), printable(u.Record.EventType), u.Spooled.Local().Format("15:04:05"), printable(u.Reason))
		}
	}
	if held || n > 0 {
		fmt.Fprintln(w)
	}
	return w.Flush()
}

type letterRow = dlq.Row

// deadLetters is where the dlq commands read: the Kafka of the running
// plane (plane set), or any Kafka given by --brokers (plane nil).
type deadLetters struct {
	kc     sarama.Client
	topics map[string]string // function -> dead-letter topic
	plane  *plane.Endpoints
}

func (t deadLetters) read(ctx context.Context, only []string) ([]letterRow, error) {
	return dlq.Read(ctx, t.kc, t.topics, only)
}

func (t deadLetters) find(ctx context.Context, id string) (letterRow, error) {
	return dlq.Find(ctx, t.kc, t.topics, id)
}

// DLQShowOptions are `orderflow dlq show`'s, in kubectl's shape (as
// DLQListOptions).
type DLQShowOptions struct {
	dlqTarget
	ID string
}

// Validate refuses a --brokers that is no list of host:port.
func (o *DLQShowOptions) Validate() error { return o.flags.Brokers.validate() }

// Complete takes the letter's id and where the letters are.
func (o *DLQShowOptions) Complete(g *globals, id string) error {
	o.ID = id
	if _, _, _, err := dlq.ParseID(id); err != nil {
		return err // before a Kafka is looked for: a malformed id is usage
	}
	return o.complete(g)
}

// Run finds the letter and prints it.
func (o *DLQShowOptions) Run(ctx context.Context) error {
	return o.withLetters(func(t deadLetters) error {
		l, err := t.find(ctx, o.ID)
		if err != nil {
			return err
		}
		if o.json {
			return printJSON(l)
		}
		printLetter(l)
		return nil
	})
}

// printRecord shows a record as it was written: key, headers and value
// quoted, so that nothing in them reaches the terminal raw.
func printRecord(o *dlq.Original) {
	fmt.Println("original record:")
	if o.Topic == "" {
		fmt.Println("  topic (not said)")
	} else {
		fmt.Printf("  topic %s\n", printable(o.Topic))
	}
	if o.Key == nil {
		fmt.Println("  key (none)")
	} else {
		fmt.Printf("  key %q\n", o.Key)
	}
	for _, h := range o.Headers {
		fmt.Printf("  header %q = %q\n", h.Key, h.Value)
	}
	if o.Value == nil {
		fmt.Println("  value (null)")
	} else {
		fmt.Printf("  value %q\n", o.Value)
	}
}

// printLetter shows one dead letter: where and why delivery failed, then
// the original event (or record) it carries.
func printLetter(l letterRow) {
	fmt.Printf("dead letter %s (topic %s, partition %d, offset %d, written %s)\n", l.ID, l.Topic, l.Partition, l.Offset, l.Time.Format(time.RFC3339Nano))
	if l.Foreign {
		// No sink wrote it: there is no failure to describe, only the record.
		fmt.Printf("  reason:     %s\n", printable(l.Reason))
		printRecord(l.Original)
		return
	}
	fmt.Printf("  failed at:  %s\n", printable(l.Dest))
	code := l.Code
	switch {
	case code == "" && strings.HasPrefix(l.PlaneError, "cannot "):
		code = "not sent"
	case code == "":
		code = "no response"
	}
	fmt.Printf("  status:     %s after %d attempt(s), replayed %d time(s)\n", printable(code), l.Attempts(), l.Replays())
	fmt.Printf("  reason:     %s\n", printable(l.Reason))
	if l.Body != "" {
		fmt.Printf("  response:   %s\n", printable(strings.TrimSpace(l.Body)))
	}
	if o := l.Original; o != nil {
		fmt.Printf("  carried as: the original record, because %s\n", printable(l.AsRecord))
		printRecord(o)
		return
	}
	fmt.Println("original event:")
	e := l.Event
	fmt.Printf("  id %s\n  type %s\n  source %s\n  time %s\n", printable(e.ID()), printable(e.Type()), printable(e.Source()), e.Time().Format(time.RFC3339Nano))
	if ct := e.DataContentType(); ct != "" {
		fmt.Printf("  datacontenttype %s\n", printable(ct))
	}
	var names []string
	for k := range e.Extensions() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasPrefix(k, "knativeerror") {
			continue
		}
		fmt.Printf("  %s %s\n", printable(k), printable(fmt.Sprint(e.Extensions()[k])))
	}
	var pretty any
	if json.Unmarshal(e.Data(), &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "  ", "  ")
		fmt.Printf("  data %s\n", b)
	} else {
		fmt.Printf("  data %q\n", e.Data())
	}
}

func newDLQShow(g *globals, flags *dlqFlags) *cobra.Command {
	o := &DLQShowOptions{dlqTarget: dlqTarget{flags: flags}}
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter: the original event, the error decoded, the attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g, args[0]) }, func() error { return o.Run(cmd.Context()) })
		},
	}
}

// DLQReplayOptions are `orderflow dlq replay`'s, in kubectl's shape.
type DLQReplayOptions struct {
	All        bool
	Functions  []string
	To         string
	MaxReplays int
	IDs        []string
	// OnCluster: the letters are read from a Kafka given by --brokers,
	// where the default --to is topic.
	OnCluster bool
}

// Complete fills --to's default: destination locally, topic against a
// cluster's Kafka (its destinations are its own addresses, seldom
// reachable from here).
func (o *DLQReplayOptions) Complete(ids []string, onCluster bool) {
	o.IDs, o.OnCluster = ids, onCluster
	if o.To == "" {
		o.To = dlq.ToDestination
		if onCluster {
			o.To = dlq.ToTopic
		}
	}
}

// Validate refuses what cannot be replayed, before Kafka is read.
func (o *DLQReplayOptions) Validate() error {
	switch {
	case o.To != dlq.ToDestination && o.To != dlq.ToTopic:
		return fmt.Errorf("--to %q: want destination or topic", o.To)
	case o.MaxReplays < 1:
		return fmt.Errorf("--max-replays %d: must be at least 1", o.MaxReplays)
	case !o.All && len(o.IDs) == 0:
		return errors.New("name the dead letters to replay (IDs from orderflow dlq list), or pass --all")
	case o.All && len(o.IDs) > 0:
		return errors.New("--all replays every dead letter; it cannot go with IDs")
	case !o.All && len(o.Functions) > 0:
		return errors.New("--function chooses among all dead letters: it goes with --all")
	}
	return nil
}

// replayed is one letter's fate, as -o json prints it.
type replayed struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId,omitempty"`
	To      string `json:"to"`
	Error   string `json:"error,omitempty"`
}

// Run replays the letters and reports each; a letter not replayed fails
// the command (exit 3: the replay could not be done, nothing was checked).
func (o *DLQReplayOptions) Run(ctx context.Context, t deadLetters, out io.Writer, asJSON bool) error {
	var letters []letterRow
	var err error
	if o.All {
		if letters, err = t.read(ctx, o.Functions); err != nil {
			return err
		}
	} else {
		for _, id := range o.IDs {
			l, err := t.find(ctx, id)
			if err != nil {
				return err
			}
			letters = append(letters, l)
		}
	}
	c, err := client.New(15 * time.Second)
	if err != nil {
		return err
	}
	var producer sarama.SyncProducer
	if o.To == dlq.ToTopic {
		if producer, err = sarama.NewSyncProducerFromClient(t.kc); err != nil {
			return err
		}
		defer producer.Close()
	}
	r := dlq.Replayer{HTTP: c, Producer: producer, MaxReplays: o.MaxReplays}
	var rows []replayed
	failed := 0
	for _, l := range letters {
		row := replayed{ID: l.ID, OrderID: l.OrderID, To: o.To}
		if err := r.Replay(ctx, l.Letter, o.To); err != nil {
			failed++
			row.Error = err.Error()
		}
		rows = append(rows, row)
		if !asJSON {
			if row.Error != "" {
				fmt.Fprintf(out, "%s  %s  NOT replayed: %s\n", printable(row.ID), printable(row.OrderID), printable(row.Error))
			} else {
				fmt.Fprintf(out, "%s  %s  replayed to %s\n", printable(row.ID), printable(row.OrderID), o.To)
			}
		}
	}
	if asJSON {
		if rows == nil {
			rows = []replayed{}
		}
		if err := printJSONTo(out, rows); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "replayed %d, failed %d; the letters stay in the dead-letter topic until orderflow dlq purge\n", len(rows)-failed, failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d dead letter(s) not replayed", failed)
	}
	return nil
}

func newDLQReplay(g *globals, flags *dlqFlags) *cobra.Command {
	o := &DLQReplayOptions{}
	cmd := &cobra.Command{
		Use:   "replay [ID...]",
		Short: "Send dead letters again, once the cause is fixed",
		Long: `replay sends each dead letter's original event again, its id unchanged (a consumer
that did process it changes nothing). --to destination (the default) POSTs it to
where delivery failed, so only that function sees it again; --to topic writes it
back to its topic for every consumer group (a letter carrying the original record
writes that record back byte for byte). With --brokers the default is --to topic.
An event replayed --max-replays times and dead-lettered again is refused: another
replay would only loop. See docs/failure-handling.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("to") && o.To == "" { // an unset variable, not the default
				return usage(errors.New(`--to "": want destination or topic`))
			}
			o.Complete(args, flags.Brokers.set())
			if err := o.Validate(); err != nil {
				return usage(err)
			}
			where := dlqTarget{flags: flags}
			if err := where.complete(g); err != nil {
				return err
			}
			return where.withLetters(func(t deadLetters) error { return o.Run(cmd.Context(), t, cmd.OutOrStdout(), g.json()) })
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "replay every dead letter (of --function only, if given)")
	cmd.Flags().StringSliceVar(&o.Functions, "function", nil, "with --all: only these functions' dead letters")
	cmd.Flags().StringVar(&o.To, "to", "", "destination (POST to the function that failed; the default) or topic (write back to the source topic; the default with --brokers)")
	cmd.Flags().IntVar(&o.MaxReplays, "max-replays", 3, "refuse events already replayed this many times")
	return cmd
}

// DLQPurgeOptions are `orderflow dlq purge`'s, in kubectl's shape (as
// DLQListOptions).
type DLQPurgeOptions struct {
	dlqTarget
	Function string
	Yes      bool
	Through  string // a letter's id: delete up to and including it

	// Completed.
	throughPartition int32
	throughOffset    int64
}

// Validate refuses a --brokers that is no list of host:port and a
// --through that is no dead letter of the function.
func (o *DLQPurgeOptions) Validate() error {
	if err := o.flags.Brokers.validate(); err != nil {
		return err
	}
	if o.Through == "" {
		return nil
	}
	fn, _, _, err := dlq.ParseID(o.Through)
	if err != nil {
		return fmt.Errorf("--through: %w", err)
	}
	if fn != o.Function {
		return fmt.Errorf("--through %s is a dead letter of %s, not %s", o.Through, fn, o.Function)
	}
	return nil
}

// Complete takes --through's partition and offset and where the letters
// are.
func (o *DLQPurgeOptions) Complete(g *globals) error {
	if o.Through != "" {
		var err error
		if _, o.throughPartition, o.throughOffset, err = dlq.ParseID(o.Through); err != nil {
			return fmt.Errorf("--through: %w", err)
		}
	}
	return o.complete(g)
}

// Run counts the letters to delete and, with --yes, deletes them.
func (o *DLQPurgeOptions) Run(ctx context.Context) error {
	return o.withLetters(func(t deadLetters) error { return o.purge(ctx, t) })
}

func (o *DLQPurgeOptions) purge(ctx context.Context, t deadLetters) error {
	topic, ok := t.topics[o.Function]
	if !ok {
		return dlq.NoTopicFor(o.Function, t.topics)
	}
	upTo, err := o.upTo(t.kc, topic)
	if err != nil {
		return err
	}
	letters, err := t.read(ctx, []string{o.Function})
	if err != nil {
		return err
	}
	n := 0
	for _, l := range letters {
		if end, ok := upTo[l.Partition]; ok && l.Offset < end {
			n++
		}
	}
	if !o.Yes {
		return fmt.Errorf("this deletes %d dead letter(s) of %s for good; add --yes", n, o.Function)
	}
	admin, err := sarama.NewClusterAdminFromClient(t.kc)
	if err != nil {
		return err
	}
	if err := admin.DeleteRecords(topic, upTo); err != nil {
		return fmt.Errorf("deleting from %s: %w", topic, err)
	}
	if o.json {
		return printJSON(struct {
			Function string `json:"function"`
			Purged   int    `json:"purged"`
		}{o.Function, n})
	}
	fmt.Printf("purged %d dead letter(s) of %s\n", n, o.Function)
	return nil
}

// upTo is the offset, per partition of topic, before which records go:
// past --through in its partition, or every partition's end.
func (o *DLQPurgeOptions) upTo(kc sarama.Client, topic string) (map[int32]int64, error) {
	if o.Through != "" {
		return map[int32]int64{o.throughPartition: o.throughOffset + 1}, nil
	}
	parts, err := kc.Partitions(topic)
	if err != nil {
		return nil, err
	}
	upTo := map[int32]int64{}
	for _, p := range parts {
		end, err := kc.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		upTo[p] = end
	}
	return upTo, nil
}

func newDLQPurge(g *globals, flags *dlqFlags) *cobra.Command {
	o := &DLQPurgeOptions{dlqTarget: dlqTarget{flags: flags}}
	cmd := &cobra.Command{
		Use:   "purge FUNCTION [--through ID] --yes",
		Short: "Delete a function's dead letters (all of them, or up to and including one)",
		Long: `purge deletes records from the start of a function's dead-letter topic (Kafka's
DeleteRecords): all of them, or with --through only those up to and including
that letter in its partition. Records cannot be deleted from the middle of a
topic, so replay what you need first. It is Kafka's own deletion, not a marker
this command would remember: every reader of the topic (kcat, the dashboard,
another operator) sees the letters gone, and the broker frees their space.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Function = args[0]
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "really delete")
	cmd.Flags().StringVar(&o.Through, "through", "", "delete up to and including this dead letter (in its partition)")
	return cmd
}

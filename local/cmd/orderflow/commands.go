package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/local/client"
	"orderflow.dev/local/topicview"
	"orderflow.dev/shared/events"
)

func newPlace(g *globals) *cobra.Command {
	var (
		id, customer, email, token, currency string
		shipTo                               string
		skus                                 []string
		wait, noWait                         bool
		timeout                              time.Duration
		kf                                   brokersFlag
	)
	cmd := &cobra.Command{
		Use:   "place --sku SKU:QTY [--sku SKU:QTY...]",
		Short: "Place one order through the orders KafkaSink and follow it to its outcome",
		Example: `  orderflow place --sku sku-tee:2 --sku sku-mug:1
  orderflow place --sku sku-lamp:9 --token tok_declined --no-wait
  orderflow place --sku sku-hoodie:1 --ship-to NL`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lines, err := parseLines(skus)
			if err != nil {
				return err
			}
			if id == "" {
				id = "ord-" + uuid.NewString()[:8]
			}
			order := events.PlaceOrderData{OrderID: id, CustomerID: customer, Email: email, Currency: currency, PaymentToken: token, Lines: lines,
				ShippingCountry: shipTo}
			// Check the command against its schema here, so a bad flag is a
			// clear error now rather than a dead letter later.
			raw, _ := json.Marshal(order)
			if _, err := events.Decode(events.PlaceOrder, raw); err != nil {
				return fmt.Errorf("invalid order: %w", flagName(err))
			}
			if kf.set() {
				return placeInKafka(cmd.Context(), &kf, order, wait && !noWait, timeout)
			}
			ep, c, err := g.running(15 * time.Second)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, err := c.Place(ctx, ep.Sinks["commands"], order)
			if err != nil {
				return err
			}
			fmt.Printf("placed %s (event %s) into Kafka\n", id, e.ID())
			if !wait || noWait {
				return nil
			}
			view, err := waitTerminal(ctx, c, func() map[string]string {
				// Read again on every try: an up restarted meanwhile has
				// its functions on new ports.
				if now, err := plane.ReadEndpoints(g.stateDir); err == nil {
					return now.Functions
				}
				return ep.Functions
			}, id, timeout)
			if err != nil {
				return err
			}
			printOrder(view)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "order id (default: a new ord-xxxxxxxx); placing the same id again is idempotent")
	cmd.Flags().StringArrayVar(&skus, "sku", nil, "a line as SKU:QUANTITY, e.g. sku-tee:2 (repeatable, at least one)")
	cmd.Flags().StringVar(&customer, "customer", "cus-cli", "customer id")
	cmd.Flags().StringVar(&email, "email", "customer@example.org", "customer email for the notification")
	cmd.Flags().StringVar(&token, "token", "tok_visa", "payment token (tok_declined is declined by the simulator)")
	cmd.Flags().StringVar(&currency, "currency", "EUR", "ISO 4217 currency of the catalog")
	cmd.Flags().StringVar(&shipTo, "ship-to", "", "destination country, ISO 3166-1 alpha-2; it decides the tax (default: the shop's home country)")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait for the order's outcome")
	_ = cmd.Flags().MarkDeprecated("wait", "it is the default; use --no-wait to return at once")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the order is in Kafka, without waiting for its outcome")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the outcome")
	kf.register(cmd, false)
	return cmd
}

// running reads the endpoints of the orderflow `up` started in the state
// directory and a client for them, with a per-request timeout, that
// presents the plane's token to its doors.
func (g *globals) running(timeout time.Duration) (plane.Endpoints, *client.Client, error) {
	ep, err := plane.ReadEndpoints(g.stateDir)
	if err != nil {
		return ep, nil, err
	}
	token, err := door.ClientToken(ep.TokenFile)
	if err != nil {
		return ep, nil, err
	}
	c, err := client.NewWithToken(timeout, token, ep.Ingress, ep.API)
	return ep, c, err
}

// parseLines reads --sku flags; errors name the flag and the value.
func parseLines(skus []string) ([]events.Line, error) {
	if len(skus) == 0 {
		return nil, fmt.Errorf("--sku is required: give at least one line as SKU:QUANTITY, e.g. --sku sku-tee:2")
	}
	var lines []events.Line
	for _, s := range skus {
		sku, qty, ok := strings.Cut(s, ":")
		if !ok || sku == "" {
			return nil, fmt.Errorf("--sku %q: want SKU:QUANTITY, e.g. sku-tee:2", s)
		}
		n, err := strconv.Atoi(qty)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--sku %q: quantity %q must be a whole number of at least 1", s, qty)
		}
		lines = append(lines, events.Line{SKU: sku, Quantity: n})
	}
	return lines, nil
}

// flagName rewrites a schema field into the flag that sets it.
func flagName(err error) error {
	fe, ok := err.(*events.FieldError)
	if !ok {
		return err
	}
	field := fe.Field
	switch {
	case field == "orderId":
		field = "--id"
	case field == "customerId":
		field = "--customer"
	case field == "email", field == "currency":
		field = "--" + field
	case field == "paymentToken":
		field = "--token"
	case field == "shippingCountry":
		field = "--ship-to"
	case strings.HasPrefix(field, "lines"):
		field = "--sku " + field
	}
	return fmt.Errorf("%s: %s", field, fe.Reason)
}

func waitTerminal(ctx context.Context, c *client.Client, functions func() map[string]string, id string, timeout time.Duration) (events.OrderViewData, error) {
	deadline := time.Now().Add(timeout)
	var view events.OrderViewData
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.QueryFunction(qctx, functions(), events.OrderQuery, events.OrderQueryData{OrderID: id}, &view)
		cancel()
		if err == nil && (view.Status == "confirmed" || view.Status == "cancelled") {
			return view, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return view, err
			}
			return view, fmt.Errorf("order %s: no outcome after %s (status %q); if it was refused, `orderflow dlq` shows why", id, timeout, view.Status)
		}
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newOrder(g *globals) *cobra.Command {
	var (
		asJSON bool
		kf     brokersFlag
	)
	cmd := &cobra.Command{
		Use:   "order ID",
		Short: "Show one order's state and timeline (from the order function's read model, or with --brokers from the topics)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var view events.OrderViewData
			if kf.set() {
				recs, err := readTopics(cmd.Context(), &kf, true)
				if err != nil {
					return err
				}
				view = topicview.Order(args[0], recs)
			} else {
				ep, c, err := g.running(10 * time.Second)
				if err != nil {
					return err
				}
				if err := c.QueryFunction(cmd.Context(), ep.Functions, events.OrderQuery, events.OrderQueryData{OrderID: args[0]}, &view); err != nil {
					return err
				}
			}
			if asJSON || g.json() {
				return printJSON(view)
			}
			if !view.Found && len(view.Timeline) == 0 {
				return fmt.Errorf("order %s is not known; if its placement was refused, `orderflow dlq` shows why", args[0])
			}
			printOrder(view)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the view as JSON")
	_ = cmd.Flags().MarkDeprecated("json", "use -o json")
	kf.register(cmd, false)
	return cmd
}

func printOrder(v events.OrderViewData) {
	fmt.Printf("order %s: %s", printable(v.OrderID), printable(strings.ToUpper(v.Status)))
	if v.Reason != "" {
		fmt.Printf(" (%s)", printable(v.Reason))
	}
	fmt.Printf("  total %d.%02d %s, version %d\n", v.TotalCents/100, v.TotalCents%100, printable(v.Currency), v.Version)
	for _, l := range v.Lines {
		fmt.Printf("  %3d x %-12s @ %d.%02d\n", l.Quantity, printable(l.SKU), l.UnitPriceCents/100, l.UnitPriceCents%100)
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  TIME\tEVENT\tFROM\tWHAT")
	for _, t := range v.Timeline {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", t.Time.Format("15:04:05.000"), printable(strings.TrimPrefix(t.Type, "dev.orderflow.")), printable(t.Source), printable(t.Summary))
	}
	w.Flush()
}

func newStats(g *globals) *cobra.Command {
	var kf brokersFlag
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the analytics projections as JSON (from the analytics function, or with --brokers from the topics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kf.set() {
				recs, err := readTopics(cmd.Context(), &kf, false)
				if err != nil {
					return err
				}
				return printJSON(topicview.Analytics(recs))
			}
			ep, c, err := g.running(10 * time.Second)
			if err != nil {
				return err
			}
			var view events.AnalyticsViewData
			if err := c.QueryFunction(cmd.Context(), ep.Functions, events.AnalyticsQuery, events.AnalyticsQueryData{}, &view); err != nil {
				return err
			}
			return printJSON(view)
		},
	}
	kf.register(cmd, false)
	return cmd
}

// readTopics reads orderflow's event topics (and dead-letter topics) from
// the Kafka of --brokers.
func readTopics(ctx context.Context, kf *brokersFlag, withDeadLetters bool) ([]kafkalog.Record, error) {
	kc, err := kf.client("orderflow-cli")
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return topicview.Read(ctx, kc, withDeadLetters)
}

// commandsSink is the KafkaSink orders are placed through (knative/base's
// commands sink; a test holds the two alike): --brokers writes to its
// topic the record that sink would write.
var commandsSink = manifests.KafkaSink{Name: "commands", Topic: events.TopicCommands, ContentMode: manifests.ContentModeBinary}

// placeInKafka writes the place-order command straight to the commands
// topic, keyed and encoded as the commands KafkaSink would write it, and
// then, if wait, follows the order in the topics to its outcome.
func placeInKafka(ctx context.Context, kf *brokersFlag, order events.PlaceOrderData, wait bool, timeout time.Duration) error {
	e, err := client.PlaceEvent(order)
	if err != nil {
		return fmt.Errorf("invalid order: %w", flagName(err))
	}
	kc, err := kf.client("orderflow-cli")
	if err != nil {
		return err
	}
	defer kc.Close()
	producer, err := sarama.NewSyncProducerFromClient(kc)
	if err != nil {
		return err
	}
	defer producer.Close()
	if err := sink.Produce(ctx, producer, &e, commandsSink); err != nil {
		return err
	}
	fmt.Printf("placed %s (event %s) into Kafka (%s)\n", order.OrderID, e.ID(), commandsSink.Topic)
	if !wait {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		recs, err := topicview.Read(rctx, kc, true)
		cancel()
		if err != nil {
			return err
		}
		view := topicview.Order(order.OrderID, recs)
		if view.Status == "confirmed" || view.Status == "cancelled" {
			printOrder(view)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("order %s: no outcome in the topics after %s (status %q); if it was refused, `orderflow dlq --brokers ...` shows why", order.OrderID, timeout, view.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printJSON(v any) error { return printJSONTo(os.Stdout, v) }

func printJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

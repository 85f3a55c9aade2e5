package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/local/client"
	"orderflow.dev/local/dlq"
	"orderflow.dev/local/topicview"
	"orderflow.dev/shared/events"
)

// PlaceOptions are `orderflow place`'s, in kubectl's shape (as
// ReplayOptions): the flags as given, Validate checks the order they make
// against its schema before anything is read, Complete finds the running
// up (unless --brokers), Run places the order and follows it.
type PlaceOptions struct {
	ID, Customer, Email, Token, Currency string
	ShipTo                               string
	SKUs                                 []string
	Wait, NoWait                         bool
	Timeout                              time.Duration
	Brokers                              brokersFlag

	// Completed.
	order     events.PlaceOrderData
	out       placeOutput
	stateDir  string // the running up's
	endpoints plane.Endpoints
	client    *client.Client
}

func (o *PlaceOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.ID, "id", "", "order id (default: a new ord-xxxxxxxx); placing the same id again is idempotent")
	cmd.Flags().StringArrayVar(&o.SKUs, "sku", nil, "a line as SKU:QUANTITY, e.g. sku-tee:2 (repeatable, at least one)")
	cmd.Flags().StringVar(&o.Customer, "customer", "cus-cli", "customer id")
	cmd.Flags().StringVar(&o.Email, "email", "customer@example.org", "customer email for the notification")
	cmd.Flags().StringVar(&o.Token, "token", "tok_visa", "payment token (tok_declined is declined by the simulator)")
	cmd.Flags().StringVar(&o.Currency, "currency", "EUR", "ISO 4217 currency of the catalog")
	cmd.Flags().StringVar(&o.ShipTo, "ship-to", "", "destination country, ISO 3166-1 alpha-2; it decides the tax (default: the shop's home country)")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait for the order's outcome")
	_ = cmd.Flags().MarkDeprecated("wait", "it is the default; use --no-wait to return at once")
	cmd.Flags().BoolVar(&o.NoWait, "no-wait", false, "return once the order is in Kafka, without waiting for its outcome")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait for the outcome")
	o.Brokers.register(cmd, false)
}

// placeholderID stands for the id Complete makes up when --id is not
// given, so that Validate checks the rest of the order against its schema.
const placeholderID = "ord-00000000"

// Validate checks --brokers and the order the flags make against its
// schema, so a bad flag is a clear error now rather than a dead letter
// later.
func (o *PlaceOptions) Validate() error {
	if err := o.Brokers.validate(); err != nil {
		return err
	}
	_, err := o.orderOf(cmp.Or(o.ID, placeholderID))
	return err
}

// orderOf is the place-order command the flags make, with the order id
// id, checked against its schema.
func (o *PlaceOptions) orderOf(id string) (events.PlaceOrderData, error) {
	lines, err := parseLines(o.SKUs)
	if err != nil {
		return events.PlaceOrderData{}, err
	}
	order := events.PlaceOrderData{OrderID: id, CustomerID: o.Customer, Email: o.Email, Currency: o.Currency, PaymentToken: o.Token, Lines: lines,
		ShippingCountry: o.ShipTo}
	raw, _ := json.Marshal(order)
	if _, err := events.Decode(events.PlaceOrder, raw); err != nil {
		return order, fmt.Errorf("invalid order: %w", flagName(err))
	}
	return order, nil
}

// Complete makes up the order id when --id is not given and, unless
// --brokers names a Kafka, finds the running up.
func (o *PlaceOptions) Complete(g *globals) (err error) {
	if o.ID == "" {
		o.ID = "ord-" + uuid.NewString()[:8]
	}
	if o.order, err = o.orderOf(o.ID); err != nil {
		return err
	}
	o.out = placeOutput{json: g.json()}
	if o.Brokers.set() {
		return nil
	}
	o.stateDir = g.stateDir
	o.endpoints, o.client, err = g.running(15 * time.Second)
	return err
}

// Run places the order and, unless --no-wait, follows it to its outcome.
func (o *PlaceOptions) Run(ctx context.Context) error {
	wait := o.Wait && !o.NoWait
	if o.Brokers.set() {
		return placeInKafka(ctx, &o.Brokers, o.order, wait, o.Timeout, o.out)
	}
	// An order already under this id: the same placement again is a no-op
	// the saga allows, another one a conflict the order function refuses
	// (a dead letter), while the wait below would find the first order's
	// outcome and print it as this one's. Said now instead.
	var before events.OrderViewData
	if err := o.client.QueryFunction(ctx, o.endpoints.Functions, events.OrderQuery, events.OrderQueryData{OrderID: o.ID}, &before); err == nil {
		if why := placementConflict(before, o.order); why != "" {
			return usage(errors.New(why))
		}
	}
	e, err := o.client.Place(ctx, o.endpoints.Sinks["commands"], o.order)
	if err != nil {
		return err
	}
	o.out.placed(o.ID, e.ID(), "")
	if !wait {
		return o.out.result(o.ID, e.ID(), nil)
	}
	// One client for the whole wait, to read the dead letters with; without
	// one (Kafka not reached) the wait only looks for an outcome.
	var refusal func(context.Context) string
	if kc, err := broker.NewClient(o.endpoints.Brokers, "orderflow-cli"); err == nil {
		defer kc.Close()
		refusal = o.refusal(kc, e.ID())
	}
	view, err := waitTerminal(ctx, o.client, func() map[string]string {
		// Read again on every try: an up restarted meanwhile has
		// its functions on new ports.
		if now, err := plane.ReadEndpoints(o.stateDir); err == nil {
			return now.Functions
		}
		return o.endpoints.Functions
	}, o.ID, o.Timeout, refusal)
	if err != nil {
		return err
	}
	return o.out.result(o.ID, e.ID(), &view)
}

// placeOutput prints what place did: as text, or with -o json one JSON
// object at the end (placeResult), the progress going to stderr so that
// stdout holds nothing else.
type placeOutput struct{ json bool }

// placeResult is what place prints with -o json: the order, the event
// that carried it and, unless --no-wait, the order at its outcome (as
// `orderflow order -o json` prints it).
type placeResult struct {
	OrderID string                `json:"orderId"`
	EventID string                `json:"eventId"`
	Outcome *events.OrderViewData `json:"outcome,omitempty"`
}

func (p placeOutput) placed(orderID, eventID, topic string) {
	w := os.Stdout
	if p.json {
		w = os.Stderr
	}
	if topic != "" {
		fmt.Fprintf(w, "placed %s (event %s) into Kafka (%s)\n", orderID, eventID, topic)
	} else {
		fmt.Fprintf(w, "placed %s (event %s) into Kafka\n", orderID, eventID)
	}
}

func (p placeOutput) result(orderID, eventID string, view *events.OrderViewData) error {
	if p.json {
		return printJSON(placeResult{OrderID: orderID, EventID: eventID, Outcome: view})
	}
	if view != nil {
		printOrder(*view)
	}
	return nil
}

func newPlace(g *globals) *cobra.Command {
	o := &PlaceOptions{}
	cmd := &cobra.Command{
		Use:   "place --sku SKU:QTY [--sku SKU:QTY...]",
		Short: "Place one order through the orders KafkaSink and follow it to its outcome",
		Example: `  orderflow place --sku sku-tee:2 --sku sku-mug:1
  orderflow place --sku sku-lamp:9 --token tok_declined --no-wait
  orderflow place --sku sku-hoodie:1 --ship-to NL`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
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

func waitTerminal(ctx context.Context, c *client.Client, functions func() map[string]string, id string, timeout time.Duration, refused func(context.Context) string) (events.OrderViewData, error) {
	deadline := time.Now().Add(timeout)
	var view events.OrderViewData
	for try := 0; ; try++ {
		// The order function may refuse the command (a 4xx: a dead
		// letter); then no outcome comes, and waiting out the timeout
		// would only hide why. Looked for every second.
		if try%10 == 9 && refused != nil {
			if why := refused(ctx); why != "" {
				return view, fmt.Errorf("order %s: refused by the order function: %s (`orderflow dlq` lists it)", id, why)
			}
		}
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

// OrderOptions are `orderflow order`'s, in kubectl's shape (as
// PlaceOptions).
type OrderOptions struct {
	ID      string
	JSON    bool
	Brokers brokersFlag

	// Completed.
	json      bool // --json or -o json
	endpoints plane.Endpoints
	client    *client.Client
}

func (o *OrderOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the view as JSON")
	_ = cmd.Flags().MarkHidden("json") // -o json; kept for a release for the scripts that use it
	o.Brokers.register(cmd, false)
}

// Validate refuses a --brokers that is no list of host:port.
func (o *OrderOptions) Validate() error { return o.Brokers.validate() }

// Complete takes the order's id and, unless --brokers names a Kafka,
// finds the running up.
func (o *OrderOptions) Complete(g *globals, id string) (err error) {
	o.ID, o.json = id, o.JSON || g.json()
	// Checked here against the query's own schema: a bad id is this
	// command used wrongly (exit 2), not the order function's refusal.
	if raw, err := json.Marshal(events.OrderQueryData{OrderID: id}); err != nil {
		return usage(err)
	} else if _, err := events.Decode(events.OrderQuery, raw); err != nil {
		return usage(fmt.Errorf("order id %q: %w", printable(id), err))
	}
	if o.Brokers.set() {
		return nil
	}
	o.endpoints, o.client, err = g.running(10 * time.Second)
	return err
}

// Run reads the order's view, from the order function or the topics, and
// prints it.
func (o *OrderOptions) Run(ctx context.Context) error {
	var view events.OrderViewData
	if o.Brokers.set() {
		recs, err := readTopics(ctx, &o.Brokers, true)
		if err != nil {
			return err
		}
		view = topicview.Order(o.ID, recs)
	} else if err := o.client.QueryFunction(ctx, o.endpoints.Functions, events.OrderQuery, events.OrderQueryData{OrderID: o.ID}, &view); err != nil {
		return err
	}
	known := view.Found || len(view.Timeline) > 0
	if o.json {
		// The view says found: false; the exit status says it too, as
		// in text, so a script need not read the JSON to know.
		if err := printJSON(view); err != nil || known {
			return err
		}
	}
	if !known {
		return fmt.Errorf("order %s is not known; if its placement was refused, `orderflow dlq` shows why", o.ID)
	}
	printOrder(view)
	return nil
}

func newOrder(g *globals) *cobra.Command {
	o := &OrderOptions{}
	cmd := &cobra.Command{
		Use:   "order ID",
		Short: "Show one order's state and timeline (from the order function's read model, or with --brokers from the topics)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g, args[0]) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
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

// StatsOptions are `orderflow stats`'s, in kubectl's shape (as
// PlaceOptions).
type StatsOptions struct {
	Brokers brokersFlag

	// Completed.
	endpoints plane.Endpoints
	client    *client.Client
}

// Validate refuses a --brokers that is no list of host:port.
func (o *StatsOptions) Validate() error { return o.Brokers.validate() }

// Complete finds the running up, unless --brokers names a Kafka.
func (o *StatsOptions) Complete(g *globals) (err error) {
	if o.Brokers.set() {
		return nil
	}
	o.endpoints, o.client, err = g.running(10 * time.Second)
	return err
}

// Run reads the analytics projections, from the analytics function or
// the topics, and prints them as JSON.
func (o *StatsOptions) Run(ctx context.Context) error {
	if o.Brokers.set() {
		recs, err := readTopics(ctx, &o.Brokers, false)
		if err != nil {
			return err
		}
		return printJSON(topicview.Analytics(recs))
	}
	var view events.AnalyticsViewData
	if err := o.client.QueryFunction(ctx, o.endpoints.Functions, events.AnalyticsQuery, events.AnalyticsQueryData{}, &view); err != nil {
		return err
	}
	return printJSON(view)
}

func newStats(g *globals) *cobra.Command {
	o := &StatsOptions{}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the analytics projections as JSON (from the analytics function, or with --brokers from the topics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.Brokers.register(cmd, false)
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
func placeInKafka(ctx context.Context, kf *brokersFlag, order events.PlaceOrderData, wait bool, timeout time.Duration, out placeOutput) error {
	e, err := client.PlaceEvent(order)
	if err != nil {
		return fmt.Errorf("invalid order: %w", flagName(err))
	}
	kc, err := kf.client("orderflow-cli")
	if err != nil {
		return err
	}
	defer kc.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	recs, err := topicview.Read(rctx, kc, true)
	cancel()
	if err != nil {
		return err
	}
	if why := placementConflict(topicview.Order(order.OrderID, recs), order); why != "" {
		return usage(errors.New(why))
	}
	producer, err := sarama.NewSyncProducerFromClient(kc)
	if err != nil {
		return err
	}
	defer producer.Close()
	if err := sink.Produce(ctx, producer, &e, commandsSink); err != nil {
		return err
	}
	out.placed(order.OrderID, e.ID(), commandsSink.Topic)
	if !wait {
		return out.result(order.OrderID, e.ID(), nil)
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
		for _, t := range view.Timeline {
			if why, ok := strings.CutPrefix(t.Summary, "dead-lettered by order: "); ok && t.ID == e.ID() {
				return fmt.Errorf("order %s: refused by the order function: %s (`orderflow dlq --brokers ...` lists it)", order.OrderID, why)
			}
		}
		if view.Status == "confirmed" || view.Status == "cancelled" {
			return out.result(order.OrderID, e.ID(), &view)
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

// refusal looks for the placed command (event id) among the order
// function's dead letters, and says why it was refused; "" while it is
// not there (or the dead letters cannot be read: the wait goes on).
func (o *PlaceOptions) refusal(kc sarama.Client, eventID string) func(context.Context) string {
	return func(ctx context.Context) string {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		letters, err := dlq.Read(rctx, kc, o.endpoints.DLQTopics, []string{"order"})
		if err != nil {
			return ""
		}
		for _, l := range letters {
			if !l.Foreign && l.Event.ID() == eventID {
				return l.Reason
			}
		}
		return ""
	}
}

// placementConflict says how order differs from the order already placed
// under its id (as the order function's samePlacement would find, on what
// the view shows: customer, currency, lines), "" when there is none or it
// is the same.
func placementConflict(existing events.OrderViewData, order events.PlaceOrderData) string {
	if !existing.Found || existing.Status == "" {
		return ""
	}
	var differs []string
	if existing.CustomerID != order.CustomerID {
		differs = append(differs, fmt.Sprintf("customer %s, not %s", existing.CustomerID, order.CustomerID))
	}
	if existing.Currency != order.Currency {
		differs = append(differs, fmt.Sprintf("currency %s, not %s", existing.Currency, order.Currency))
	}
	same := len(existing.Lines) == len(order.Lines)
	for i := 0; same && i < len(order.Lines); i++ {
		same = existing.Lines[i].SKU == order.Lines[i].SKU && existing.Lines[i].Quantity == order.Lines[i].Quantity
	}
	if !same {
		var have []string
		for _, l := range existing.Lines {
			have = append(have, fmt.Sprintf("%s:%d", l.SKU, l.Quantity))
		}
		differs = append(differs, "lines "+strings.Join(have, " "))
	}
	if len(differs) == 0 {
		return ""
	}
	return fmt.Sprintf("--id %s: order %s already exists (%s) with other content: %s; placing another order under its id would be refused (choose another --id, or leave it out)",
		order.OrderID, order.OrderID, existing.Status, strings.Join(differs, "; "))
}

func printJSON(v any) error { return printJSONTo(os.Stdout, v) }

func printJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

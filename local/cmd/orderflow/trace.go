package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"orderflow.dev/local/jaegerapi"
	"orderflow.dev/shared/events"
)

// TraceOptions are `orderflow trace`'s, in kubectl's shape (as
// ReplayOptions): the flags and the order id as given, Validate refuses
// an empty id, Run asks Jaeger.
type TraceOptions struct {
	OrderID string
	Jaeger  string
	PNG     string
	Service string

	// Completed.
	Out io.Writer
}

func (o *TraceOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Jaeger, "jaeger", "http://127.0.0.1:16686", "Jaeger query (UI) address")
	cmd.Flags().StringVar(&o.PNG, "png", "", "also draw the trace as a waterfall PNG here")
	// Every trace passes through the function the saga starts at: the one
	// the catalog has take the place-order command.
	cmd.Flags().StringVar(&o.Service, "service", events.MustLookup(events.PlaceOrder).ConsumedBy[0], "a service of the trace to search under")
}

// Validate refuses an order id of blanks only.
func (o *TraceOptions) Validate() error {
	if strings.TrimSpace(o.OrderID) == "" {
		return errors.New("ORDER-ID is empty")
	}
	if u, err := url.Parse(o.Jaeger); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--jaeger %q: want the Jaeger query address as an http(s) URL, e.g. http://127.0.0.1:16686", o.Jaeger)
	}
	return nil
}

// Complete trims the order id and takes where to print.
func (o *TraceOptions) Complete(out io.Writer) {
	o.OrderID, o.Out = strings.TrimSpace(o.OrderID), out
}

// Run finds the order's trace in Jaeger, prints it as a tree and, with
// --png, draws it.
func (o *TraceOptions) Run(context.Context) error {
	traces, err := jaegerapi.Find(strings.TrimRight(o.Jaeger, "/"), o.Service, "orderflow.correlation_id", o.OrderID)
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// Said plainly: nothing answers there, which a URL quoted back
		// in a Go HTTP error ('Get "http://...": dial tcp ...') hides.
		return fmt.Errorf("no Jaeger answers at %s (%v): start one (scripts/tool.sh jaeger && bin/jaeger: docs/observability.md) or give --jaeger", o.Jaeger, opErr.Err)
	}
	if err != nil {
		return err
	}
	if len(traces) == 0 {
		return fmt.Errorf("jaeger at %s has no trace of order %s (is tracing on, OTEL_EXPORTER_OTLP_ENDPOINT, where orderflow runs?)", o.Jaeger, o.OrderID)
	}
	// One order is one trace; the newest holds the most spans when
	// the order was placed again with the same id.
	t := traces[0]
	for _, c := range traces[1:] {
		if len(c.Spans) > len(t.Spans) {
			t = c
		}
	}
	fmt.Fprint(o.Out, t.Text())
	if o.PNG != "" {
		if err := t.Draw(o.PNG, "order "+o.OrderID+": trace "+t.TraceID); err != nil {
			return err
		}
		fmt.Fprintln(o.Out, "picture:", o.PNG)
	}
	return nil
}

func newTrace() *cobra.Command {
	o := &TraceOptions{}
	cmd := &cobra.Command{
		Use:   "trace ORDER-ID",
		Short: "One order's trace, from Jaeger: every span of the plane and the five functions, as a tree (and --png, a picture)",
		Long: `trace finds the trace of an order in Jaeger (the query API of its UI) by the
orderflow.correlation_id every delivery span carries, and prints its spans as a
tree with the time each started and took. Tracing is on when the standard
OTEL_EXPORTER_OTLP_ENDPOINT is set where orderflow runs, e.g.

  scripts/tool.sh jaeger && bin/jaeger &
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 bin/orderflow up
  bin/orderflow place --sku sku-tee:1        # prints the order id
  bin/orderflow trace ord-1234abcd --png trace.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.OrderID = args[0]
			complete := func() error { o.Complete(cmd.OutOrStdout()); return nil }
			return runOptions(o.Validate, complete, func() error { return o.Run(cmd.Context()) })
		},
	}
	o.addFlags(cmd)
	return cmd
}

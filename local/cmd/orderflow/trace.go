package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"orderflow.dev/local/jaegerapi"
	"orderflow.dev/shared/events"
)

func newTrace() *cobra.Command {
	var (
		jaeger  string
		png     string
		service string
	)
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
			id := strings.TrimSpace(args[0])
			if id == "" {
				return fmt.Errorf("ORDER-ID is empty")
			}
			traces, err := jaegerapi.Find(strings.TrimRight(jaeger, "/"), service, "orderflow.correlation_id", id)
			if err != nil {
				return err
			}
			if len(traces) == 0 {
				return fmt.Errorf("jaeger at %s has no trace of order %s (is tracing on, OTEL_EXPORTER_OTLP_ENDPOINT, where orderflow runs?)", jaeger, id)
			}
			// One order is one trace; the newest holds the most spans when
			// the order was placed again with the same id.
			t := traces[0]
			for _, c := range traces[1:] {
				if len(c.Spans) > len(t.Spans) {
					t = c
				}
			}
			fmt.Fprint(cmd.OutOrStdout(), t.Text())
			if png != "" {
				if err := t.Draw(png, "order "+id+": trace "+t.TraceID); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "picture:", png)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&jaeger, "jaeger", "http://127.0.0.1:16686", "Jaeger query (UI) address")
	cmd.Flags().StringVar(&png, "png", "", "also draw the trace as a waterfall PNG here")
	// Every trace passes through the function the saga starts at: the one
	// the catalog has take the place-order command.
	cmd.Flags().StringVar(&service, "service", events.MustLookup(events.PlaceOrder).ConsumedBy[0], "a service of the trace to search under")
	return cmd
}

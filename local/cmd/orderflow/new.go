package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"orderflow.dev/local/scaffold"
)

// newNew is `orderflow new function`: a saga step scaffolded into the
// tree, the way `func create` scaffolds a function, and wired as the
// others are.
func newNew(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Add to the tree: a saga step (new function)",
	}
	var on []string
	var emits string
	fn := &cobra.Command{
		Use:   "function NAME --on TYPE[,TYPE] [--emits TYPE]",
		Short: "Scaffold a saga step: its function folder, module, manifests, event type and registration; only its decision is left to write",
		Long: `new function adds a saga step: functions/NAME (func.yaml, go.mod, function.go,
a pure decide.go with its table test), its KafkaSource, dead-letter sink and topic
in knative/base (with --emits, its SinkBinding, KafkaSink and topic), the catalog's
entries and v1 schema for each new type, and the one-line registrations (go.work,
local/fnserve/registry.go, the orderflow-db Secret's key). --on names the types it
reacts to (order.confirmed or dev.orderflow.order.confirmed.v1); --emits a new type
it publishes. It refuses a taken or non-DNS name, an unknown type, an existing
--emits type, or files with uncommitted changes, writing nothing; a step that fails
midway puts every file back. See docs/new-function.md.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one function NAME, got %d arguments (orderflow new function NAME --on TYPE[,TYPE] [--emits TYPE])", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := g.checkout()
			if err != nil {
				return err
			}
			plan, err := scaffold.NewPlan(scaffold.Request{Root: root, Name: args[0], On: on, Emits: emits})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "scaffolding function %s in %s\n", plan.Name, root)
			if err := plan.Apply(func() error { return tidy(root, plan, out) }); err != nil {
				return err
			}
			printPlan(out, plan)
			return nil
		},
	}
	fn.Flags().StringSliceVar(&on, "on", nil, "event types it reacts to (order.confirmed, or dev.orderflow.order.confirmed.v1); repeat or separate with commas")
	fn.Flags().StringVar(&emits, "emits", "", "a new event type it publishes (shipment.booked: dev.orderflow.shipment.booked.v1)")
	cmd.AddCommand(fn)
	return cmd
}

// tidy runs go mod tidy for the new module the way scripts/tidy.sh tidies
// every module (GOWORK=off, shared taken as v0.1.0 from this tree): it
// writes go.sum and the go.mod the module builds with on its own.
func tidy(root string, plan *scaffold.Plan, out io.Writer) error {
	fmt.Fprintf(out, "  go mod tidy (scripts/tidy.sh functions/%s)...\n", plan.Name)
	c := exec.Command("bash", filepath.Join(root, "scripts", "tidy.sh"), "functions/"+plan.Name)
	c.Dir = root
	c.Env = os.Environ()
	var log strings.Builder
	c.Stdout, c.Stderr = &log, &log
	if err := c.Run(); err != nil {
		return fmt.Errorf("scripts/tidy.sh functions/%s: %v\n%s", plan.Name, err, strings.TrimSpace(log.String()))
	}
	return nil
}

func printPlan(w io.Writer, p *scaffold.Plan) {
	for _, f := range p.Files {
		verb := "changed"
		if f.Old == nil {
			verb = "created"
		}
		fmt.Fprintf(w, "  %s %s\n", verb, f.Path)
	}
	fmt.Fprintf(w, "  created functions/%s/go.sum\n", p.Name)
	var on []string
	for _, s := range p.On {
		on = append(on, s.Type)
	}
	fmt.Fprintf(w, "\nfunction %s reacts to %s", p.Name, strings.Join(on, ", "))
	if p.Emits != nil {
		fmt.Fprintf(w, " and publishes %s on %s", p.Type(), p.Topic)
	}
	fmt.Fprintf(w, ".\nnext: write its decision in functions/%s/decide.go (and its table in decide_test.go), then\n", p.Name)
	fmt.Fprintf(w, "  go test ./functions/%s/ && make demo\n", p.Name)
}

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

// NewFunctionOptions are `orderflow new function`'s, in kubectl's shape
// (as ReplayOptions): the name and flags as given, Validate refuses a name
// no tree could take or no --on, Complete finds the checkout and plans the
// step against it (writing nothing), Run writes it.
type NewFunctionOptions struct {
	Name  string
	On    []string
	Emits string

	// Completed.
	root string
	plan *scaffold.Plan
	Out  io.Writer
}

func (o *NewFunctionOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&o.On, "on", nil, "event types it reacts to (order.confirmed, or dev.orderflow.order.confirmed.v1); repeat or separate with commas")
	cmd.Flags().StringVar(&o.Emits, "emits", "", "a new event type it publishes (shipment.booked: dev.orderflow.shipment.booked.v1)")
}

func (o *NewFunctionOptions) request() scaffold.Request {
	return scaffold.Request{Root: o.root, Name: o.Name, On: o.On, Emits: o.Emits}
}

// Validate refuses a name that cannot be a function's, or no --on.
func (o *NewFunctionOptions) Validate() error { return o.request().Check() }

// Complete finds the checkout and plans the step in it, writing nothing:
// a taken name or an unknown type is refused here.
func (o *NewFunctionOptions) Complete(g *globals, out io.Writer) (err error) {
	o.Out = out
	if o.root, err = g.checkout(); err != nil {
		return err
	}
	o.plan, err = scaffold.NewPlan(o.request())
	return err
}

// Run writes the step's files (refusing first, writing nothing, when
// files it edits have uncommitted changes), tidies its module, and lists
// what it did; a step that fails midway puts every file back.
func (o *NewFunctionOptions) Run() error {
	fmt.Fprintf(o.Out, "scaffolding function %s in %s\n", o.plan.Name, o.root)
	if err := o.plan.Apply(func() error { return tidy(o.root, o.plan, o.Out) }); err != nil {
		return err
	}
	printPlan(o.Out, o.plan)
	return nil
}

// newNew is `orderflow new function`: a saga step scaffolded into the
// tree, the way `func create` scaffolds a function, and wired as the
// others are.
func newNew(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Add to the tree: a saga step (new function)",
	}
	o := &NewFunctionOptions{}
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
			o.Name = args[0]
			return runOptions(o.Validate, func() error { return o.Complete(g, cmd.OutOrStdout()) }, o.Run)
		},
	}
	o.addFlags(fn)
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

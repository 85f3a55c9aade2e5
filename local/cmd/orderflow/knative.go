package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/knplane"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/sink"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/profile"
)

// dataPlaneLocal is --data-plane's default: the plane's own sinks and sources.
const dataPlaneLocal = "local"

// validateDataPlane refuses a --data-plane other than the two, and on
// Knative's the flags only the local plane's sources have: refused with
// it rather than silently ignored.
func (f *upFlags) validateDataPlane() error {
	switch f.dataPlane {
	case dataPlaneLocal:
		return nil
	case knplane.Name:
	default:
		return fmt.Errorf("--data-plane %q: want %s or %s", f.dataPlane, dataPlaneLocal, knplane.Name)
	}
	if f.duplicateDelivery {
		return fmt.Errorf("--duplicate-delivery is the local plane's sources' own; it cannot go with --data-plane %s", knplane.Name)
	}
	return nil
}

// useDataPlane puts Knative's data plane into opts when --data-plane asks
// for it (validateDataPlane checked the flags).
func (f *upFlags) useDataPlane(g *globals, opts *plane.Options, progress io.Writer) error {
	if f.dataPlane != knplane.Name {
		return nil
	}
	root, err := g.checkout()
	if err != nil {
		return err
	}
	opts.DataPlane = knplane.New(knplane.Options{Root: knlocalDir(root), IngressPort: f.ingressPort, Progress: progress})
	return nil
}

// knlocalDir is the knlocal module's folder in the checkout at root, where
// knplane finds the script that builds and runs Knative's data plane.
func knlocalDir(root string) string { return filepath.Join(root, "knlocal") }

// dataPlanePIDs are the processes of a data plane other than the plane's
// own (Knative's JVMs), for the CPU accounting.
func dataPlanePIDs(opts plane.Options) map[string]int {
	if kp, ok := opts.DataPlane.(*knplane.DataPlane); ok {
		return kp.PIDs()
	}
	return nil
}

// KnativeConfigOptions are `orderflow knative-config`'s, in kubectl's
// shape: it writes a config folder for knlocal/scripts/knative-dataplane.sh
// start (Knative's receiver and dispatcher run by hand, beside functions
// started some other way).
type KnativeConfigOptions struct {
	Out, Manifests string
	Brokers        []string
	Functions      []string // NAME=URL as given
	IngressPort    int

	urls map[string]string
	root string
}

// Validate checks the flags and reads --function's addresses.
func (o *KnativeConfigOptions) Validate() error {
	if o.Out == "" || len(o.Brokers) == 0 {
		return fmt.Errorf("--out and --brokers are required")
	}
	if o.IngressPort <= 0 || o.IngressPort > 65534 {
		return fmt.Errorf("--ingress-port %d: not a port (the next one must be one too)", o.IngressPort)
	}
	o.urls = map[string]string{}
	for _, kv := range o.Functions {
		name, url, ok := strings.Cut(kv, "=")
		if !ok || name == "" || !strings.HasPrefix(url, "http") {
			return fmt.Errorf("--function %q: want NAME=http://host:port", kv)
		}
		o.urls[name] = url
	}
	return nil
}

// Complete finds the checkout and the manifests.
func (o *KnativeConfigOptions) Complete(g *globals) (err error) {
	if o.root, err = g.checkout(); err != nil {
		return err
	}
	if o.Manifests == "" {
		o.Manifests = filepath.Join(o.root, "knative", "base")
	}
	o.Out, err = filepath.Abs(o.Out)
	return err
}

// Run builds Knative's data plane if needed and writes its config and
// contracts.
func (o *KnativeConfigOptions) Run(ctx context.Context, out io.Writer) error {
	set, err := manifests.Load(o.Manifests)
	if err != nil {
		return err
	}
	if err := manifests.Resolve(set); err != nil {
		return err
	}
	source, err := knplane.Build(ctx, knlocalDir(o.root), os.Stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	ns := cmp.Or(set.Namespace, manifests.DefaultNamespace)
	if err := knplane.WriteConfig(o.Out, knplane.Config{Source: source, Namespace: ns, IngressPort: o.IngressPort, IngressTLSPort: o.IngressPort + 1}); err != nil {
		return err
	}
	sinks, err := knplane.SinkContract(set, o.Brokers, 1)
	if err != nil {
		return err
	}
	ingress := fmt.Sprintf("http://127.0.0.1:%d", o.IngressPort)
	sources, err := knplane.SourceContract(set, o.Brokers, o.resolver(ingress), 1)
	if err != nil {
		return err
	}
	if err := knplane.WriteContract(o.Out, knplane.ReceiverContract, sinks); err != nil {
		return err
	}
	if err := knplane.WriteContract(o.Out, knplane.DispatcherContract, sources); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d KafkaSinks at %s, %d KafkaSources; start with: %s start %s\n", o.Out, len(sinks.Resources), ingress, len(sources.Resources), knplane.Script, o.Out)
	return nil
}

// resolver addresses a destination: a KafkaSink at the receiver, a
// function at its --function address.
func (o *KnativeConfigOptions) resolver(ingress string) func(manifests.Destination) (string, error) {
	return func(d manifests.Destination) (string, error) {
		switch {
		case d.Ref == nil:
			return d.URI, nil
		case d.Ref.Kind == manifests.KindKafkaSink:
			return sink.URL(ingress, d.Ref.Namespace, d.Ref.Name) + d.URI, nil
		case d.Ref.Kind == manifests.KindService:
			if u, ok := o.urls[d.Ref.Name]; ok {
				return strings.TrimSuffix(u, "/") + d.URI, nil
			}
			return "", fmt.Errorf("no --function %s=URL", d.Ref.Name)
		}
		return "", fmt.Errorf("cannot address a %s", d.Ref.Kind)
	}
}

func newKnativeConfig(g *globals) *cobra.Command {
	o := &KnativeConfigOptions{}
	cmd := &cobra.Command{
		Use:    "knative-config",
		Short:  "Write the config folder (env, properties, contracts from knative/base) of Knative's data plane for " + knplane.Script + " start",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOptions(o.Validate, func() error { return o.Complete(g) }, func() error { return o.Run(cmd.Context(), cmd.OutOrStdout()) })
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "the config folder to write")
	cmd.Flags().StringVar(&o.Manifests, "manifests", "", "kustomization directory (default <root>/knative/base)")
	cmd.Flags().Var(brokerList(&o.Brokers), "brokers", "Kafka bootstrap servers")
	cmd.Flags().StringSliceVar(&o.Functions, "function", nil, "a function's address, NAME=http://host:port (repeatable, or comma-separated)")
	cmd.Flags().IntVar(&o.IngressPort, "ingress-port", 8090, "the receiver's port (the next one is its unused TLS port)")
	return cmd
}

// replicaProcs are the functions' processes for the CPU accounting.
func replicaProcs(p *plane.Plane) []profile.Proc { return demo.ReplicaProcs(p) }

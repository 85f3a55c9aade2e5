package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"orderflow.dev/local/schemas"
	"orderflow.dev/shared/events/compat"
)

// newSchemas is the compatibility gate: `check` proves every version of
// every event family against the family's rule, `push` registers them with
// a Confluent-compatible schema registry.
func newSchemas() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Event schemas: prove each family's versions keep its compatibility rule, register them with a schema registry",
	}
	var dir, rule string
	load := func() ([]schemas.Family, error) {
		var mode compat.Mode
		if rule != "" {
			m, err := compat.ParseMode(rule)
			if err != nil {
				return nil, fmt.Errorf("--rule: %w", err)
			}
			mode = m
		}
		if dir != "" {
			return schemas.FromDir(dir, mode)
		}
		fams, err := schemas.FromCatalog()
		if err != nil {
			return nil, err
		}
		if mode != "" {
			for i := range fams {
				fams[i].Rule = mode
			}
		}
		return fams, nil
	}
	addFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&dir, "dir", "", "check the schema files of this folder (named TYPE.json, e.g. dev.orderflow.order.created.v2.json) instead of the embedded catalog")
		c.Flags().StringVar(&rule, "rule", "", "hold every family to this rule instead of its declared one (BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE)")
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Prove every version of every event family against the family's rule; name each breaking change; exit 1 on any",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fams, err := load()
			if err != nil {
				return err
			}
			if err := schemas.Report(cmd.OutOrStdout(), schemas.Check(fams)); errors.Is(err, schemas.ErrIncompatible) {
				return &checkFailure{err}
			} else {
				return err
			}
		},
	}
	addFlags(check)
	var timeout time.Duration
	push := &cobra.Command{
		Use:   "push",
		Short: "Register every version of every family with the Confluent-compatible registry at $" + schemas.RegistryURLEnv + " (subject per family, its rule as the subject's compatibility)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usage(fmt.Errorf("--timeout %s: must be positive", timeout))
			}
			reg, err := schemas.NewRegistry(os.Getenv(schemas.RegistryURLEnv), &http.Client{Timeout: timeout})
			if err != nil {
				return err
			}
			fams, err := load()
			if err != nil {
				return err
			}
			return schemas.Push(cmd.Context(), cmd.OutOrStdout(), reg, fams)
		},
	}
	addFlags(push)
	push.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "timeout of each request to the registry")
	cmd.AddCommand(check, push)
	return cmd
}

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the orderflow binary and returns its output and exit code.
func runCLI(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("orderflow %v: %v", args, err)
		return "", -1
	}
}

// The gate as CI runs it: the tree passes, and every breaking fixture
// fails under FULL with the change named.
func TestSchemasCheck(t *testing.T) {
	out, code := runCLI(t, nil, "schemas", "check")
	if code != 0 || !strings.Contains(out, "dev.orderflow.order.created              FORWARD_TRANSITIVE") || !strings.Contains(out, " 0 breaking") {
		t.Fatalf("schemas check on the tree: exit %d\n%s", code, out)
	}
	families := filepath.Join(root, "shared", "events", "compat", "testdata", "families")
	// Under FULL every fixture but the two that change nothing of substance
	// breaks; each must be named by its field and keyword.
	named := map[string]string{
		"add-optional-closed":          "b: property: old not allowed (additionalProperties false), new optional",
		"add-optional-open":            "b: property: old not declared (open content model), new declared as",
		"array-items-type-changed":     "b[]: type: old type string, new type integer",
		"chain-transitive":             "b: maximum: old <= 100, new <= 10",
		"changed-type":                 "b: type: old type integer, new type string",
		"closed-content-model":         "*: additionalProperties: old true (open content model), new false (closed content model)",
		"const-changed":                `b: enum: old one of ["card"], new one of ["invoice"]`,
		"enum-added":                   `b: enum: old type string, new one of ["card", "invoice"]`,
		"looser-max-length":            "b: maxLength: old 128, new 256",
		"min-items-raised":             "lines: minItems: old 0, new 1",
		"narrowed-enum":                `b: enum: old one of ["card", "invoice", "voucher"], new one of ["card", "invoice"]`,
		"narrowed-type":                "b: type: old type null|string, new type string",
		"nested-new-required":          "b.city: required: old not declared (open content model), new required",
		"new-required-field":           "b: required: old optional, new required",
		"opened-content-model":         "*: additionalProperties: old false (closed content model), new true (open content model)",
		"pattern-added":                `b: pattern: old none, new "^[A-Z]{3}$"`,
		"pattern-changed":              "[cannot prove BACKWARD compatibility]",
		"remove-property-closed":       "b: property: old optional, new not allowed (additionalProperties false)",
		"remove-required-field":        "b: required: old required, new optional",
		"superset-new-required":        "taxCents: required: old not declared (open content model), new required",
		"tighter-maximum-nested":       "lines[].quantity: maximum: old <= 1000, new <= 100",
		"tighter-min-length":           "b: minLength: old 1, new 3",
		"tighter-minimum":              "b: minimum: old >= 0, new >= 1",
		"unsupported-keyword":          "b: oneOf: old absent",
		"widened-enum":                 `b: enum: old one of ["card", "invoice"], new one of ["card", "invoice", "voucher"]`,
		"widened-type":                 "b: type: old type integer, new type number",
		"annotations-only":             "",
		"equivalent-exclusive-minimum": "",
	}
	entries, err := os.ReadDir(families)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(named) {
		t.Fatalf("%d fixture families, %d in this table", len(entries), len(named))
	}
	for _, e := range entries {
		want, ok := named[e.Name()]
		if !ok {
			t.Fatalf("fixture %s is not in this table", e.Name())
		}
		t.Run(e.Name(), func(t *testing.T) {
			out, code := runCLI(t, nil, "schemas", "check", "--rule", "FULL", "--dir", filepath.Join(families, e.Name()))
			if want == "" {
				if code != 0 {
					t.Fatalf("exit %d, want 0:\n%s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, "BREAKING") || !strings.Contains(out, want) || !strings.Contains(out, "incompatible schema changes") {
				t.Fatalf("exit %d, want 1 naming %q:\n%s", code, want, out)
			}
		})
	}
}

func TestSchemasRefuseBadFlags(t *testing.T) {
	empty := t.TempDir()
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"schemas", "check", "--dir", "no/such/dir"}, nil, "--dir no/such/dir: stat no/such/dir: no such file or directory"},
		{[]string{"schemas", "check", "--dir", "README.md"}, nil, "--dir README.md: not a directory"},
		{[]string{"schemas", "check", "--dir", empty}, nil, "--dir " + empty + ": no *.json schema files there"},
		{[]string{"schemas", "check", "--rule", "SIDEWAYS"}, nil, `--rule: unknown compatibility rule "SIDEWAYS"`},
		{[]string{"schemas", "check", "extra"}, nil, `unknown command "extra"`},
		{[]string{"schemas", "push"}, []string{"ORDERFLOW_SCHEMA_REGISTRY_URL="}, "set ORDERFLOW_SCHEMA_REGISTRY_URL"},
		{[]string{"schemas", "push"}, []string{"ORDERFLOW_SCHEMA_REGISTRY_URL=localhost:8081"}, "not an http(s) URL with a host"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, code := runCLI(t, tt.env, tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want a failure naming %q:\n%s", code, tt.want, out)
			}
		})
	}
}

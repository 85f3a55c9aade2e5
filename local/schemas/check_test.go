package schemas

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/shared/events/compat"
)

// The fixture families of the checker itself.
const fixtures = "../../shared/events/compat/testdata/families"

func TestTheCatalogKeepsEveryFamilysRule(t *testing.T) {
	fams, err := FromCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Report(&out, Check(fams)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "dev.orderflow.order.created              FORWARD_TRANSITIVE") {
		t.Errorf("order.created's rule is not printed:\n%s", out.String())
	}
}

func TestDirReportNamesEachBreakingChange(t *testing.T) {
	tests := []struct {
		fixture string
		rule    compat.Mode
		wantErr bool
		want    []string
	}{
		{"superset-new-required", compat.ForwardTransitive, false, []string{"dev.fixture.superset-new-required        FORWARD_TRANSITIVE   v1,v2,v3     ok"}},
		{"superset-new-required", compat.Backward, true, []string{
			"v1 -> v2  taxCents: required: old not declared (open content model), new required",
			"v2 -> v3  giftNote: required:"}},
		{"tighter-maximum-nested", compat.Full, true, []string{"v1 -> v2  lines[].quantity: maximum: old <= 1000, new <= 100 [breaks BACKWARD]"}},
		{"remove-property-closed", compat.Backward, true, []string{"b: property: old optional, new not allowed (additionalProperties false)"}},
		{"remove-property-closed", compat.Forward, false, nil},
		{"unsupported-keyword", compat.Backward, true, []string{"b: oneOf:", "[cannot prove BACKWARD compatibility]"}},
		{"annotations-only", compat.FullTransitive, false, []string{"1 family, 0 breaking"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+string(tt.rule), func(t *testing.T) {
			fams, err := FromDir(filepath.Join(fixtures, tt.fixture), tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = Report(&out, Check(fams))
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrIncompatible)) {
				t.Fatalf("error %v, want error: %v\n%s", err, tt.wantErr, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// Without --rule a folder's family takes the catalog's rule for its name:
// a proposed order.created.v2 that drops a v1 field is refused under
// FORWARD_TRANSITIVE, one that only adds required fields is accepted.
func TestDirTakesTheCatalogsRuleForAKnownFamily(t *testing.T) {
	v1, err := os.ReadFile("../../shared/events/schemas/dev.orderflow.order.created.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	adds := strings.Replace(string(v1), `"totalCents"
  ],`, `"totalCents",
    "taxCents"
  ],`, 1)
	adds = strings.Replace(adds, `"properties": {`, `"properties": {
    "taxCents": {"type": "integer", "minimum": 0},`, 1)
	drops := strings.Replace(string(v1), `"paymentToken",
`, ``, 1)
	for _, tt := range []struct {
		name, v2 string
		want     string
	}{
		{"adds a required field", adds, "dev.orderflow.order.created              FORWARD_TRANSITIVE   v1,v2        ok"},
		{"drops a required field", drops, "paymentToken: required: old required, new optional (a value may lack this field) [breaks FORWARD]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v2 == string(v1) {
				t.Fatal("the edit of v1 did not apply")
			}
			dir := t.TempDir()
			write(t, dir, "dev.orderflow.order.created.v1.json", string(v1))
			write(t, dir, "dev.orderflow.order.created.v2.json", tt.v2)
			fams, err := FromDir(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_ = Report(&out, Check(fams))
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFromDirRefusesWhatItCannotRead(t *testing.T) {
	empty := t.TempDir()
	bad := t.TempDir()
	write(t, bad, "dev.x.v1.json", `{"type": 7}`)
	mixed := t.TempDir()
	write(t, mixed, "dev.x.json", `{}`)
	write(t, mixed, "dev.x.v1.json", `{}`)
	file := filepath.Join(bad, "dev.x.v1.json")
	for _, tt := range []struct{ name, dir, want string }{
		{"missing", filepath.Join(empty, "nope"), "no such file or directory"},
		{"a file", file, "not a directory"},
		{"no schemas", empty, "no *.json schema files there"},
		{"invalid schema", bad, "dev.x.v1.json: schema of dev.x.v1: not a valid JSON Schema"},
		{"unversioned beside versioned", mixed, "dev.x has no .vN suffix but other versions do"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromDir(tt.dir, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

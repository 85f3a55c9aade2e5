// Package schemas is the I/O edge of the compatibility gate: it gathers the
// event families (from the catalog embedded in shared/events, or from a
// folder of schema files), holds each against its rule with
// shared/events/compat, prints the verdicts, and registers the families
// with a Confluent-compatible schema registry.
package schemas

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/compat"
)

// Version is one schema of a family, raw and parsed.
type Version struct {
	Type   string
	Number int
	Raw    []byte
	Schema *compat.Schema
}

// Family is every version of one event type, with the rule they must keep.
type Family struct {
	Name     string
	Rule     compat.Mode
	Versions []Version // oldest first
}

// FromCatalog returns the families of the embedded catalog, each with the
// rule shared/events declares for it.
func FromCatalog() ([]Family, error) {
	var out []Family
	for _, f := range events.Families() {
		fam := Family{Name: f.Name, Rule: f.Rule}
		for _, typ := range f.Types {
			raw, ok := events.Schema(typ)
			if !ok {
				return nil, fmt.Errorf("catalog type %s has no embedded schema", typ)
			}
			v, err := newVersion(typ, raw)
			if err != nil {
				return nil, err
			}
			fam.Versions = append(fam.Versions, v)
		}
		out = append(out, fam)
	}
	return out, nil
}

// FromDir reads every *.json file of dir as the schema of the type its name
// gives (dev.orderflow.order.created.v2.json). A family takes rule when it
// is set, else the rule the catalog declares for a family of that name
// (the default for one it does not know).
func FromDir(dir string, rule compat.Mode) ([]Family, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--dir %s: not a directory", dir)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("--dir %s: no *.json schema files there", dir)
	}
	byName := map[string]*Family{}
	for _, p := range paths {
		typ := strings.TrimSuffix(filepath.Base(p), ".json")
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		v, err := newVersion(typ, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		name, _, _ := compat.SplitType(typ)
		f, ok := byName[name]
		if !ok {
			r := rule
			if r == "" {
				r = events.Compatibility(name)
			}
			f = &Family{Name: name, Rule: r}
			byName[name] = f
		}
		f.Versions = append(f.Versions, v)
	}
	out := make([]Family, 0, len(byName))
	for _, f := range byName {
		sort.Slice(f.Versions, func(i, j int) bool { return f.Versions[i].Number < f.Versions[j].Number })
		if len(f.Versions) > 1 && f.Versions[0].Number == 0 {
			return nil, fmt.Errorf("family %s: %s has no .vN suffix but other versions do", f.Name, f.Versions[0].Type)
		}
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func newVersion(typ string, raw []byte) (Version, error) {
	s, err := compat.Parse(raw)
	if err != nil {
		return Version{}, fmt.Errorf("schema of %s: %w", typ, err)
	}
	_, n, _ := compat.SplitType(typ)
	return Version{Type: typ, Number: n, Raw: raw, Schema: s}, nil
}

// Verdict is the outcome for one family.
type Verdict struct {
	Family   Family
	Findings []compat.Finding
}

// OK: every version keeps the family's rule.
func (v Verdict) OK() bool { return len(v.Findings) == 0 }

// Check holds every family against its rule.
func Check(families []Family) []Verdict {
	out := make([]Verdict, 0, len(families))
	for _, f := range families {
		out = append(out, Verdict{Family: f, Findings: compat.CheckFamily(f.Rule, versionsOf(f))})
	}
	return out
}

func versionsOf(f Family) []compat.Version {
	vs := make([]compat.Version, len(f.Versions))
	for i, v := range f.Versions {
		vs[i] = compat.Version{Type: v.Type, Number: v.Number, Schema: v.Schema}
	}
	return vs
}

// ErrIncompatible is returned when a family breaks its rule.
var ErrIncompatible = errors.New("incompatible schema changes")

// Report prints one line per family (rule, versions, verdict) and each
// breaking change under it; it returns ErrIncompatible (wrapped, with a
// count) when any family fails.
func Report(w io.Writer, verdicts []Verdict) error {
	failed, changes := 0, 0
	for _, v := range verdicts {
		names := make([]string, len(v.Family.Versions))
		for i, x := range v.Family.Versions {
			names[i] = versionLabel(x)
		}
		status := "ok"
		switch {
		case !v.OK():
			status = fmt.Sprintf("BREAKING (%d)", len(v.Findings))
			failed++
			changes += len(v.Findings)
		case len(v.Family.Versions) == 1:
			status = "ok (one version)"
		}
		fmt.Fprintf(w, "%-40s %-20s %-12s %s\n", v.Family.Name, v.Family.Rule, strings.Join(names, ","), status)
		for _, f := range v.Findings {
			fmt.Fprintf(w, "    %s -> %s  %s\n", shortVersion(f.Old), shortVersion(f.New), f.Change)
		}
	}
	fmt.Fprintf(w, "%s, %d breaking\n", families(len(verdicts)), failed)
	if failed > 0 {
		return fmt.Errorf("%w: %d change(s) in %s", ErrIncompatible, changes, families(failed))
	}
	return nil
}

func families(n int) string {
	if n == 1 {
		return "1 family"
	}
	return fmt.Sprintf("%d families", n)
}

func versionLabel(v Version) string {
	if v.Number == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d", v.Number)
}

func shortVersion(typ string) string {
	if _, n, ok := compat.SplitType(typ); ok {
		return fmt.Sprintf("v%d", n)
	}
	return typ
}

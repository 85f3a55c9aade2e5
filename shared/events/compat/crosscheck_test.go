package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EnvRequireTools makes a missing jsoncompat a failure rather than a skip:
// `make test` sets it, having installed jsoncompat (make schemas-check).
const EnvRequireTools = "ORDERFLOW_REQUIRE_TOOLS"

// jsoncompatPython is the venv scripts/jsoncompat.sh makes.
func jsoncompatPython(t *testing.T) string {
	t.Helper()
	venv := os.Getenv("ORDERFLOW_JSONCOMPAT_VENV")
	if venv == "" {
		venv = filepath.Join("..", "..", "..", ".cache", "venv-jsoncompat")
	}
	matches, _ := filepath.Glob(filepath.Join(venv, ".jsoncompat-*"))
	py := filepath.Join(venv, "bin", "python")
	if len(matches) == 0 {
		msg := "jsoncompat is not installed in " + venv + ": run scripts/jsoncompat.sh (make test does)"
		if os.Getenv(EnvRequireTools) != "" {
			t.Fatalf("%s, and %s is set", msg, EnvRequireTools)
		}
		t.Skip(msg)
	}
	return py
}

// disagreement is a pair and direction on which jsoncompat and this checker
// differ, with the verdict on who is right. witness, when set, is an
// instance that decides it: valid under the schema that must be the
// narrower one and invalid under the wider, so the "compatible" verdict is
// wrong; the test validates it with the jsonschema library.
type disagreement struct {
	jsoncompatSays bool
	right          string // "ours" or "jsoncompat"
	witness        string
	why            string
}

// jsoncompat 0.3.1 differs from this checker in three places, all on
// purpose on our side:
//   - it does not hold "pattern" against anything (an added or changed
//     pattern passes both ways), which lets real breaks through: ours;
//   - where a pattern changed to one that happens to include the old one,
//     or a oneOf widens a type, it proves what we only call "cannot prove":
//     jsoncompat is right, we are conservative (an unproven change fails
//     the gate rather than pass unexamined; whoever needs it allows it by
//     a new family or the NONE rule, knowingly).
var disagreements = map[string]disagreement{
	"pattern-added v1->v2 BACKWARD": {true, "ours", `{"a":"x","b":"abc"}`,
		"v2 adds pattern ^[A-Z]{3}$ to b: a v1 event with b \"abc\" is refused by a v2 reader"},
	"pattern-changed v1->v2 FORWARD": {true, "ours", `{"a":"x","b":"AB"}`,
		"v2 widens b's pattern to ^[A-Z]{2,4}$: a v2 event with b \"AB\" is refused by a v1 reader"},
	"pattern-changed v1->v2 BACKWARD": {true, "jsoncompat", "",
		"^[A-Z]{3}$ is included in ^[A-Z]{2,4}$, but we do not decide regular-expression inclusion: cannot prove"},
	"unsupported-keyword v1->v2 BACKWARD": {true, "jsoncompat", "",
		"oneOf [string, integer] does include string, but we do not reason about oneOf: cannot prove"},
}

type jsoncompatResult struct {
	Deserializer any `json:"deserializer"` // bool, or an error string
	Serializer   any `json:"serializer"`
}

// TestCrossCheckWithJsoncompat runs jsoncompat on every pair of versions of
// every fixture family and asserts it agrees with this checker, except for
// the documented disagreements above, which must be exactly as documented.
//
// The mapping: jsoncompat's role "deserializer" (a reader on the new schema
// reads data written under the old) is Confluent's BACKWARD, and
// "serializer" (a writer on the new schema keeps old readers working) is
// FORWARD; FULL is both and the transitive rules are more pairs, which the
// test covers by checking every pair, not only neighbours. Our "cannot
// prove" counts as incompatible. The driver drops the top-level $id before
// jsoncompat sees a schema (testdata/jsoncompat_check.py says why).
func TestCrossCheckWithJsoncompat(t *testing.T) {
	py := jsoncompatPython(t)
	type pair struct {
		family   string
		old, new int
	}
	var pairs []pair
	var input []map[string]string
	families, err := os.ReadDir(filepath.Join("testdata", "families"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		var versions []int
		for _, v := range family(t, fam.Name()) {
			versions = append(versions, v.Number)
		}
		sort.Ints(versions)
		for i := range versions {
			for j := i + 1; j < len(versions); j++ {
				pairs = append(pairs, pair{fam.Name(), versions[i], versions[j]})
				input = append(input, map[string]string{
					"old": fixturePath(fam.Name(), versions[i]), "new": fixturePath(fam.Name(), versions[j])})
			}
		}
	}
	if len(pairs) < 25 {
		t.Fatalf("only %d fixture pairs", len(pairs))
	}
	results := runJsoncompat(t, py, input)
	seen := map[string]bool{}
	agreed := 0
	for i, p := range pairs {
		old, next := loadFixture(t, p.family, p.old), loadFixture(t, p.family, p.new)
		for _, d := range []struct {
			dir     Direction
			theirs  any
			changes []Change
		}{
			{BreaksBackward, results[i].Deserializer, CheckBackward(old, next)},
			{BreaksForward, results[i].Serializer, CheckForward(old, next)},
		} {
			key := fmt.Sprintf("%s v%d->v%d %s", p.family, p.old, p.new, d.dir)
			theirs, ok := d.theirs.(bool)
			if !ok {
				t.Errorf("%s: jsoncompat gave no verdict: %v", key, d.theirs)
				continue
			}
			ours := len(d.changes) == 0
			known, documented := disagreements[key]
			switch {
			case theirs == ours && !documented:
				agreed++
			case theirs == ours && documented:
				t.Errorf("%s: documented as a disagreement, but both now say compatible=%v: update the table", key, ours)
			case !documented:
				t.Errorf("%s: jsoncompat says compatible=%v, we say %v (%v)", key, theirs, ours, d.changes)
			case known.jsoncompatSays != theirs:
				t.Errorf("%s: documented jsoncompat verdict %v, it now says %v", key, known.jsoncompatSays, theirs)
			default:
				seen[key] = true
				t.Logf("known disagreement %s: jsoncompat compatible=%v, ours %v; right: %s (%s)", key, theirs, ours, known.right, known.why)
				if known.witness != "" {
					proveWitness(t, key, p.family, p.old, p.new, d.dir, known.witness)
				}
			}
		}
	}
	for key := range disagreements {
		if !seen[key] {
			t.Errorf("documented disagreement %s was not observed", key)
		}
	}
	t.Logf("%d pair-directions agree, %d documented disagreements", agreed, len(seen))
}

// runJsoncompat runs the driver once on every pair ({"old","new"} file paths).
func runJsoncompat(t *testing.T, py string, pairs []map[string]string) []jsoncompatResult {
	t.Helper()
	stdin, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "jsoncompat_check.py"))
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jsoncompat: %v\n%s", err, stderr.String())
	}
	var results []jsoncompatResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(pairs) {
		t.Fatalf("jsoncompat answered %d results for %d pairs (%v): %.500s", len(results), len(pairs), err, out)
	}
	return results
}

// TestCrossCheckMutationsWithJsoncompat: the edits of the real catalog's
// schemas (catalogMutations: required fields, bounds, enums, content
// models, types) get the same verdict from jsoncompat as from us, in both
// directions, with no exception.
func TestCrossCheckMutationsWithJsoncompat(t *testing.T) {
	py := jsoncompatPython(t)
	muts := catalogMutations(t)
	dir := t.TempDir()
	var input []map[string]string
	for i, m := range muts {
		pair := map[string]string{}
		for side, doc := range map[string]any{"old": m.old, "new": m.new} {
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, fmt.Sprintf("%d.%s.json", i, side))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			pair[side] = path
		}
		input = append(input, pair)
	}
	results := runJsoncompat(t, py, input)
	for i, m := range muts {
		old, next := mustSchema(t, m.old), mustSchema(t, m.new)
		for _, d := range []struct {
			dir    string
			theirs any
			ours   bool
		}{
			{"BACKWARD", results[i].Deserializer, len(CheckBackward(old, next)) == 0},
			{"FORWARD", results[i].Serializer, len(CheckForward(old, next)) == 0},
		} {
			if theirs, ok := d.theirs.(bool); !ok || theirs != d.ours {
				t.Errorf("%s %s: jsoncompat says compatible=%v, we say %v", m.name, d.dir, d.theirs, d.ours)
			}
		}
	}
	t.Logf("%d catalog mutations, both directions: jsoncompat and this checker agree", len(muts))
}

// proveWitness shows that the "compatible" verdict is wrong: the witness is
// valid under the schema whose data must be readable and refused by the
// reader's schema.
func proveWitness(t *testing.T, key, family string, oldV, newV int, dir Direction, witness string) {
	t.Helper()
	writer, reader := oldV, newV // BACKWARD: old data, new reader
	if dir == BreaksForward {
		writer, reader = newV, oldV
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(witness))
	if err != nil {
		t.Fatal(err)
	}
	if err := validator(t, family, writer).Validate(inst); err != nil {
		t.Errorf("%s: witness %s is not valid under v%d: %v", key, witness, writer, err)
	}
	if err := validator(t, family, reader).Validate(inst); err == nil {
		t.Errorf("%s: witness %s is valid under v%d too: it proves nothing", key, witness, reader)
	}
}

func validator(t *testing.T, family string, v int) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(fixturePath(family, v))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

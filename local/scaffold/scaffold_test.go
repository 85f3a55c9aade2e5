package scaffold

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/shared/events"
)

const treeRoot = "../.."

// Bad requests are refused by name, before anything is written.
func TestBadRequestsNameWhatIsWrong(t *testing.T) {
	long := strings.Repeat("s", MaxNameLength+1)
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{"no name", Request{On: []string{"order.confirmed"}}, []string{"needs a name"}},
		{"a name that is taken", Request{Name: "notify", On: []string{"order.confirmed"}}, []string{`"notify" is taken`, "functions/notify exists"}},
		{"upper case", Request{Name: "Stepprobe", On: []string{"order.confirmed"}}, []string{`"Stepprobe"`, "not a DNS label"}},
		{"underscore", Request{Name: "ship_ping", On: []string{"order.confirmed"}}, []string{"not a DNS label"}},
		{"starts with a digit", Request{Name: "9lives", On: []string{"order.confirmed"}}, []string{"not a DNS label", "starting with a letter"}},
		{"ends with a dash", Request{Name: "ship-", On: []string{"order.confirmed"}}, []string{"not a DNS label"}},
		{"too long", Request{Name: long, On: []string{"order.confirmed"}}, []string{"at most", "-outbox-sweep"}},
		{"a catalog producer that is no function", Request{Name: "client", On: []string{"order.confirmed"}}, []string{`"client"`, "not functions"}},
		{"its objects exist in knative/base", Request{Name: "orders", On: []string{"order.confirmed"}}, []string{`"orders" is taken in knative/base`, "KafkaSink"}},
		{"its database key exists", Request{Name: "payment-gateway", On: []string{"order.confirmed"}}, []string{"taken", "database key"}},
		{"as its import, the same as a function's", Request{Name: "no-tify", On: []string{"order.confirmed"}}, []string{"too like notify"}},
		{"no --on", Request{Name: "stepprobe"}, []string{"--on", "at least one"}},
		{"--on a type not in the catalog", Request{Name: "stepprobe", On: []string{"order.shipped"}}, []string{"--on order.shipped", "not in the event catalog", "order.confirmed"}},
		{"--on an empty item", Request{Name: "stepprobe", On: []string{"order.confirmed,"}}, []string{"--on", "empty"}},
		{"--on a query", Request{Name: "stepprobe", On: []string{"order.query"}}, []string{"--on order.query", "not on a topic"}},
		{"--on a superseded version", Request{Name: "stepprobe", On: []string{events.OrderCreatedV1}}, []string{"superseded by " + events.OrderCreated}},
		{"--on the ping tick", Request{Name: "stepprobe", On: []string{events.Tick}}, []string{"not on a topic"}},
		{"--emits a type that exists", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "order.confirmed"}, []string{"--emits order.confirmed", "already has dev.orderflow.order.confirmed"}},
		{"--emits an old family under a new version", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "dev.orderflow.order.created.v1"}, []string{"already has"}},
		{"--emits a later version", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "stepprobe.done.v2"}, []string{"starts at v1"}},
		{"--emits one word", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "shipment"}, []string{"ENTITY.EVENT"}},
		{"--emits upper case", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "Shipment.Booked"}, []string{"ENTITY.EVENT"}},
		{"--emits a name package events declares", Request{Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "field.error"}, []string{"already declares FieldError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Root = treeRoot
			p, err := NewPlan(tt.req)
			if err == nil {
				t.Fatalf("planned %d files, want an error naming %q", len(p.Files), tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := NewPlan(Request{Root: t.TempDir(), Name: "stepprobe", On: []string{"order.confirmed"}}); err == nil || !strings.Contains(err.Error(), "not an orderflow tree") {
		t.Errorf("outside a tree: %v", err)
	}
}

func planFiles(p *Plan) map[string]File {
	out := map[string]File{}
	for _, f := range p.Files {
		out[f.Path] = f
	}
	return out
}

// What a plan writes: the folder, the manifest, the catalog entries, and
// one line each in the workspace, the host's registry and the Secret.
func TestPlanWiresTheStepEverywhere(t *testing.T) {
	p, err := NewPlan(Request{Root: treeRoot, Name: "stepprobe", On: []string{"order.confirmed", "dev.orderflow.order.created.v2"}, Emits: "stepprobe.done"})
	if err != nil {
		t.Fatal(err)
	}
	files := planFiles(p)
	for _, path := range []string{"functions/stepprobe/function.go", "functions/stepprobe/decide.go", "functions/stepprobe/decide_test.go",
		"functions/stepprobe/function_test.go", "functions/stepprobe/func.yaml", "functions/stepprobe/go.mod", "knative/base/stepprobe.yaml",
		"shared/events/schemas/dev.orderflow.stepprobe.done.v1.json"} {
		if f, ok := files[path]; !ok || f.Old != nil {
			t.Errorf("%s: not created (%v)", path, ok)
		}
	}
	changed := func(path string, added ...string) {
		t.Helper()
		f, ok := files[path]
		if !ok || f.Old == nil {
			t.Fatalf("%s: not changed", path)
		}
		for _, a := range added {
			if strings.Contains(squeeze(f.Old), squeeze([]byte(a))) || !strings.Contains(squeeze(f.New), squeeze([]byte(a))) {
				t.Errorf("%s: %q not added", path, a)
			}
		}
	}
	changed(WorkFile, "\t./functions/stepprobe\n", "orderflow.dev/functions/stepprobe v0.1.0 => ./functions/stepprobe\n")
	changed(LocalModFile, "\torderflow.dev/functions/stepprobe v0.1.0\n")
	changed(RegistryFile, `stepprobe "orderflow.dev/functions/stepprobe"`, `"stepprobe":`)
	changed(Kustomization, "  - stepprobe.yaml")
	changed(ConfigFile, "  stepprobe: postgres://orderflow:orderflow@orderflow-postgres:5432/orderflow_stepprobe?")
	changed(DBEnvExample, "stepprobe=postgres://orderflow:CHANGE-ME@orderflow-postgres:5432/orderflow_stepprobe?")
	changed(PayloadsFile, "type StepprobeDoneData struct", "func (p StepprobeDoneData) key() string")
	changed(CatalogFile, `StepprobeDone = "dev.orderflow.stepprobe.done.v1"`, `TopicStepprobe = "orderflow.stepprobe"`,
		`def[StepprobeDoneData](Spec{Type: StepprobeDone, Kind: KindFact, Producer: "stepprobe", Topic: TopicStepprobe`)
	// A consumer of a family is a consumer of each of its versions (the
	// catalog's own test holds them equal).
	catalog := string(files[CatalogFile].New)
	for _, c := range []string{"OrderConfirmed", "OrderCreated", "OrderCreatedV1"} {
		i := strings.Index(catalog, "Spec{Type: "+c+",")
		end := strings.Index(catalog[i:], "})")
		if i < 0 || !strings.Contains(catalog[i:i+end], `"stepprobe"}`) {
			t.Errorf("%s: stepprobe not among its consumers", c)
		}
	}
	fn := string(files["functions/stepprobe/function.go"].New)
	for _, want := range []string{`handler.New("stepprobe", handler.Publishes())`, "handler.On(app, events.OrderConfirmed, f.onOrderConfirmed)",
		"handler.On(app, events.OrderCreated, f.onOrderCreated)", "app.Ignore(events.OrderCancelled)", "handler.Lifecycle"} {
		if !strings.Contains(fn, want) {
			t.Errorf("function.go lacks %q:\n%s", want, fn)
		}
	}
	manifest := string(files["knative/base/stepprobe.yaml"].New)
	for _, want := range []string{"kind: KafkaSource", "consumerGroup: orderflow-stepprobe", "name: dlq-stepprobe", "kind: SinkBinding",
		"topic: orderflow.stepprobe", "topicName: orderflow.dlq.stepprobe", "name: stepprobe-outbox-sweep", "- orderflow.orders"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("stepprobe.yaml lacks %q", want)
		}
	}
	if p.Topic != "orderflow.stepprobe" || p.DeadLetterTopic != "orderflow.dlq.stepprobe" || p.Type() != "dev.orderflow.stepprobe.done.v1" {
		t.Errorf("plan %+v", p)
	}
}

// A step that emits nothing gets no K_SINK and no topic of its own.
func TestPlanWithoutEmits(t *testing.T) {
	p, err := NewPlan(Request{Root: treeRoot, Name: "audit", On: []string{"payment.completed,payment.failed"}})
	if err != nil {
		t.Fatal(err)
	}
	files := planFiles(p)
	if _, ok := files[PayloadsFile]; ok {
		t.Error("payloads.go changed without --emits")
	}
	manifest := string(files["knative/base/audit.yaml"].New)
	if strings.Contains(manifest, "SinkBinding") || strings.Contains(manifest, "topic-role: domain") {
		t.Errorf("a SinkBinding or a domain topic without --emits:\n%s", manifest)
	}
	if fn := string(files["functions/audit/function.go"].New); strings.Contains(fn, "Publishes") || !strings.Contains(fn, "events.PaymentRefunded") {
		t.Errorf("function.go:\n%s", fn)
	}
}

// copyTree copies what the scaffold reads and writes of the tree.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range []string{"go.work", "functions", "knative", "shared", "local/go.mod", "local/fnserve", "scripts"} {
		src := filepath.Join(treeRoot, p)
		st, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, p), data, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(treeRoot, path)
			if d.IsDir() {
				if d.Name() == ".func" {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// snapshot is every file under root, by path.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, string(filepath.Separator)+".git"+string(filepath.Separator)) {
			return err
		}
		data, err := os.ReadFile(path)
		out[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A failure after the first write (here: the tidy that follows) leaves
// the tree exactly as it was: nothing half-written.
func TestApplyPutsEverythingBackOnFailure(t *testing.T) {
	root := copyTree(t)
	before := snapshot(t, root)
	p, err := NewPlan(Request{Root: root, Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "stepprobe.done"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("go mod tidy: no network")
	err = p.Apply(func() error {
		// Written by then, and more than the plan (what tidy adds).
		if _, err := os.Stat(filepath.Join(root, "functions", "stepprobe", "function.go")); err != nil {
			t.Errorf("finish ran before the files were written: %v", err)
		}
		return os.WriteFile(filepath.Join(root, "functions", "stepprobe", "go.sum"), []byte("x"), 0o644)
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	root2 := copyTree(t)
	before = snapshot(t, root2)
	p, err = NewPlan(Request{Root: root2, Name: "stepprobe", On: []string{"order.confirmed"}, Emits: "stepprobe.done"})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Apply(func() error { return boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("apply: %v, want the finish error and that nothing was changed", err)
	}
	after := snapshot(t, root2)
	for path, data := range before {
		if after[path] != data {
			t.Errorf("%s differs after the rollback", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s left behind", path)
		}
	}
}

// A checkout with uncommitted changes to a file the scaffold edits, or a
// file in the way of one it creates, is refused before anything is
// written.
func TestDirtyTargetIsRefused(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root := copyTree(t)
	git := func(args ...string) {
		t.Helper()
		c := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "tree")
	if err := os.WriteFile(filepath.Join(root, "go.work"), append(must(os.ReadFile(filepath.Join(root, "go.work"))), "// mine\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(Request{Root: root, Name: "stepprobe", On: []string{"order.confirmed"}})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	if err := p.Apply(nil); err == nil || !strings.Contains(err.Error(), "dirty target") || !strings.Contains(err.Error(), "go.work") {
		t.Fatalf("apply over an uncommitted go.work: %v", err)
	}
	git("checkout", "--", "go.work")
	p, err = NewPlan(Request{Root: root, Name: "stepprobe", On: []string{"order.confirmed"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, BaseDir, "stepprobe.yaml"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(nil); err == nil || !strings.Contains(err.Error(), "knative/base/stepprobe.yaml already exist") {
		t.Fatalf("apply over an existing file: %v", err)
	}
	after := snapshot(t, root)
	for path, data := range before {
		if !strings.HasSuffix(path, "go.work") && after[path] != data {
			t.Errorf("%s changed", path)
		}
	}
	var added []string
	for path := range after {
		if _, ok := before[path]; !ok {
			added = append(added, path)
		}
	}
	if len(added) != 1 || !strings.HasSuffix(added[0], "stepprobe.yaml") { // the file put in the way
		t.Errorf("new files: %v", added)
	}
}

// squeeze makes runs of spaces one, so gofmt's alignment does not matter.
func squeeze(b []byte) string { return spaces.ReplaceAllString(string(b), " ") }

var spaces = regexp.MustCompile(` +`)

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A binary built before the tree's catalog changed (a type added since)
// is refused: its checks and edits would miss the tree's types.
func TestStaleCatalogIsRefused(t *testing.T) {
	root := copyTree(t)
	schema := filepath.Join(root, SchemasDir, "dev.orderflow.later.added.v1.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewPlan(Request{Root: root, Name: "stepprobe", On: []string{"order.confirmed"}})
	if err == nil || !strings.Contains(err.Error(), "built from another event catalog") || !strings.Contains(err.Error(), "dev.orderflow.later.added.v1") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("%v", err)
	}
	// A taken name is said first: it is the request's fault, whatever the binary.
	if _, err := NewPlan(Request{Root: root, Name: "notify", On: []string{"order.confirmed"}}); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("%v", err)
	}
}

// A new func.yaml keeps the deploy block the functions share (visibility,
// probes) and gets a scale of its own, which func reads as written and
// Knative's rules (as the plane applies them) accept.
func TestNewFuncYAMLHasItsOwnScale(t *testing.T) {
	p, err := NewPlan(Request{Root: treeRoot, Name: "stepprobe", On: []string{"order.confirmed"}})
	if err != nil {
		t.Fatal(err)
	}
	data := planFiles(p)["functions/stepprobe/func.yaml"].New
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "func.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := manifests.LoadFunc(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := f.Scale
	if sc.Min == nil || *sc.Min != 1 || sc.Max == nil || *sc.Max != 2 || sc.Metric == nil || *sc.Metric != "concurrency" ||
		sc.Target == nil || *sc.Target != 10 || sc.Utilization == nil || *sc.Utilization != 70 {
		t.Fatalf("scale of the new func.yaml: %+v\n%s", sc, data)
	}
	s := serving.Scale{Min: int(*sc.Min), Max: int(*sc.Max), Metric: *sc.Metric, Target: *sc.Target, Utilization: *sc.Utilization}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	for _, want := range []string{"networking.knative.dev/visibility", "readiness: /health/readiness", "\n  options:\n    # Autoscaling."} {
		if !strings.Contains(string(data), want) {
			t.Errorf("new func.yaml lacks %q:\n%s", want, data)
		}
	}
	for _, other := range []string{"notify", "analytics", "37 deliveries"} {
		if strings.Contains(string(data), other) {
			t.Errorf("new func.yaml carries another function's scale (%q):\n%s", other, data)
		}
	}
}

func TestDeployBlockOptions(t *testing.T) {
	const opts = "  options:\n    scale:\n      min: 1\n"
	for _, tt := range []struct{ in, without, with string }{
		{"deploy:\n  labels: []\n", "deploy:\n  labels: []\n", "deploy:\n  labels: []\n" + opts},
		{"deploy:\n  labels: []", "deploy:\n  labels: []", "deploy:\n  labels: []\n" + opts},
		{"deploy:\n  options:\n    # why\n    scale:\n      min: 0\n\n  labels: []\n", "deploy:\n  labels: []\n", "deploy:\n  labels: []\n" + opts},
		{"deploy:\n  options:\n    scale: {min: 0}\nbuild:\n  builder: host\n", "deploy:\nbuild:\n  builder: host\n", "deploy:\n" + opts + "build:\n  builder: host\n"},
	} {
		without := withoutOptions(tt.in)
		if without != tt.without {
			t.Errorf("withoutOptions(%q) = %q, want %q", tt.in, without, tt.without)
		}
		if with := withOptions(without, opts); with != tt.with {
			t.Errorf("withOptions(%q) = %q, want %q", without, with, tt.with)
		}
	}
}

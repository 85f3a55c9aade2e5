package scaffold

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/local/topicview"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/events/eventlog"
)

// File is one file a plan writes: created (Old is nil) or changed.
type File struct {
	Path string // relative to the root, slash-separated
	Old  []byte // nil: the plan creates it
	New  []byte
}

// Plan is everything `orderflow new function` writes, computed and checked
// before a byte is written (Apply writes it).
type Plan struct {
	Root   string
	Name   string
	Module string
	On     []events.Spec
	Emits  *newType
	// Topic is where its events go (orderflow.<name>; "" without Emits),
	// DeadLetterTopic where its KafkaSource dead-letters.
	Topic, DeadLetterTopic string
	Files                  []File
}

// Type is the new event type's name, "" when the function emits none.
func (p *Plan) Type() string {
	if p.Emits == nil {
		return ""
	}
	return p.Emits.Type
}

// The tree's other files the scaffold edits, relative to the root.
const (
	WorkFile      = "go.work"
	LocalModFile  = "local/go.mod"
	Kustomization = BaseDir + "/kustomization.yaml"
	ConfigFile    = BaseDir + "/config.yaml"
	DBEnvExample  = "knative/overlays/prod/secrets/orderflow-db.env.example"
	DatabaseKeys  = "orderflow-db" // the Secret every func.yaml reads its database URL from
	TopicPrefix   = "orderflow."   // of every topic the tree declares
)

// NewPlan checks req against the tree and computes every file. Any error
// names what is wrong; nothing is written.
func NewPlan(req Request) (*Plan, error) {
	root, err := filepath.Abs(req.Root)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{WorkFile, "functions", Kustomization, CatalogFile, LocalModFile, RegistryFile} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			return nil, fmt.Errorf("%s is not an orderflow tree: no %s", root, p)
		}
	}
	if err := checkName(req.Name); err != nil {
		return nil, err
	}
	fns, err := Functions(root)
	if err != nil {
		return nil, err
	}
	name := req.Name
	if _, err := os.Stat(filepath.Join(root, "functions", name)); err == nil {
		return nil, fmt.Errorf("function name %q is taken: functions/%s exists", name, name)
	}
	for _, f := range fns {
		if importAlias(f.Name) == importAlias(name) {
			return nil, fmt.Errorf("function name %q is too like %s's: both would be imported as %s in %s", name, f.Name, importAlias(name), RegistryFile)
		}
	}
	if err := catalogIsTheTrees(root); err != nil {
		return nil, err
	}
	on, err := onTypes(req.On)
	if err != nil {
		return nil, err
	}
	emits, err := emitsType(req.Emits)
	if err != nil {
		return nil, err
	}
	p := &Plan{Root: root, Name: name, On: on, Emits: emits, Module: modulePrefix(fns) + name,
		DeadLetterTopic: topicview.DeadLetterPrefix + name}
	cat, err := readCatalog(root)
	if err != nil {
		return nil, err
	}
	topicConst := "Topic" + camel(name)
	if emits != nil {
		p.Topic = TopicPrefix + name
		for _, n := range []string{emits.Const, emits.Payload, topicConst} {
			if cat.names[n] {
				return nil, fmt.Errorf("--emits %s: package events (shared/events) already declares %s", req.Emits, n)
			}
		}
	}
	docs, resources, err := baseDocs(root)
	if err != nil {
		return nil, err
	}
	if err := p.checkFree(docs, resources); err != nil {
		return nil, err
	}

	st, err := stepOf(root, fns, p, cat)
	if err != nil {
		return nil, err
	}
	dir := "functions/" + name + "/"
	for _, f := range []struct{ path, tmpl string }{
		{dir + "function.go", functionGo},
		{dir + "decide.go", decideGo},
		{dir + "decide_test.go", decideTestGo},
		{dir + "function_test.go", functionTestGo},
		{dir + "func.yaml", funcYAML},
		{dir + "go.mod", goMod},
	} {
		out, err := render(f.path, f.tmpl, st)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, File{Path: f.path, New: out})
	}
	manifest, err := p.manifest(docs, on)
	if err != nil {
		return nil, err
	}
	p.Files = append(p.Files, File{Path: BaseDir + "/" + name + ".yaml", New: manifest})
	if emits != nil {
		schema, err := newSchema(emits, name, on)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, File{Path: SchemasDir + "/" + emits.Type + ".json", New: schema})
		old, out, err := payloadsEdit(root, name, emits)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, File{Path: PayloadsFile, Old: old, New: out})
	}
	catalog, err := cat.edit(name, on, emits, topicConst, p.Topic)
	if err != nil {
		return nil, err
	}
	p.Files = append(p.Files, File{Path: CatalogFile, Old: cat.src, New: catalog})
	registry, err := renderRegistry(sortedWith(fns, Function{Name: name, Module: p.Module, Dir: "functions/" + name}))
	if err != nil {
		return nil, err
	}
	if err := p.change(RegistryFile, func([]byte) ([]byte, error) { return registry, nil }); err != nil {
		return nil, err
	}
	if err := p.wire(fns); err != nil {
		return nil, err
	}
	if err := p.dryRun(fns); err != nil {
		return nil, err
	}
	return p, nil
}

// stepOf is what the function folder's templates are rendered from: the
// --on types with their constants, payloads and recorded samples, the
// other types on its topics (ignored), and the go directive and func.yaml
// parts the other functions have.
func stepOf(root string, fns []Function, p *Plan, cat *catalogSource) (step, error) {
	var err error
	name, on := p.Name, p.On
	st := step{Name: name, Module: p.Module, Emits: p.Emits, Created: time.Now().UTC().Format(time.RFC3339)}
	if st.GoLine, err = goLine(root, fns); err != nil {
		return step{}, err
	}
	if st.FuncHead, st.Deploy, err = funcYAMLParts(root, fns, name, st.Created); err != nil {
		return step{}, err
	}
	samples := recordedSamples(root)
	topics := map[string]bool{}
	for _, s := range on {
		c, err := cat.constOf(s.Type)
		if err != nil {
			return step{}, err
		}
		topics[s.Topic] = true
		o := onType{Type: s.Type, Short: strings.TrimPrefix(family(s.Type), TypePrefix), Const: c,
			Payload: reflect.TypeOf(s.NewData()).Elem().Name(), Topic: s.Topic, Sample: samples[s.Type]}
		if o.Sample != "" {
			o.SampleVarName = strings.ToLower(c[:1]) + c[1:]
		}
		st.On = append(st.On, o)
	}
	// Everything else on its topics is ignored on purpose: a type it
	// neither reacts to nor ignores would be refused and dead-lettered.
	for _, s := range events.All() {
		if topics[s.Topic] && s.SupersededBy == "" && !slices.ContainsFunc(on, func(o events.Spec) bool { return o.Type == s.Type }) {
			c, err := cat.constOf(s.Type)
			if err != nil {
				return step{}, err
			}
			st.Ignore = append(st.Ignore, c)
		}
	}
	return st, nil
}

// wire adds the one-line edits that put the function in the workspace,
// the local host's module, the kustomization and the database Secret.
func (p *Plan) wire(fns []Function) error {
	name := p.Name
	edits := []struct {
		path string
		edit func([]byte) ([]byte, error)
	}{
		{WorkFile, func(b []byte) ([]byte, error) {
			b, err := insertInBlock(b, WorkFile, "use (", "\t./functions/"+name, "\t./functions/")
			if err != nil {
				return nil, err
			}
			return insertInBlock(b, WorkFile, "replace (", "\t"+p.Module+" v0.1.0 => ./functions/"+name, "\t"+modulePrefix(fns))
		}},
		{LocalModFile, func(b []byte) ([]byte, error) {
			return insertInBlock(b, LocalModFile, "require (", "\t"+p.Module+" v0.1.0", "\t"+modulePrefix(fns))
		}},
		{Kustomization, func(b []byte) ([]byte, error) { return appendResource(b, name+".yaml") }},
		{ConfigFile, func(b []byte) ([]byte, error) { return addSecretKey(b, fns, name) }},
		{DBEnvExample, func(b []byte) ([]byte, error) { return addEnvKey(b, fns, name) }},
	}
	for _, e := range edits {
		if err := p.change(e.path, e.edit); err != nil {
			return err
		}
	}
	return nil
}

// change adds an edit of an existing file to the plan.
func (p *Plan) change(path string, edit func([]byte) ([]byte, error)) error {
	old, err := os.ReadFile(filepath.Join(p.Root, path))
	if err != nil {
		return err
	}
	out, err := edit(slices.Clone(old))
	if err != nil {
		return err
	}
	p.Files = append(p.Files, File{Path: path, Old: old, New: out})
	return nil
}

func sortedWith(fns []Function, f Function) []Function {
	out := append(slices.Clone(fns), f)
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// modulePrefix is what the functions' module paths share before their
// name (orderflow.dev/functions/).
func modulePrefix(fns []Function) string {
	for _, f := range fns {
		if p, ok := strings.CutSuffix(f.Module, "/"+f.Name); ok {
			return p + "/"
		}
	}
	return "orderflow.dev/functions/"
}

// catalogIsTheTrees refuses to scaffold with a catalog (compiled into this
// binary) that is not the tree's: the checks and the edits would be made
// against types the tree does not have, or miss ones it has.
func catalogIsTheTrees(root string) error {
	files, err := filepath.Glob(filepath.Join(root, SchemasDir, "*.json"))
	if err != nil {
		return err
	}
	tree := map[string]bool{}
	var differ []string
	for _, f := range files {
		typ := strings.TrimSuffix(filepath.Base(f), ".json")
		tree[typ] = true
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if mine, ok := events.Schema(typ); !ok || !bytes.Equal(mine, raw) {
			differ = append(differ, typ)
		}
	}
	for _, s := range events.All() {
		if !tree[s.Type] {
			differ = append(differ, s.Type)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("this orderflow was built from another event catalog than %s's (%s differ): rebuild it (make build), or run go run ./local/cmd/orderflow new function ...", root, strings.Join(differ, ", "))
	}
	return nil
}

// checkFree refuses a name whose objects, topics, consumer group, manifest
// file or database key already exist.
func (p *Plan) checkFree(docs []doc, resources []string) error {
	name := p.Name
	want := map[string]string{ // kind/name -> what it would be
		manifests.KindKafkaSource + "/" + name:                  "its KafkaSource",
		manifests.KindPingSource + "/" + name + "-outbox-sweep": "its outbox-sweep PingSource",
		manifests.KindKafkaSink + "/dlq-" + name:                "its dead-letter KafkaSink",
		manifests.KindKafkaTopic + "/" + p.DeadLetterTopic:      "its dead-letter topic",
		manifests.KindSinkBinding + "/" + name:                  "its SinkBinding",
		manifests.KindKafkaSink + "/" + name:                    "the KafkaSink of its events",
		manifests.KindKafkaTopic + "/" + TopicPrefix + name:     "the topic of its events",
		"consumerGroup/" + consumerGroupPrefix(docs) + name:     "its KafkaSource's consumer group",
		"file/" + name + ".yaml":                                "its manifest file",
		"Secret/" + DatabaseKeys + "/" + name:                   "its database key",
	}
	var taken []string
	seen := func(key, where string) {
		if what, ok := want[key]; ok {
			taken = append(taken, fmt.Sprintf("%s (%s) is %s", strings.SplitN(key, "/", 2)[1], what, where))
		}
	}
	for _, d := range docs {
		where := fmt.Sprintf("a %s in %s", d.kind(), d.File)
		seen(d.kind()+"/"+d.name(), where)
		if t, ok := get(d.Obj, "spec", "topicName").(string); ok {
			seen(manifests.KindKafkaTopic+"/"+t, where) // its Kafka name, as well as its object's
		}
		if g, ok := get(d.Obj, "spec", "consumerGroup").(string); ok {
			seen("consumerGroup/"+g, where)
		}
		if d.kind() == "Secret" && d.name() == DatabaseKeys {
			for _, k := range []string{"stringData", "data"} {
				if m, ok := d.Obj[k].(map[string]any); ok {
					if _, ok := m[name]; ok {
						seen("Secret/"+DatabaseKeys+"/"+name, "a key of the Secret in "+d.File)
					}
				}
			}
		}
	}
	for _, r := range resources {
		seen("file/"+r, "listed in "+Kustomization)
	}
	if _, err := os.Stat(filepath.Join(p.Root, BaseDir, name+".yaml")); err == nil {
		seen("file/"+name+".yaml", "a file in "+BaseDir)
	}
	if len(taken) > 0 {
		slices.Sort(taken)
		return fmt.Errorf("function name %q is taken in %s: %s", name, BaseDir, strings.Join(slices.Compact(taken), "; "))
	}
	return nil
}

// consumerGroupPrefix is what the KafkaSources' consumer groups put before
// their function's name (orderflow-).
func consumerGroupPrefix(docs []doc) string {
	for _, d := range docs {
		g, _ := get(d.Obj, "spec", "consumerGroup").(string)
		if pre, ok := strings.CutSuffix(g, d.name()); ok && d.kind() == manifests.KindKafkaSource && g != "" {
			return pre
		}
	}
	return "orderflow-"
}

// goLine is the go directive the other functions' go.mod files carry.
func goLine(root string, fns []Function) (string, error) {
	for _, f := range fns {
		raw, err := os.ReadFile(filepath.Join(root, f.Dir, "go.mod"))
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "go ") {
				return strings.TrimSpace(line), nil
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(root, WorkFile))
	if err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "go ") {
				return strings.TrimSpace(line), nil
			}
		}
	}
	return "", fmt.Errorf("no go directive in the functions' go.mod files nor in %s", WorkFile)
}

// defaultDeploy is a func.yaml deploy block for a tree whose functions do
// not all share one.
const defaultDeploy = `deploy:
  labels:
    # Cluster-local: reachable only from inside the cluster (the KafkaSource
    # dispatcher, the plane locally), never through the ingress.
    # deploy/validate refuses a func.yaml without it.
    - key: networking.knative.dev/visibility
      value: cluster-local
  healthEndpoints:
    liveness: /health/liveness
    readiness: /health/readiness
`

// newFunctionOptions is a new function's deploy.options: its scale, which
// is each function's own (the others' are sized to what feeds them).
const newFunctionOptions = `  options:
    # Autoscaling. func deploy writes these as the revision's
    # autoscaling.knative.dev/* annotations (min-scale, max-scale, metric,
    # target, target-utilization-percentage); deploy/validate checks them
    # against knative/overlays/prod; docs/scaling.md says how to choose.
    # Starting values, to size from what feeds this function:
    # - min 1: no cold start ever; min 0 also needs its outbox-sweep ticks
    #   rarer in the prod overlay, or Knative never gets it to zero.
    # - target 10 deliveries in flight per replica, the pool of PostgreSQL
    #   connections one replica opens (shared/store); 70 % of it aimed at
    #   (Knative's default): 7 each.
    # - max 2: one prod topic (12 partitions, delivered ordered: one in
    #   flight per partition) and its tick bring 13 deliveries at most;
    #   13 / 7 -> 2. Each further topic it reads allows more.
    scale:
      min: 1
      max: 2
      metric: concurrency
      target: 10
      utilization: 70
`

// withoutOptions is a func.yaml deploy block without its options key
// (the lines under it, to the next key of deploy or of the file).
func withoutOptions(block string) string {
	var out []string
	in := false
	for _, l := range strings.SplitAfter(block, "\n") {
		switch {
		case strings.TrimRight(l, "\n") == "  options:":
			in = true
		case in && (strings.TrimSpace(l) == "" || strings.HasPrefix(l, "   ")):
		default:
			in = false
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// withOptions puts options at the end of the deploy key of block (a
// func.yaml from its deploy: line on), before any key of the file that
// follows it.
func withOptions(block, options string) string {
	lines := strings.SplitAfter(block, "\n")
	for i, l := range lines {
		if i > 0 && l != "" && l[0] != ' ' && l[0] != '\n' && l[0] != '#' {
			return strings.Join(lines[:i], "") + options + strings.Join(lines[i:], "")
		}
	}
	if !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	return block + options
}

// funcYAMLParts are the head (specVersion to namespace) and the deploy
// block of a new func.yaml, as the other functions have them: their
// specVersion and namespace, and the deploy block (visibility, probes)
// they all share, with the new function's own scale.
func funcYAMLParts(root string, fns []Function, name, created string) (head, deploy string, err error) {
	specVersion, namespace := "0.36.0", "orderflow"
	var blocks []string
	for _, f := range fns {
		raw, err := os.ReadFile(filepath.Join(root, f.Dir, "func.yaml"))
		if err != nil {
			return "", "", err
		}
		var fy struct {
			SpecVersion string `json:"specVersion"`
			Namespace   string `json:"namespace"`
		}
		if err := yaml.Unmarshal(raw, &fy); err != nil {
			return "", "", fmt.Errorf("%s/func.yaml: %w", f.Dir, err)
		}
		if fy.SpecVersion != "" {
			specVersion = fy.SpecVersion
		}
		if fy.Namespace != "" {
			namespace = fy.Namespace
		}
		if i := bytes.Index(raw, []byte("\ndeploy:")); i >= 0 {
			blocks = append(blocks, withoutOptions(string(raw[i+1:])))
		}
	}
	deploy = defaultDeploy
	if len(blocks) > 0 && len(blocks) == len(fns) && len(slices.Compact(slices.Clone(blocks))) == 1 &&
		!strings.Contains(blocks[0], fns[0].Name) {
		deploy = blocks[0]
	}
	deploy = withOptions(deploy, newFunctionOptions)
	head = fmt.Sprintf("specVersion: %s\nname: %s\nruntime: go\ncreated: %s\ninvoke: http\nnamespace: %s\n", specVersion, name, created, namespace)
	return head, deploy, nil
}

// recordedSamples are a payload of each type the committed event log holds
// (shared/events/testdata), for the new function's edge test.
func recordedSamples(root string) map[string]string {
	out := map[string]string{}
	log, err := eventlog.ReadFile(filepath.Join(root, EventsDir, "testdata", eventlog.V2))
	if err != nil {
		return out
	}
	for _, e := range log {
		if _, seen := out[e.Type()]; !seen {
			if _, err := events.Decode(e.Type(), e.Data()); err == nil {
				out[e.Type()] = string(bytes.TrimSpace(e.Data()))
			}
		}
	}
	return out
}

// insertInBlock puts line into the parenthesized block of file that starts
// with opener (go.work's use and replace, a go.mod require), among the
// lines starting with near, in sorted order.
func insertInBlock(b []byte, file, opener, line, near string) ([]byte, error) {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != opener || !blockHas(lines[i+1:], near) {
			continue
		}
		at := -1
		for j := i + 1; j < len(lines) && strings.TrimSpace(lines[j]) != ")"; j++ {
			if strings.HasPrefix(lines[j], near) {
				if lines[j] == line {
					return nil, fmt.Errorf("%s already has %q", file, strings.TrimSpace(line))
				}
				if lines[j] < line {
					at = j + 1
				} else if at < 0 {
					at = j
				}
			}
		}
		return []byte(strings.Join(slices.Insert(lines, at, line), "\n")), nil
	}
	return nil, fmt.Errorf("%s: no %q block holding %q lines to add %q to", file, opener, strings.TrimSpace(near), strings.TrimSpace(line))
}

func blockHas(lines []string, near string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == ")" {
			return false
		}
		if strings.HasPrefix(l, near) {
			return true
		}
	}
	return false
}

// appendResource adds a file to the end of the kustomization's resources.
func appendResource(b []byte, file string) ([]byte, error) {
	lines := strings.Split(string(b), "\n")
	in, last := false, -1
	for i, l := range lines {
		switch {
		case strings.TrimSpace(l) == "resources:":
			in = true
		case in && strings.HasPrefix(strings.TrimSpace(l), "- "):
			last = i
		case in && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			in = false
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("%s: no resources list to add %s to", Kustomization, file)
	}
	indent := lines[last][:strings.Index(lines[last], "-")]
	return []byte(strings.Join(slices.Insert(lines, last+1, indent+"- "+file), "\n")), nil
}

// databaseURL is the database URL of a new function, made from a sibling's
// (the same server, a database named after the new function).
func databaseURL(sibling, siblingName, name string) (string, error) {
	u, err := url.Parse(sibling)
	if err != nil || u.Scheme == "" || u.Path == "" {
		return "", fmt.Errorf("cannot make a database URL for %s from %s's", name, siblingName)
	}
	snake := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	db, ok := strings.CutSuffix(strings.TrimPrefix(u.Path, "/"), snake(siblingName))
	if !ok {
		db = "orderflow_"
	}
	u.Path = "/" + db + snake(name)
	return u.String(), nil
}

// addSecretKey gives the new function a key in the orderflow-db Secret of
// config.yaml (its func.yaml reads {{ secret:orderflow-db:NAME }}), after
// the others, made from the first function's.
func addSecretKey(b []byte, fns []Function, name string) ([]byte, error) {
	lines := strings.Split(string(b), "\n")
	in := false
	last, sibling, siblingName := -1, "", ""
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case t == "stringData:":
			in = true
			continue
		case in && strings.HasPrefix(l, "  ") && t != "" && !strings.HasPrefix(t, "#"):
			key, value, _ := strings.Cut(t, ":")
			last = i
			if sibling == "" && slices.ContainsFunc(fns, func(f Function) bool { return f.Name == key }) {
				sibling, siblingName = strings.TrimSpace(value), key
			}
		case in && t != "" && !strings.HasPrefix(l, " "):
			in = false
		}
	}
	if last < 0 || sibling == "" {
		return nil, fmt.Errorf("%s: no stringData of Secret %s holding a function's database URL", ConfigFile, DatabaseKeys)
	}
	u, err := databaseURL(sibling, siblingName, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return []byte(strings.Join(slices.Insert(lines, last+1, "  "+name+": "+u), "\n")), nil
}

// addEnvKey does for the prod overlay's example env file what addSecretKey
// does for the base's Secret.
func addEnvKey(b []byte, fns []Function, name string) ([]byte, error) {
	lines := strings.Split(string(b), "\n")
	last, sibling, siblingName := -1, "", ""
	for i, l := range lines {
		key, value, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		last = i
		if sibling == "" && slices.ContainsFunc(fns, func(f Function) bool { return f.Name == key }) {
			sibling, siblingName = value, key
		}
	}
	if last < 0 || sibling == "" {
		return nil, fmt.Errorf("%s: no KEY=URL line of a function to follow", DBEnvExample)
	}
	u, err := databaseURL(sibling, siblingName, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DBEnvExample, err)
	}
	return []byte(strings.Join(slices.Insert(lines, last+1, name+"="+u), "\n")), nil
}

// dryRun loads knative/base as it would be after the plan, in a copy, the
// way the local plane does (every object typed, every reference resolved
// against the functions): a manifest the plane would refuse is refused
// here, before the tree is touched.
func (p *Plan) dryRun(fns []Function) error {
	stage, err := os.MkdirTemp("", "orderflow-new-function-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	base := filepath.Join(stage, "base")
	if err := os.CopyFS(base, os.DirFS(filepath.Join(p.Root, BaseDir))); err != nil {
		return err
	}
	for _, f := range p.Files {
		if rel, ok := strings.CutPrefix(f.Path, BaseDir+"/"); ok {
			if err := os.WriteFile(filepath.Join(base, rel), f.New, 0o644); err != nil {
				return err
			}
		}
	}
	set, err := manifests.Load(base)
	if err == nil {
		names := []string{p.Name}
		for _, f := range fns {
			names = append(names, f.Name)
		}
		err = manifests.Resolve(set, manifests.WithServices(names...))
	}
	if err != nil {
		return fmt.Errorf("the scaffolded %s would not load (a bug of the scaffold, or a tree it does not know): %w", BaseDir, err)
	}
	return nil
}

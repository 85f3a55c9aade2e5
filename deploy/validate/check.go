package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/IBM/sarama"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	kafkabindingsv1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/bindings/v1"
	kafkasinkv1alpha1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	kafkasourcesv1beta1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/sources/v1beta1"
	"knative.dev/eventing-kafka-broker/control-plane/pkg/security"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/yaml"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/shared/events"
)

// Problem is one thing wrong with a rendered object. Its text names the
// file, the object and the field, like knlocal/manifests' errors:
//
//	knative/base/order.yaml (patched by knative/overlays/prod/kustomization.yaml): KafkaSource "order": spec.delivery.backofPolicy: unknown field
type Problem struct {
	Where string // file: Kind "name"
	Field string
	Msg   string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Where + ": " + p.Msg
	}
	return p.Where + ": " + p.Field + ": " + p.Msg
}

// Function is what the checks need of a function folder.
type Function struct {
	Name string
	File string // its func.yaml, repository-relative
	// SecretRefs and ConfigMapRefs are the {{ secret:NAME:KEY }} and
	// {{ configMap:NAME:KEY }} values of its run.envs, as "NAME:KEY".
	SecretRefs    []string
	ConfigMapRefs []string
	// Labels are its deploy.labels, which func deploy puts on the Service.
	Labels map[string]string
	// Scale is its deploy.options.scale (scale.go).
	Scale FuncScale
}

// VisibilityLabel makes a Knative Service cluster-local when its value is
// ClusterLocal: no route from outside the cluster.
const (
	VisibilityLabel = "networking.knative.dev/visibility"
	ClusterLocal    = "cluster-local"
)

var (
	keyFromSecret    = regexp.MustCompile(`^{{\s*secret:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
	keyFromConfigMap = regexp.MustCompile(`^{{\s*configMap:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
)

// LoadFunctions reads functions/*/func.yaml under root.
func LoadFunctions(root string) ([]Function, error) {
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		return nil, err
	}
	var out []Function
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var w struct {
			Name string `json:"name"`
			Run  struct {
				Envs []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"envs"`
			} `json:"run"`
			Deploy struct {
				Labels []struct {
					Key   string `json:"key"`
					Value string `json:"value"`
				} `json:"labels"`
			} `json:"deploy"`
		}
		rel, _ := filepath.Rel(root, f)
		if err := yaml.Unmarshal(data, &w); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		fn := Function{Name: w.Name, File: filepath.ToSlash(rel), Labels: map[string]string{}, Scale: ReadScale(data)}
		for _, l := range w.Deploy.Labels {
			fn.Labels[l.Key] = l.Value
		}
		for _, e := range w.Run.Envs {
			if m := keyFromSecret.FindStringSubmatch(e.Value); m != nil {
				fn.SecretRefs = append(fn.SecretRefs, m[1]+":"+m[2])
			}
			if m := keyFromConfigMap.FindStringSubmatch(e.Value); m != nil {
				fn.ConfigMapRefs = append(fn.ConfigMapRefs, m[1]+":"+m[2])
			}
		}
		out = append(out, fn)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no functions/*/func.yaml under %s", root)
	}
	return out, nil
}

// checker accumulates what the per-object pass learns for the
// cross-reference pass.
type checker struct {
	probs        []Problem
	undecoded    int
	catalogSpecs []events.Spec
	fns          map[string]Function
	topics       map[string]*topicDecl     // Kafka topic name
	sinks        map[string]*sinkDecl      // ns/name
	sources      []*sourceDecl             // KafkaSources
	bindings     []*bindingDecl            // SinkBindings
	pings        []*pingDecl               // PingSources
	secrets      map[string]*corev1.Secret // ns/name
	configs      map[string]*corev1.ConfigMap
	objs         map[string]manifests.Object // ns/name of secrets, for messages
}

type topicDecl struct {
	obj manifests.Object
	t   *manifests.StrimziTopic
}
type sinkDecl struct {
	obj manifests.Object
	s   *kafkasinkv1alpha1.KafkaSink
}
type sourceDecl struct {
	obj manifests.Object
	s   *kafkasourcesv1beta1.KafkaSource
	// refused: the webhooks refuse it (reported already); nothing is
	// reasoned about what it would run.
	refused bool
}
type bindingDecl struct {
	obj manifests.Object
	b   *sourcesv1.SinkBinding
}
type pingDecl struct {
	obj manifests.Object
	p   *sourcesv1.PingSource
}

func (c *checker) fail(o manifests.Object, field, format string, a ...any) {
	c.probs = append(c.probs, Problem{Where: o.Where(), Field: field, Msg: fmt.Sprintf(format, a...)})
}

// problems records what manifests found wrong with o.
func (c *checker) problems(o manifests.Object, probs []manifests.FieldProblem) {
	for _, p := range probs {
		c.probs = append(c.probs, Problem{Where: o.Where(), Field: p.Field, Msg: p.Msg})
	}
}

func (c *checker) decode(o manifests.Object, into any) bool {
	probs := DecodeStrict(o.JSON, into)
	if len(probs) > 0 {
		c.undecoded++
	}
	c.problems(o, probs)
	return len(probs) == 0
}

// Check validates rendered objects: each decoded strictly into its real
// API type, defaulted and validated as Knative's webhooks do, then
// cross-checked against each other, the functions and the event catalog.
func Check(objs []manifests.Object, fns []Function) []Problem {
	return check(objs, fns, events.All())
}

func check(objs []manifests.Object, fns []Function, catalog []events.Spec) []Problem {
	c := &checker{catalogSpecs: catalog, fns: map[string]Function{}, topics: map[string]*topicDecl{}, sinks: map[string]*sinkDecl{},
		secrets: map[string]*corev1.Secret{}, configs: map[string]*corev1.ConfigMap{}, objs: map[string]manifests.Object{}}
	for _, f := range fns {
		c.fns[f.Name] = f
	}
	for _, o := range objs {
		c.object(o)
	}
	// Cross-references need every object understood; with an object that
	// did not decode they would only add noise to the real problem.
	if c.undecoded == 0 {
		c.crossReferences()
	}
	sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].String() < c.probs[j].String() })
	return c.probs
}

func (c *checker) object(o manifests.Object) {
	if o.Name == "" {
		c.fail(o, "metadata.name", "missing")
		return
	}
	if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
		c.fail(o, "metadata.name", "%s", strings.Join(errs, "; "))
	}
	if o.Namespace == "" {
		c.fail(o, "metadata.namespace", "missing: every object belongs in the namespace the functions run in")
	}
	key := o.Namespace + "/" + o.Name
	// The kinds a topology is made of are admitted as a cluster admits
	// them, with Knative's own types (admit.go); the plane reads them with
	// its own structs, held to these by agree_test.go.
	if a, ok := Admit(o); ok {
		c.problems(o, a.Problems)
		if !a.Decoded {
			c.undecoded++
			return
		}
		c.admitted(o, key, a)
		return
	}
	switch gvk := o.APIVersion + ", " + o.Kind; gvk {
	case "v1, Secret":
		s := &corev1.Secret{}
		if !c.decode(o, s) {
			return
		}
		// The API server folds stringData into data on write.
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		for k := range s.Data {
			if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
				c.fail(o, "data."+k, "%s", strings.Join(errs, "; "))
			}
		}
		c.secrets[key] = s
		c.objs["Secret/"+key] = o
	case "v1, ConfigMap":
		cm := &corev1.ConfigMap{}
		if !c.decode(o, cm) {
			return
		}
		for k := range cm.Data {
			if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
				c.fail(o, "data."+k, "%s", strings.Join(errs, "; "))
			}
		}
		c.configs[key] = cm
	case "monitoring.coreos.com/v1, PrometheusRule":
		pr := &PrometheusRule{}
		if !c.decode(o, pr) {
			return
		}
		c.prometheusRule(o, pr)
	default:
		c.fail(o, "apiVersion", "%s %s is not a kind this validator knows: teach deploy/validate its API type before deploying it", o.APIVersion, o.Kind)
	}
}

// admitted keeps what manifests admitted, for the cross-references, and
// adds what a deployment wants of a KafkaTopic beyond what Strimzi refuses.
func (c *checker) admitted(o manifests.Object, key string, a Admitted) {
	switch t := a.Typed.(type) {
	case *kafkasourcesv1beta1.KafkaSource:
		c.sources = append(c.sources, &sourceDecl{obj: o, s: t, refused: len(a.Problems) > 0})
	case *kafkasinkv1alpha1.KafkaSink:
		c.sinks[key] = &sinkDecl{obj: o, s: t}
	case *sourcesv1.SinkBinding:
		c.bindings = append(c.bindings, &bindingDecl{obj: o, b: t})
	case *sourcesv1.PingSource:
		c.pings = append(c.pings, &pingDecl{obj: o, p: t})
	case *manifests.StrimziTopic:
		c.problems(o, topicLint(t))
		name := t.TopicName()
		if first, dup := c.topics[name]; dup {
			c.fail(o, "spec.topicName", "topic %q is also declared by %s", name, first.obj.Where())
			return
		}
		c.topics[name] = &topicDecl{obj: o, t: t}
	}
}

// crossReferences checks what no single object can: references between
// objects, the functions' needs and the event catalog.
func (c *checker) crossReferences() {
	sourceFor := map[string][]*sourceDecl{} // function -> its KafkaSources
	for _, sd := range c.sources {
		o, s := sd.obj, sd.s
		for i, t := range s.Spec.Topics {
			c.topicDeclared(o, fmt.Sprintf("spec.topics[%d]", i), t)
		}
		if fn, ok := c.destination(o, "spec.sink", s.Namespace, s.Spec.Sink); ok && fn != "" {
			sourceFor[fn] = append(sourceFor[fn], sd)
		}
		if s.Spec.Delivery == nil || s.Spec.Delivery.DeadLetterSink == nil {
			c.fail(o, "spec.delivery.deadLetterSink", "missing: an event the function refuses, or that keeps failing, would be dropped (Knative commits the offset)")
		} else {
			c.destination(o, "spec.delivery.deadLetterSink", s.Namespace, *s.Spec.Delivery.DeadLetterSink)
		}
		c.kafkaNet(o, s)
	}
	for _, sd := range c.sinks {
		c.topicDeclared(sd.obj, "spec.topic", sd.s.Spec.Topic)
		c.kafkaSinkAuth(sd)
	}

	// K_SINK of each function: the topic its SinkBinding's KafkaSink writes.
	publishesTo := map[string]string{}
	for _, bd := range c.bindings {
		o, b := bd.obj, bd.b
		sub := b.Spec.Subject
		if !isService(sub.APIVersion, sub.Kind) || sub.Name == "" {
			c.fail(o, "spec.subject", "must name a Knative Service (serving.knative.dev/v1 Service) of a function")
		} else if _, ok := c.fns[sub.Name]; !ok {
			c.fail(o, "spec.subject.name", "Service %q is not a function (no functions/%s/func.yaml)", sub.Name, sub.Name)
		} else if prev, dup := publishesTo[sub.Name]; dup && prev != "" {
			c.fail(o, "spec.subject.name", "function %q is bound twice; K_SINK can point at one sink only", sub.Name)
		}
		c.destination(o, "spec.sink", b.Namespace, b.Spec.Sink)
		if r := b.Spec.Sink.Ref; r != nil && isKafkaSink(r.APIVersion, r.Kind) {
			ns := r.Namespace
			if ns == "" {
				ns = b.Namespace
			}
			if sd, ok := c.sinks[ns+"/"+r.Name]; ok && sub.Name != "" {
				publishesTo[sub.Name] = sd.s.Spec.Topic
			}
		}
	}
	pingFor := map[string][]*pingDecl{}
	for _, pd := range c.pings {
		if fn, ok := c.destination(pd.obj, "spec.sink", pd.p.Namespace, pd.p.Spec.Sink); ok && fn != "" {
			pingFor[fn] = append(pingFor[fn], pd)
			// A function checks a tick's data against the catalog's
			// schema and refuses it (4xx) when it does not fit, so a
			// PingSource with bad data would tick in vain forever.
			if _, err := events.Decode(events.Tick, []byte(pd.p.Spec.Data)); err != nil {
				c.fail(pd.obj, "spec.data", "%s refuses it: %v", fn, err)
			}
		}
	}

	c.catalog(sourceFor, publishesTo, pingFor)
	c.functionNeeds(sourceFor)
	c.scaleSettings(sourceFor, pingFor)
}

func isService(apiVersion, kind string) bool {
	return kind == "Service" && strings.HasPrefix(apiVersion, "serving.knative.dev/")
}

func isKafkaSink(apiVersion, kind string) bool {
	return kind == "KafkaSink" && strings.HasPrefix(apiVersion, "eventing.knative.dev/")
}

// destination checks that d names something that will exist: a KafkaSink
// of the render, or the Knative Service of a function (`func deploy`
// creates it). It returns the function's name when d is one.
func (c *checker) destination(o manifests.Object, field, ns string, d duckv1.Destination) (string, bool) {
	r := d.Ref
	if r == nil {
		if d.URI == nil {
			c.fail(o, field, "names nothing (no ref, no uri)")
			return "", false
		}
		return "", true // a plain URL points outside; nothing to check it against
	}
	if r.Namespace != "" && r.Namespace != ns {
		c.fail(o, field+".ref.namespace", "%q: orderflow keeps every piece in one namespace (%s)", r.Namespace, ns)
		return "", false
	}
	switch {
	case isKafkaSink(r.APIVersion, r.Kind):
		if _, ok := c.sinks[ns+"/"+r.Name]; !ok {
			c.fail(o, field+".ref.name", "KafkaSink %q does not exist in this render (declared KafkaSinks: %s)", r.Name, strings.Join(c.sinkNames(ns), ", "))
			return "", false
		}
		return "", true
	case isService(r.APIVersion, r.Kind):
		if _, ok := c.fns[r.Name]; !ok {
			c.fail(o, field+".ref.name", "Service %q is not a function: functions are %s (functions/*/func.yaml)", r.Name, strings.Join(c.fnNames(), ", "))
			return "", false
		}
		return r.Name, true
	default:
		c.fail(o, field+".ref", "%s %s: orderflow delivers only to KafkaSinks (eventing.knative.dev) and function Services (serving.knative.dev)", r.APIVersion, r.Kind)
		return "", false
	}
}

func (c *checker) sinkNames(ns string) []string {
	var out []string
	for k := range c.sinks {
		if n, name, _ := strings.Cut(k, "/"); n == ns {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (c *checker) fnNames() []string {
	var out []string
	for n := range c.fns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *checker) topicDeclared(o manifests.Object, field, topic string) {
	if _, ok := c.topics[topic]; !ok {
		c.fail(o, field, "topic %q is not declared by any KafkaTopic (topics are never auto-created)", topic)
	}
}

// kafkaNet resolves a KafkaSource's spec.net exactly as the source
// controller does (security.ResolveAuthContextFromNetSpec over the
// rendered Secrets) and turns it into a Kafka client configuration
// (security.NewSaramaSecurityOptionFromSecret), so a missing key, an
// unsupported mechanism or a CA that is not PEM fails here.
func (c *checker) kafkaNet(o manifests.Object, s *kafkasourcesv1beta1.KafkaSource) {
	raw, err := json.Marshal(s.Spec.Net)
	if err != nil {
		c.fail(o, "spec.net", "%v", err)
		return
	}
	var net kafkabindingsv1.KafkaNetSpec
	if err := json.Unmarshal(raw, &net); err != nil {
		c.fail(o, "spec.net", "%v", err)
		return
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, sec := range c.secrets {
		_ = indexer.Add(sec)
	}
	auth, err := security.ResolveAuthContextFromNetSpec(corelisters.NewSecretLister(indexer), s.Namespace, net)
	if err != nil {
		c.fail(o, "spec.net", "%v", err)
		return
	}
	c.saramaConfig(o, "spec.net", auth.VirtualSecret)
}

// kafkaSinkAuth does for a KafkaSink's spec.auth.secret what the sink
// controller does: read the Secret, build the Kafka client configuration.
func (c *checker) kafkaSinkAuth(sd *sinkDecl) {
	s := sd.s
	if !s.Spec.HasAuthConfig() {
		return
	}
	name := s.Spec.Auth.Secret.Ref.Name
	sec, ok := c.secrets[s.Namespace+"/"+name]
	if !ok {
		c.fail(sd.obj, "spec.auth.secret.ref.name", "Secret %q does not exist in this render", name)
		return
	}
	c.saramaConfig(sd.obj, "spec.auth.secret", sec)
}

func (c *checker) saramaConfig(o manifests.Object, field string, sec *corev1.Secret) {
	opt, err := security.NewSaramaSecurityOptionFromSecret(sec)
	if err == nil {
		err = opt(sarama.NewConfig())
	}
	if err != nil {
		c.fail(o, field, "Kafka client security: %v", err)
	}
}

// catalog checks the manifests against shared/events: who publishes what
// where, and who listens.
func (c *checker) catalog(sourceFor map[string][]*sourceDecl, publishesTo map[string]string, pingFor map[string][]*pingDecl) {
	produces := map[string][]events.Spec{} // function -> facts/commands it publishes to Kafka
	for _, spec := range c.catalogSpecs {
		if spec.Topic == "" {
			if spec.Kind == events.KindTrigger {
				for _, fn := range c.consumers(spec) {
					if _, known := c.fns[fn]; known && len(pingFor[fn]) == 0 {
						c.catalogFail(spec, "consumed by %s, but no PingSource sends it to the %s Service", fn, fn)
					}
				}
			}
			continue // queries and replies travel over HTTP only
		}
		if _, ok := c.topics[spec.Topic]; !ok {
			c.catalogFail(spec, "travels on topic %q, which no KafkaTopic declares", spec.Topic)
		}
		if _, isFn := c.fns[spec.Producer]; isFn {
			produces[spec.Producer] = append(produces[spec.Producer], spec)
			if len(spec.ConsumedBy) == 0 && !spec.Terminal {
				c.catalogFail(spec, "published by %s but consumed by nobody and not marked Terminal", spec.Producer)
			}
		}
		for _, fn := range c.consumers(spec) {
			if _, known := c.fns[fn]; !known {
				c.catalogFail(spec, "consumer %q is not a function", fn)
				continue
			}
			reads := false
			for _, sd := range sourceFor[fn] {
				reads = reads || slices.Contains(sd.s.Spec.Topics, spec.Topic)
			}
			if !reads {
				c.catalogFail(spec, "consumed by %s, but no KafkaSource delivering to %s reads topic %q", fn, fn, spec.Topic)
			}
		}
	}
	// Domain topics are the audit log and the replay source: kept forever.
	domain := map[string]bool{}
	for _, spec := range c.catalogSpecs {
		if spec.Topic != "" {
			domain[spec.Topic] = true
		}
	}
	for name := range domain {
		td, ok := c.topics[name]
		if !ok {
			continue
		}
		if v, _, _ := td.t.ConfigString("retention.ms"); v != "-1" {
			c.fail(td.obj, "spec.config.retention.ms", "%q: a domain topic keeps every event forever (-1), for audit and replay", v)
		}
		if v, _, _ := td.t.ConfigString("cleanup.policy"); strings.Contains(v, "compact") {
			c.fail(td.obj, "spec.config.cleanup.policy", "%q: compaction would drop all but the last event of each order", v)
		}
	}
	for _, fn := range c.fnNames() {
		specs := produces[fn]
		topic, bound := publishesTo[fn]
		if len(specs) == 0 {
			if bound {
				c.bindingFail(fn, "spec.sink", "function %s publishes nothing according to the catalog, yet has a K_SINK", fn)
			}
			continue
		}
		if !bound {
			for _, spec := range specs {
				c.catalogFail(spec, "published by %s, which has no SinkBinding (no K_SINK) to publish with", fn)
			}
			continue
		}
		for _, spec := range specs {
			if spec.Topic != topic {
				c.bindingFail(fn, "spec.sink", "%s's K_SINK writes topic %q, but the catalog puts %s (which %s publishes) on %q", fn, topic, spec.Type, fn, spec.Topic)
			}
		}
	}
}

// consumers are the functions the catalog says take spec's type, with
// events.EveryFunction read as every function of the tree.
func (c *checker) consumers(spec events.Spec) []string {
	if slices.Contains(spec.ConsumedBy, events.EveryFunction) {
		return c.fnNames()
	}
	return spec.ConsumedBy
}

func (c *checker) catalogFail(spec events.Spec, format string, a ...any) {
	c.probs = append(c.probs, Problem{Where: "shared/events/catalog.go: " + spec.Type, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) bindingFail(fn, field, format string, a ...any) {
	for _, bd := range c.bindings {
		if bd.b.Spec.Subject.Name == fn {
			c.fail(bd.obj, field, format, a...)
			return
		}
	}
	c.probs = append(c.probs, Problem{Where: c.fns[fn].File, Msg: fmt.Sprintf(format, a...)})
}

// functionNeeds checks each function against the render: something
// delivers to it, and every Secret/ConfigMap key its func.yaml reads
// exists (a missing one keeps its pods from starting).
func (c *checker) functionNeeds(sourceFor map[string][]*sourceDecl) {
	for _, name := range c.fnNames() {
		fn := c.fns[name]
		where := fn.File
		if len(sourceFor[name]) == 0 {
			c.probs = append(c.probs, Problem{Where: where, Msg: fmt.Sprintf("no KafkaSource delivers to the %s Service", name)})
		}
		if v := fn.Labels[VisibilityLabel]; v != ClusterLocal {
			c.probs = append(c.probs, Problem{Where: where, Field: "deploy.labels",
				Msg: fmt.Sprintf("%s is %q, want %q: without it func deploy makes the Service reachable from outside the cluster, and these functions take events that move money", VisibilityLabel, v, ClusterLocal)})
		}
		ns := ""
		for _, sd := range sourceFor[name] {
			ns = sd.s.Namespace
		}
		for _, ref := range fn.SecretRefs {
			secName, key, _ := strings.Cut(ref, ":")
			sec, ok := c.secrets[ns+"/"+secName]
			switch {
			case !ok:
				c.probs = append(c.probs, Problem{Where: where, Field: "run.envs", Msg: fmt.Sprintf("reads Secret %q (key %q), which this render does not create", secName, key)})
			case len(sec.Data[key]) == 0:
				c.probs = append(c.probs, Problem{Where: c.objs["Secret/"+ns+"/"+secName].Where(), Field: "data." + key,
					Msg: fmt.Sprintf("missing or empty, but %s reads it", fn.File)})
			}
		}
		for _, ref := range fn.ConfigMapRefs {
			cmName, key, _ := strings.Cut(ref, ":")
			cm, ok := c.configs[ns+"/"+cmName]
			if !ok || cm.Data[key] == "" {
				c.probs = append(c.probs, Problem{Where: where, Field: "run.envs", Msg: fmt.Sprintf("reads ConfigMap %q key %q, which this render does not provide", cmName, key)})
			}
		}
	}
}

package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"sigs.k8s.io/yaml"
)

// FuncFile is the name of a Knative Function's descriptor.
const FuncFile = "func.yaml"

// Func is the part of a Knative func.yaml the local runner needs. The file
// belongs to the func CLI, which owns its schema, so it is read leniently:
// fields other than these are ignored, not refused.
type Func struct {
	File    string
	Name    string
	Runtime string
	Invoke  string // "" (http) or "cloudevent"
	Envs    []FuncEnv
	// Scale is deploy.options.scale as written: what `func deploy` turns
	// into the revision's autoscaling.knative.dev annotations, and what
	// the plane's autoscaler (package serving) honours locally. A field
	// left out is nil: Knative's default applies.
	Scale FuncScale
}

// FuncScale is func.yaml's deploy.options.scale.
type FuncScale struct {
	Min, Max            *int64
	Metric              *string
	Target, Utilization *float64
}

// FuncEnv is one run.envs entry as written.
type FuncEnv struct {
	Name  string // "" for a whole-Secret/ConfigMap import
	Value string
}

type wireFunc struct {
	Name    string `json:"name"`
	Runtime string `json:"runtime"`
	Invoke  string `json:"invoke"`
	Run     struct {
		Envs []struct {
			Name  *string `json:"name"`
			Value *string `json:"value"`
		} `json:"envs"`
	} `json:"run"`
	Deploy struct {
		Options struct {
			Scale struct {
				Min         *int64   `json:"min"`
				Max         *int64   `json:"max"`
				Metric      *string  `json:"metric"`
				Target      *float64 `json:"target"`
				Utilization *float64 `json:"utilization"`
			} `json:"scale"`
		} `json:"options"`
	} `json:"deploy"`
}

// LoadFunc reads a func.yaml; path is the file or the function's directory.
func LoadFunc(path string) (*Func, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, FuncFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w wireFunc
	if err := yaml.Unmarshal(data, &w); err != nil {
		return nil, &Error{File: path, Msg: "invalid YAML: " + err.Error()}
	}
	if w.Name == "" {
		return nil, &Error{File: path, Field: "name", Msg: "missing"}
	}
	switch w.Invoke {
	case "", "http", "cloudevent":
	default:
		return nil, &Error{File: path, Field: "invoke", Msg: fmt.Sprintf("%q: want http or cloudevent (func's two)", w.Invoke)}
	}
	f := &Func{File: path, Name: w.Name, Runtime: w.Runtime, Invoke: w.Invoke}
	sc := w.Deploy.Options.Scale
	f.Scale = FuncScale{Min: sc.Min, Max: sc.Max, Metric: sc.Metric, Target: sc.Target, Utilization: sc.Utilization}
	for i, e := range w.Run.Envs {
		var fe FuncEnv
		if e.Name != nil {
			fe.Name = *e.Name
		}
		if e.Value != nil {
			fe.Value = *e.Value
		}
		if fe.Name == "" && !(regWholeSecret.MatchString(fe.Value) || regWholeConfigMap.MatchString(fe.Value)) {
			return nil, &Error{File: path, Field: fmt.Sprintf("run.envs[%d].name", i), Msg: "missing (only a whole {{ secret:NAME }} or {{ configMap:NAME }} import may omit it)"}
		}
		f.Envs = append(f.Envs, fe)
	}
	return f, nil
}

// The value templates of func.yaml, as knative/func matches them: a
// template is the whole value, never part of it.
var (
	regWholeSecret      = regexp.MustCompile(`^{{\s*secret:((?:\w|['-]\w)+)\s*}}$`)
	regKeyFromSecret    = regexp.MustCompile(`^{{\s*secret:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
	regWholeConfigMap   = regexp.MustCompile(`^{{\s*configMap:((?:\w|['-]\w)+)\s*}}$`)
	regKeyFromConfigMap = regexp.MustCompile(`^{{\s*configMap:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
	regLocalEnv         = regexp.MustCompile(`^{{\s*env:(\w+)\s*}}$`)
)

// EnvSource says where a resolved env value came from.
type EnvSource int

const (
	// EnvLiteral: the value as written.
	EnvLiteral EnvSource = iota
	// EnvFromLocal: {{ env:NAME }}, read from the local environment.
	EnvFromLocal
	// EnvClusterOnly: {{ secret:... }} or {{ configMap:... }}, which only a
	// cluster can supply; the caller substitutes a local value.
	EnvClusterOnly
)

func (s EnvSource) String() string {
	return [...]string{"literal", "env", "cluster-only"}[s]
}

// ResolvedEnv is one env entry after templating.
type ResolvedEnv struct {
	Name   string // "" for a whole Secret/ConfigMap import
	Value  string // "" when Source is EnvClusterOnly
	Source EnvSource
	// For EnvClusterOnly: "secret" or "configMap", the object name and the
	// key ("" for a whole import). For EnvFromLocal: Ref is the variable.
	RefKind, Ref, Key string
	Template          string // the value as written
}

// ResolveEnvs applies the func.yaml value templates: literals stay as
// they are, {{ env:NAME }} is looked up with lookup (os.LookupEnv in
// production) and is an error when unset (as `func run` refuses it), and
// secret/configMap references come back as EnvClusterOnly for the caller
// to substitute.
func (f *Func) ResolveEnvs(lookup func(string) (string, bool)) ([]ResolvedEnv, error) {
	out := make([]ResolvedEnv, 0, len(f.Envs))
	for i, e := range f.Envs {
		r := ResolvedEnv{Name: e.Name, Template: e.Value}
		switch {
		case regLocalEnv.MatchString(e.Value):
			m := regLocalEnv.FindStringSubmatch(e.Value)
			v, ok := lookup(m[1])
			if !ok {
				return nil, &Error{File: f.File, Field: fmt.Sprintf("run.envs[%d].value", i),
					Msg: fmt.Sprintf("%s needs local environment variable %s, which is not set", e.Name, m[1])}
			}
			r.Source, r.Ref, r.Value = EnvFromLocal, m[1], v
		case regKeyFromSecret.MatchString(e.Value):
			m := regKeyFromSecret.FindStringSubmatch(e.Value)
			r.Source, r.RefKind, r.Ref, r.Key = EnvClusterOnly, "secret", m[1], m[2]
		case regWholeSecret.MatchString(e.Value):
			m := regWholeSecret.FindStringSubmatch(e.Value)
			r.Source, r.RefKind, r.Ref = EnvClusterOnly, "secret", m[1]
		case regKeyFromConfigMap.MatchString(e.Value):
			m := regKeyFromConfigMap.FindStringSubmatch(e.Value)
			r.Source, r.RefKind, r.Ref, r.Key = EnvClusterOnly, "configMap", m[1], m[2]
		case regWholeConfigMap.MatchString(e.Value):
			m := regWholeConfigMap.FindStringSubmatch(e.Value)
			r.Source, r.RefKind, r.Ref = EnvClusterOnly, "configMap", m[1]
		default:
			r.Source, r.Value = EnvLiteral, e.Value
		}
		out = append(out, r)
	}
	return out, nil
}

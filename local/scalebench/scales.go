package scalebench

import (
	"errors"
	"os"
	"path/filepath"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/serving"
)

// RunScales is each function's scale in the idle -> burst -> idle run, as
// the plane would settle it: its func.yaml's deploy.options.scale (own),
// then the bounds of overrides["*"], then of overrides[name] (--scale),
// then target, when positive, as every function's concurrency target
// (--target); Knative's defaults fill the rest.
func RunScales(own map[string]serving.Scale, overrides map[string]serving.Scale, target float64) map[string]serving.Scale {
	out := make(map[string]serving.Scale, len(own))
	for name, sc := range own {
		for _, key := range []string{"*", name} {
			if o, ok := overrides[key]; ok {
				sc.Min, sc.Max = o.Min, o.Max
			}
		}
		if target > 0 {
			sc.Metric, sc.Target = serving.MetricConcurrency, target
		}
		out[name] = sc.WithDefaults()
	}
	return out
}

// funcScales reads each function's func.yaml deploy.options.scale under
// functionsDir (a function without func.yaml has none: Knative's
// defaults).
func funcScales(functionsDir string, names []string) (map[string]serving.Scale, error) {
	out := make(map[string]serving.Scale, len(names))
	for _, name := range names {
		f, err := manifests.LoadFunc(filepath.Join(functionsDir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out[name] = serving.Scale{}
		case err != nil:
			return nil, err
		default:
			out[name] = serving.ScaleOf(f.Scale)
		}
	}
	return out, nil
}

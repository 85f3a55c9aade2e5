package plane

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/serving"
)

// EnvError is a variable of Options.Env that cannot reach any function:
// it names a function the topology does not run, or no variable at all.
type EnvError struct {
	Key    string // as given: VAR or FUNCTION/VAR
	Reason string
}

func (e *EnvError) Error() string { return fmt.Sprintf("env %s: %s", e.Key, e.Reason) }

// ScaleError is a scale of Options.Scale for a function the topology does
// not run.
type ScaleError struct {
	Function string
	Reason   string
}

func (e *ScaleError) Error() string { return fmt.Sprintf("scale for %s: %s", e.Function, e.Reason) }

// CheckEnv checks every key of env (VAR for every function, FUNCTION/VAR
// for one) against the functions the topology runs: a typo in either part
// would otherwise be started with and silently reach nobody.
func CheckEnv(env map[string]string, functions []string) error {
	known := slices.Sorted(slices.Values(functions))
	for _, key := range slices.Sorted(maps.Keys(env)) {
		fn, name, scoped := strings.Cut(key, "/")
		if !scoped {
			name = fn
		}
		if scoped && !slices.Contains(known, fn) {
			return &EnvError{key, fmt.Sprintf("no function %q in the topology (its functions: %s)", fn, strings.Join(known, ", "))}
		}
		if why := badVarName(name); why != "" {
			return &EnvError{key, fmt.Sprintf("%s; want VAR=value, or FUNCTION/VAR=value with FUNCTION one of %s", why, strings.Join(known, ", "))}
		}
	}
	return nil
}

// badVarName says what is wrong with a variable name, or "" when it is a
// name a shell would take: a letter or _, then letters, digits or _.
func badVarName(name string) string {
	if name == "" {
		return "the variable name is empty"
	}
	for i, r := range name {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", name)
		}
	}
	return ""
}

// CheckOptions loads the manifests and checks opts.Env against the
// functions they run, as Up does first: a caller that deletes or writes
// state before Up calls it before that, so bad settings cost nothing.
func CheckOptions(opts Options) error {
	set, err := manifests.Load(opts.Manifests)
	if err != nil {
		return err
	}
	fns := opts.Functions
	if len(fns) == 0 {
		fns = servicesOf(set)
	}
	if err := CheckEnv(opts.Env, fns); err != nil {
		return err
	}
	return checkScale(opts.Scale, fns)
}

// checkScale refuses a scale for a function the topology does not run.
func checkScale(scale map[string]serving.Scale, fns []string) error {
	for _, name := range slices.Sorted(maps.Keys(scale)) {
		if name != "*" && !slices.Contains(fns, name) {
			return &ScaleError{name, fmt.Sprintf("no function %s (functions: %s)", name, strings.Join(slices.Sorted(slices.Values(fns)), ", "))}
		}
	}
	return nil
}

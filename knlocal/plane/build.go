package plane

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"orderflow.dev/knlocal/funcbuild"
)

// BuildsDir is where, under the state directory, a plane given no Command
// builds its functions: <BuildsDir>/<name>/f.
const BuildsDir = "builds"

// buildFunctions builds each function from functionsDir/<name> the way
// func's host builder does, one after the other (go build uses every core
// itself), and returns the Command that serves the built programs. The
// build cache makes a rebuild of an unchanged function cheap.
func buildFunctions(ctx context.Context, functionsDir string, names []string, out string, step func(string, ...any)) (func(string) []string, error) {
	t0 := time.Now()
	bins := make(map[string]string, len(names))
	for _, n := range names {
		bin, err := funcbuild.Build(ctx, filepath.Join(functionsDir, n), filepath.Join(out, n))
		if err != nil {
			return nil, err
		}
		bins[n] = bin
	}
	step("functions built as func's host builder builds them: %s (%s, in %s)", strings.Join(names, ", "), time.Since(t0).Round(100*time.Millisecond), out)
	return func(name string) []string { return []string{bins[name]} }, nil
}

package plane

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"orderflow.dev/knlocal/runner"
)

// joinStartErrors joins the functions' start failures, one line per cause:
// functions that exited for the same reason (a bad value of a variable
// every function reads, say) are one line naming them all, not one line
// each saying the same.
func joinStartErrors(errs []error) error {
	type group struct {
		reason string
		fns    []string
		logDir string
		first  *runner.StartError
	}
	var (
		out    []error
		groups []*group
		byWhy  = map[string]*group{}
	)
	for _, err := range errs {
		var se *runner.StartError
		if !errors.As(err, &se) {
			if err != nil {
				out = append(out, err)
			}
			continue
		}
		// "order: bad configuration: X" from order is the same cause as
		// "payment: bad configuration: X" from payment.
		why := strings.TrimPrefix(se.Reason, se.Function+": ")
		g, ok := byWhy[why]
		if !ok {
			g = &group{reason: why, logDir: filepath.Dir(se.LogPath), first: se}
			byWhy[why] = g
			groups = append(groups, g)
			out = append(out, nil) // its place in the order of the errors
		}
		g.fns = append(g.fns, se.Function)
	}
	gi := 0
	for i, err := range out {
		if err != nil {
			continue
		}
		g := groups[gi]
		gi++
		if len(g.fns) == 1 {
			out[i] = g.first
			continue
		}
		out[i] = fmt.Errorf("functions %s failed to start: %s (logs in %s)", strings.Join(g.fns, ", "), g.reason, g.logDir)
	}
	return errors.Join(out...)
}

package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// place tells its caller what became of its command: another order under
// an existing id is refused before it is sent (exit 2), and a command the
// order function refuses is reported with the function's reason (exit 3)
// instead of a wait for an outcome that never comes.
func TestPlaceSaysWhatBecameOfItsCommand(t *testing.T) {
	p := up(t, nil)
	if out := cli(t, p, "place", "--sku", "sku-tee:1", "--id", "o-place-first"); !strings.Contains(out, "o-place-first: CONFIRMED") {
		t.Fatalf("the first placement:\n%s", out)
	}
	// The same placement again is a retry: the same outcome.
	if out := cli(t, p, "place", "--sku", "sku-tee:1", "--id", "o-place-first"); !strings.Contains(out, "o-place-first: CONFIRMED") {
		t.Fatalf("the same placement again:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"place", "--sku", "sku-mug:3", "--id", "o-place-first"}, 2, "order o-place-first already exists (confirmed) with other content: lines sku-tee:1"},
		{[]string{"place", "--sku", "sku-tee:1", "--sku", "sku-tee:2"}, 3, `refused by the order function: lines[1].sku: SKU "sku-tee" appears on more than one line`},
		{[]string{"place", "--sku", "sku-tee:1", "--currency", "XYZ"}, 3, "refused by the order function: currency:"},
	} {
		cmd := exec.Command(binary, append([]string{"--state-dir", p.Endpoints().StateDir}, c.args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != c.exit || !strings.Contains(string(out), c.want) {
			t.Errorf("orderflow %s: %v\n%s\nwant exit %d saying %q", strings.Join(c.args, " "), err, out, c.exit, c.want)
		}
	}
}

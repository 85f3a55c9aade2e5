package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"orderflow.dev/shared/events"
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

// -o json: one JSON object on stdout (the progress goes to stderr), the
// outcome as `order -o json` prints it; an unknown order exits 3 in JSON as
// in text.
func TestPlaceAndOrderPrintJSON(t *testing.T) {
	p := up(t, nil)
	run := func(args ...string) (stdout []byte, exit int) {
		cmd := exec.Command(binary, append([]string{"--state-dir", p.Endpoints().StateDir, "-o", "json"}, args...)...)
		cmd.Dir = root
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, ee.ExitCode()
		} else if err != nil {
			t.Fatalf("orderflow %s: %v", strings.Join(args, " "), err)
		}
		return out, 0
	}
	out, exit := run("place", "--sku", "sku-tee:1", "--id", "o-json-1")
	var placed struct {
		OrderID string                `json:"orderId"`
		EventID string                `json:"eventId"`
		Outcome *events.OrderViewData `json:"outcome"`
	}
	if err := json.Unmarshal(out, &placed); err != nil || exit != 0 {
		t.Fatalf("place -o json: exit %d, stdout is not one JSON object (%v):\n%s", exit, err, out)
	}
	if placed.OrderID != "o-json-1" || placed.EventID == "" || placed.Outcome == nil || placed.Outcome.Status != "confirmed" {
		t.Fatalf("place -o json: %s", out)
	}
	out, exit = run("place", "--sku", "sku-tee:1", "--id", "o-json-2", "--no-wait")
	placed.Outcome = nil
	if err := json.Unmarshal(out, &placed); err != nil || exit != 0 || placed.OrderID != "o-json-2" || placed.Outcome != nil {
		t.Fatalf("place --no-wait -o json: exit %d (%v):\n%s", exit, err, out)
	}
	out, exit = run("order", "o-json-nobody")
	var view events.OrderViewData
	if err := json.Unmarshal(out, &view); err != nil || exit != 3 || view.Found {
		t.Fatalf("order -o json of an unknown order: exit %d (%v), want 3 and found false:\n%s", exit, err, out)
	}
}

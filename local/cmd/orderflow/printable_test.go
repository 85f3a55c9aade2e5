package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/local/dlq"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"dev.orderflow.order.place.v1": "dev.orderflow.order.place.v1",
		`unknown SKU "x"`:              `unknown SKU "x"`,
		"héllo wörld":                  "héllo wörld",
		"evil\ttype":                   `evil\ttype`,
		"two\nrows\r":                  `two\nrows\r`,
		"\x1b[31mred":                  `\x1b[31mred`,
		"bidi\u202eflip":               `bidi\u202eflip`,
		"bad\xffutf8":                  `bad\xffutf8`,
		"nul\x00":                      `nul\x00`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}

// A tab (or a newline) in a dead letter's event type shifted the table's
// columns (or forged a row).
func TestDeadLetterTableKeepsItsColumns(t *testing.T) {
	row := func(id, typ, reason string) letterRow {
		e := event.New()
		e.SetID("x")
		e.SetSource("/s")
		e.SetType(typ)
		return dlq.Row{ID: id, Function: "order", Letter: dlq.Letter{Time: time.Unix(0, 0), Event: e, OrderID: "o-1", Code: "400", Reason: reason}}
	}
	var out strings.Builder
	if err := writeLetters(&out, []letterRow{
		row("order:0:1", "dev.orderflow.order.place.v1", "fine"),
		row("order:0:2", "evil\ttype", "two\nlines"),
		row("order:0:3", "dev.knative.kafka.event", "\x1b[2Jcleared"),
	}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3 rows:\n%s", len(lines), out.String())
	}
	col := strings.Index(lines[0], "CODE")
	for _, l := range lines[1:] {
		if strings.ContainsAny(l, "\t\x1b") {
			t.Errorf("raw control character in %q", l)
		}
		if len(l) <= col || l[col:col+3] != "400" {
			t.Errorf("CODE column moved in %q (header %q)", l, lines[0])
		}
	}
	if !strings.Contains(out.String(), `evil\ttype`) || !strings.Contains(out.String(), `two\nlines`) {
		t.Errorf("escapes missing:\n%s", out.String())
	}
}

package jaegerapi_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"orderflow.dev/local/jaegerapi"
)

func TestTreeOrderAncestorsAndPicture(t *testing.T) {
	child := func(parent string) []jaegerapi.Reference {
		return []jaegerapi.Reference{{RefType: "CHILD_OF", SpanID: parent}}
	}
	tr := jaegerapi.Trace{TraceID: "t1",
		Processes: map[string]jaegerapi.Process{"p1": {ServiceName: "plane"}, "p2": {ServiceName: "order"}},
		Spans: []jaegerapi.Span{
			{SpanID: "c", OperationName: "deliver b", ProcessID: "p2", StartTime: 3000, Duration: 500, References: child("b")},
			{SpanID: "a", OperationName: "dispatch", ProcessID: "p1", StartTime: 1000, Duration: 4000, References: child("missing")},
			{SpanID: "b", OperationName: "deliver a", ProcessID: "p2", StartTime: 2000, Duration: 2000, References: child("a")},
		}}
	order, depth := tr.Ordered()
	if !slices.Equal(order, []int{1, 2, 0}) || !slices.Equal(depth, []int{0, 1, 2}) {
		t.Errorf("order %v depth %v, want [1 2 0] [0 1 2]", order, depth)
	}
	if got := tr.Ancestors(0); !slices.Equal(got, []string{"order: deliver a", "plane: dispatch"}) {
		t.Errorf("ancestors %v", got)
	}
	if !slices.Equal(tr.Services(), []string{"order", "plane"}) {
		t.Errorf("services %v", tr.Services())
	}
	text := tr.Text()
	if !strings.Contains(text, "+     2.0 ms     0.50 ms      order: deliver b") {
		t.Errorf("text:\n%s", text)
	}
	png := filepath.Join(t.TempDir(), "t.png")
	if err := tr.Draw(png, "t"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Errorf("picture: %d bytes, %v", len(b), err)
	}
	if err := (jaegerapi.Trace{TraceID: "x"}).Draw(png, "x"); err == nil {
		t.Error("an empty trace was drawn")
	}
}

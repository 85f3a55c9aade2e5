package scalebench

import (
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/knlocal/manifests"
)

// The overlay renders, with kustomize as the plane runs it, to the same
// topology with every domain topic at the partitions asked and the
// dead-letter topics as the manifests have them.
func TestPartitionsOverlayResizesTheDomainTopicsOnly(t *testing.T) {
	base, err := filepath.Abs(filepath.Join("..", "..", "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := manifests.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := writeOverlay(filepath.Join(t.TempDir(), "manifests"), base, 9)
	if err != nil {
		t.Fatal(err)
	}
	after, err := manifests.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Topics) != len(before.Topics) || len(after.Sources) != len(before.Sources) || len(after.Sinks) != len(before.Sinks) {
		t.Fatalf("the overlay changed the topology: %d/%d topics, %d/%d sources", len(after.Topics), len(before.Topics), len(after.Sources), len(before.Sources))
	}
	partitions := map[string]int32{}
	for _, tp := range before.Topics {
		partitions[tp.TopicName] = tp.Partitions
	}
	resized := 0
	for _, tp := range after.Topics {
		deadLetter := strings.Contains(tp.TopicName, ".dlq.")
		switch {
		case deadLetter && tp.Partitions != partitions[tp.TopicName]:
			t.Errorf("dead-letter topic %s: %d partitions, want the manifests' %d", tp.TopicName, tp.Partitions, partitions[tp.TopicName])
		case !deadLetter && tp.Partitions != 9:
			t.Errorf("domain topic %s: %d partitions, want 9", tp.TopicName, tp.Partitions)
		case !deadLetter:
			resized++
		}
	}
	if resized == 0 {
		t.Fatal("no domain topic in the manifests")
	}
}

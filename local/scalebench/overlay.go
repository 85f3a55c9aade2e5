package scalebench

import (
	"fmt"
	"os"
	"path/filepath"
)

// partitionsOverlay is a kustomization over base (a path relative to the
// overlay's directory) that gives every domain topic partitions
// partitions, selected by the label the cluster overlays select on
// (knative/base/topics.yaml); dead-letter topics keep theirs.
func partitionsOverlay(base string, partitions int) string {
	return fmt.Sprintf(`# Written by orderflow scalebench: %[1]s with every domain topic at %[2]d partitions.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: orderflow
resources:
  - %[1]s
patches:
  - target:
      group: kafka.strimzi.io
      kind: KafkaTopic
      labelSelector: orderflow.dev/topic-role=domain
    patch: |-
      - op: replace
        path: /spec/partitions
        value: %[2]d
`, base, partitions)
}

// writeOverlay writes partitionsOverlay of manifests into dir and returns
// dir, the kustomization to run.
func writeOverlay(dir, manifests string, partitions int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base, err := filepath.Rel(dir, manifests)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(partitionsOverlay(base, partitions)), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

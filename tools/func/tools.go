//go:build tools

// Package tools pins the Knative func CLI that scripts/func-build.sh builds
// the functions with: knative.dev/func v0.49.2 (the latest release this
// machine can fetch). This module is kept out of go.work so that func's
// large dependency graph (Kubernetes, Tekton, buildpacks, Docker) never
// takes part in the workspace's version selection.
//
// scripts/func-build.sh builds it once into .cache/bin/func-<version>-<hash
// of go.sum> and reuses it:
//
//	cd tools/func && GOWORK=off go build -trimpath \
//	  -ldflags "-X knative.dev/func/pkg/version.Vers=v0.49.2" \
//	  -o ../../.cache/bin/func-v0.49.2-<hash> knative.dev/func/cmd/func
package tools

import _ "knative.dev/func/cmd/func"

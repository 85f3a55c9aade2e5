#!/usr/bin/env bash
# Builds every function the way `func build` builds it, with the real func
# CLI, then starts each built binary and proves it serves (readiness and
# liveness probes, a CloudEvent in binary mode, K_SINK publishing).
#
#   usage: scripts/func-build.sh [--all-platforms] [function...]   (default: every functions/*/func.yaml)
#
# - By default each function is built for this machine's platform only
#   (linux/<GOARCH>), by tools/func/hostbuild: func's own host builder
#   (knative.dev/func/pkg/oci) called as the CLI calls it, because the CLI
#   of func v0.49.2 refuses --platform with --builder=host and would build
#   three platforms per function, two of them for nothing here. The first
#   function is also built by the func CLI itself, all three platforms, so
#   the CLI's own path stays proven.
# - --all-platforms (make func-build-all): every function by the func CLI,
#   linux/amd64, linux/arm64 and linux/arm/v7, as `func build` does.
#
# - The func CLI (knative.dev/func, pinned in tools/func/go.mod) is built
#   once into ~/.cache/orderflow/bin/func-<version>-<go.sum hash> (or
#   $ORDERFLOW_TOOL_CACHE) and reused, across clones too.
# - Each function folder is copied to .cache/funcbuild/<name> and built
#   there with `func build --builder=host`: func sees only that folder (as on
#   any build), and the copy keeps func from rewriting the tracked func.yaml
#   (func v0.49.2 writes func.yaml back after a build, dropping its comments,
#   and adds a .gitignore). The binary is .func/build/result/f.linux.<arch>.
# - The build environment is scripts/lib/func-env.sh: GOWORK=off and shared/
#   taken as orderflow.dev/shared v0.1.0 from a file-based module proxy made
#   from this tree, exactly as once shared is tagged and published.
# - `--registry` only names the image func writes to .func/build/oci (nothing
#   is pushed; no registry is contacted). A name without a dot would be
#   expanded by func to a public registry host, so a reserved, never-resolving
#   .invalid name (RFC 2606) is used.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

all_platforms=0
if [ "${1:-}" = --all-platforms ]; then all_platforms=1; shift; fi
case "${1:-}" in -*) echo "usage: $0 [--all-platforms] [function...]" >&2; exit 2 ;; esac
if [ $# -eq 0 ]; then
  for f in functions/*/func.yaml; do set -- "$@" "$(basename "$(dirname "$f")")"; done
fi
fns="$*"
for fn in $fns; do
  [ -f "functions/$fn/func.yaml" ] || { echo "func-build: no function $fn (functions/$fn/func.yaml)" >&2; exit 2; }
done
registry="orderflow.invalid"
out="$root/.cache/funcbuild"

# 1. The func CLI, cached by version and by the hash of its module graph.
version="$(awk '$1 == "knative.dev/func" {print $2} $1 == "require" && $2 == "knative.dev/func" {print $3}' tools/func/go.mod)"
[ -n "$version" ] || { echo "func-build: cannot read the knative.dev/func version from tools/func/go.mod" >&2; exit 1; }
sum="$(sha256sum tools/func/go.sum | cut -c1-12)"
# Outside the checkout, so a fresh clone on the same machine (CI) reuses it.
toolcache="${ORDERFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orderflow}"
func="$toolcache/bin/func-$version-$sum"
hostbuild="$toolcache/bin/func-hostbuild-$version-$sum-$(sha256sum tools/func/hostbuild/main.go | cut -c1-12)"
if [ -x "$func" ]; then
  echo "== func CLI $version: cached ($func)"
else
  echo "== func CLI $version: building (first run only; several minutes)"
  t0=$(date +%s)
  mkdir -p "$toolcache/bin"
  (cd tools/func && GOWORK=off GOFLAGS=-mod=readonly go build -trimpath \
    -ldflags "-X knative.dev/func/pkg/version.Vers=$version" \
    -o "$func.tmp" knative.dev/func/cmd/func)
  mv "$func.tmp" "$func"
  echo "   built in $(( $(date +%s) - t0 ))s"
fi
"$func" version
if [ "$all_platforms" = 0 ]; then
  if [ -x "$hostbuild" ]; then
    echo "== func's host builder for one platform (tools/func/hostbuild): cached ($hostbuild)"
  else
    echo "== func's host builder for one platform (tools/func/hostbuild): building"
    (cd tools/func && GOWORK=off GOFLAGS=-mod=readonly go build -trimpath -o "$hostbuild.tmp" ./hostbuild)
    mv "$hostbuild.tmp" "$hostbuild"
  fi
fi

# func's own reading of each func.yaml's deploy.options.scale (what func
# deploy turns into the autoscaling annotations), with func's own code.
echo "== func reads each func.yaml's scale (tools/func tests)"
(cd tools/func && GOWORK=off GOFLAGS=-mod=readonly go test -count=1 .)

# 2. func build --builder=host in a copy of each function folder.
rm -f "$out/times.txt.new"
mkdir -p "$out"
first="${fns%% *}"
(
  source scripts/lib/func-env.sh
  for fn in $fns; do
    stage="$out/$fn"
    rm -rf "$stage"
    mkdir -p "$stage"
    cp -a "functions/$fn/." "$stage/"
    rm -rf "$stage/.func"
    cd "$stage"
    strip_shared_sum # shared's hash changes with every edit until it is tagged
    t0=$(date +%s%N)
    if [ "$all_platforms" = 1 ] || [ "$fn" = "$first" ]; then
      echo "== func build --builder=host: $fn (the func CLI: linux/amd64, linux/arm64, linux/arm/v7)"
      how="func CLI, 3 platforms"
      "$func" build --builder=host --registry "$registry" 2>&1 | grep -v -E '^(Still building|Yes, still building|Don.t give up on me|This is taking a while|Still building)$' || { echo "func-build: $fn failed" >&2; exit 1; }
    else
      echo "== func's host builder, linux/$(go env GOARCH) only: $fn (tools/func/hostbuild)"
      how="host builder, linux/$(go env GOARCH)"
      "$hostbuild" --registry "$registry" || { echo "func-build: $fn failed" >&2; exit 1; }
    fi
    t1=$(date +%s%N)
    ls -l .func/build/result/
    ms=$(( (t1 - t0) / 1000000 ))
    printf '%-10s %d.%ds  (%s)\n' "$fn" $(( ms / 1000 )) $(( ms % 1000 / 100 )) "$how" >> "$out/times.txt.new"
    cd "$root"
  done
)
echo "== func build times"
cat "$out/times.txt.new"
mv "$out/times.txt.new" "$out/times.txt"

# 3. Start each built binary and prove it serves.
echo "== built binaries: probes and CloudEvents"
ORDERFLOW_FUNC_BUILDS="$out" ORDERFLOW_FUNC_ONLY="$fns" go test -count=1 -v -run TestBuiltFunctions ./deploy/validate/builtfunc/

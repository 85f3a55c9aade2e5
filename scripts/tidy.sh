#!/usr/bin/env bash
# Tidies every module of the tree the way it resolves outside the workspace,
# as a func build (or anyone who fetches one module) sees it: GOWORK=off,
# and the tree's own modules (shared, the functions, knlocal, local) taken by version
# (v0.1.0) from a file-based module proxy built from this tree, exactly as
# once they are tagged. go.sum keeps no line for them: their hashes change
# with every edit until they are tagged.
#
#   usage: scripts/tidy.sh [--check] [module-dir...]   (default: all modules)
#
# --check tidies a copy and fails, showing the difference, when any go.mod
# or go.sum would change: CI runs it, so every module requires what it
# imports and `go mod tidy` leaves each unchanged.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
functions=()
for f in functions/*/func.yaml; do functions+=("$(dirname "$f")"); done
all=(shared "${functions[@]}" knlocal local deploy/validate tools tools/func tools/jaeger tools/mailpit)
mods=("$@")
[ ${#mods[@]} -gt 0 ] || mods=("${all[@]}")

# The modules others require by version, published from this tree (shared
# too, by func-env.sh below).
for m in "${functions[@]}" knlocal local; do
  go run ./tools/modproxy -module "orderflow.dev/$m" -dir "$m" -out "$root/.cache/modproxy" >/dev/null
done
source scripts/lib/func-env.sh
strip_own_sums() { if [ -f go.sum ]; then sed -i '/^orderflow\.dev\//d' go.sum; fi; }

failed=()
for m in "${mods[@]}"; do
  [ -f "$m/go.mod" ] || { echo "tidy: $m has no go.mod" >&2; exit 2; }
  saved="$(mktemp -d)"
  cp "$m/go.mod" "$saved/"
  [ -f "$m/go.sum" ] && cp "$m/go.sum" "$saved/"
  (cd "$m" && strip_own_sums && go mod tidy && strip_own_sums)
  if [ "$check" = 1 ]; then
    changed=0
    for f in go.mod go.sum; do
      if ! diff -u "$saved/$f" "$m/$f" >"$saved/$f.diff" 2>&1; then changed=1; fi
    done
    if [ "$changed" = 1 ]; then
      echo "== $m: go mod tidy changes it:"
      cat "$saved"/*.diff | head -60
      failed+=("$m")
    fi
    cp "$saved/go.mod" "$m/go.mod"
    if [ -f "$saved/go.sum" ]; then cp "$saved/go.sum" "$m/go.sum"; else rm -f "$m/go.sum"; fi
  else
    echo "tidied $m"
  fi
  rm -rf "$saved"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "tidy --check: not tidy: ${failed[*]} (run scripts/tidy.sh and commit the result)" >&2
  exit 1
fi
[ "$check" = 0 ] || echo "tidy --check: every module is tidy (${mods[*]})"

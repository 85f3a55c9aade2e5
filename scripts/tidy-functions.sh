#!/usr/bin/env bash
# Tidies each function's go.mod the way a func build resolves it: GOWORK=off,
# shared/ taken as the versioned module orderflow.dev/shared v0.1.0 from a
# file-based module proxy built from this tree. Function go.mod files keep
# no replace directive (func builds drop them) and no go.sum line for
# shared (its hash changes with every edit until it is tagged).
#   usage: scripts/tidy-functions.sh [function...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/lib/func-env.sh
for f in "${@:-order inventory payment notify analytics}"; do
  for fn in $f; do
    (cd "functions/$fn" && strip_shared_sum && go mod tidy && strip_shared_sum)
    echo "tidied functions/$fn"
  done
done

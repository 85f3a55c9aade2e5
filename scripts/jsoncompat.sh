#!/usr/bin/env bash
# The independent JSON Schema compatibility checker the compatibility gate is
# cross-checked against: jsoncompat (PyPI, pinned below), in a virtualenv
# under .cache, made once and reused.
#
#   scripts/jsoncompat.sh [install]   make .cache/venv-jsoncompat (if needed); print its python
#   scripts/jsoncompat.sh check       say whether it is there (exit 1 if not)
#
# shared/events/compat's TestCrossCheckWithJsoncompat runs it on every
# fixture pair; it skips when the venv is absent, and fails instead when
# ORDERFLOW_REQUIRE_TOOLS is set (`make test` sets it, and runs this script
# first through `make schemas-check`). Needs python3 with the venv module
# (Debian: python3-venv; scripts/prereqs.sh installs it).
set -euo pipefail
JSONCOMPAT_VERSION=0.3.1

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ORDERFLOW_JSONCOMPAT_VENV:-$root/.cache/venv-jsoncompat}"
stamp="$venv/.jsoncompat-$JSONCOMPAT_VERSION"

case "${1:-install}" in
check)
  if [ -f "$stamp" ]; then echo "jsoncompat $JSONCOMPAT_VERSION: $venv/bin/python"; exit 0; fi
  echo "jsoncompat $JSONCOMPAT_VERSION is not installed in $venv: run scripts/jsoncompat.sh" >&2
  exit 1
  ;;
install) ;;
*) echo "usage: $0 [install|check]" >&2; exit 2 ;;
esac

if [ ! -f "$stamp" ]; then
  command -v python3 >/dev/null || { echo "jsoncompat.sh: python3 is needed (Debian: python3 python3-venv)" >&2; exit 1; }
  python3 -m venv --help >/dev/null 2>&1 || { echo "jsoncompat.sh: python3's venv module is missing (Debian: python3-venv)" >&2; exit 1; }
  echo "== jsoncompat $JSONCOMPAT_VERSION into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "jsoncompat==$JSONCOMPAT_VERSION"
  "$venv/bin/python" -c 'import jsoncompat' # the wheel matches this machine
  touch "$stamp"
fi
echo "jsoncompat $JSONCOMPAT_VERSION: $venv/bin/python"

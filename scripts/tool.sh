#!/usr/bin/env bash
# Builds the programs the tests run beside orderflow, each pinned in a module
# of its own under tools/ (outside go.work), into bin/<name>:
#   jaeger   the tracing test's trace store   (bin/jaeger: UI :16686, OTLP/HTTP :4318)
#   mailpit  the e-mail test's SMTP server    (bin/mailpit: SMTP :1025, UI and API :8025)
#
#   usage: scripts/tool.sh NAME...     e.g. scripts/tool.sh jaeger mailpit
#
# A build (a few minutes the first time) is cached outside the checkout by
# version and module-graph hash, like the func CLI, so a fresh clone on the
# same machine reuses it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ $# -gt 0 ] || { echo "usage: $0 NAME... (a folder of tools/ with a tool directive)" >&2; exit 2; }
toolcache="${ORDERFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orderflow}"
mkdir -p "$toolcache/bin" bin
for name in "$@"; do
  mod="tools/$name/go.mod"
  [ -f "$mod" ] || { echo "tool: no $mod" >&2; exit 2; }
  pkg="$(awk '$1 == "tool" {print $2; exit}' "$mod")"
  [ -n "$pkg" ] || { echo "tool: no tool directive in $mod" >&2; exit 1; }
  version="$(cd "tools/$name" && GOWORK=off go list -f '{{.Module.Version}}' "$pkg")"
  sum="$(sha256sum "tools/$name/go.sum" | cut -c1-12)"
  cached="$toolcache/bin/$name-$version-$sum"
  if [ ! -x "$cached" ]; then
    echo "== building $name $version (once; cached in $cached)"
    (cd "tools/$name" && GOWORK=off go build -o "$cached.tmp" "$pkg")
    mv "$cached.tmp" "$cached"
  fi
  ln -sf "$cached" "bin/$name"
  echo "$name $version: bin/$name"
done

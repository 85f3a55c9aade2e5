#!/usr/bin/env bash
# Builds Jaeger (the version pinned in tools/jaeger/go.mod) into bin/jaeger,
# for the tracing test and for looking at traces by hand:
#   scripts/jaeger.sh && bin/jaeger    # UI on http://127.0.0.1:16686, OTLP/HTTP on :4318
# The build (a few minutes, once) is cached outside the checkout by version
# and module-graph hash, like the func CLI, so a fresh clone reuses it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="$(awk '$1 == "require" && $2 == "github.com/jaegertracing/jaeger" {print $3} $1 == "github.com/jaegertracing/jaeger" {print $2}' tools/jaeger/go.mod | head -n 1)"
[ -n "$version" ] || { echo "jaeger: cannot read its version from tools/jaeger/go.mod" >&2; exit 1; }
sum="$(sha256sum tools/jaeger/go.sum | cut -c1-12)"
toolcache="${ORDERFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orderflow}"
cached="$toolcache/bin/jaeger-$version-$sum"
if [ ! -x "$cached" ]; then
  echo "== building Jaeger $version (once; cached in $cached)"
  mkdir -p "$toolcache/bin"
  (cd tools/jaeger && GOWORK=off go build -o "$cached.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$cached.tmp" "$cached"
fi
mkdir -p bin
ln -sf "$cached" bin/jaeger
echo "jaeger $version: bin/jaeger"

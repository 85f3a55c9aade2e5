# Sourced: sets up the environment a func build sees. shared/ is published
# as orderflow.dev/shared v0.1.0 into .cache/modproxy; GOWORK is off.
#
# A module cache never forgets a version, and shared is republished as
# v0.1.0 from every edit, so these builds use a private module cache from
# which shared is dropped first. Every other module comes from, and goes
# into, the main cache: the private one holds a link to the main cache's
# folder of each module host the tree's go.sum files name. (It used to hold
# copies: a tidy of every module extracted ~5 GB there, a second checkout,
# such as the new-function test's copy, as much again, and CI's disk ran
# out.) The main cache also serves as a file proxy, so this costs no
# downloads.
maincache="$(go env GOMODCACHE)"
# Sourced a second time in one shell, go env names the private cache.
if [ "$maincache" = "$root/.cache/gomodcache" ]; then maincache="${ORDERFLOW_MAIN_GOMODCACHE:?func-env.sh: the main module cache is unknown}"; fi
export ORDERFLOW_MAIN_GOMODCACHE="$maincache"
upstream="$(go env GOPROXY)"
go run ./tools/modproxy -dir shared -out "$root/.cache/modproxy" >/dev/null
export GOMODCACHE="$root/.cache/gomodcache"
for d in "$GOMODCACHE/orderflow.dev" "$GOMODCACHE/cache/download/orderflow.dev"; do
  if [ -d "$d" ]; then chmod -R u+w "$d"; rm -rf "$d"; fi
done
link_main_cache() {
  local hosts h sub dst
  hosts="$(cat "$root"/*/go.sum "$root"/*/*/go.sum "$root"/go.work.sum 2>/dev/null | awk '{print $1}' | cut -d/ -f1 | sort -u | grep -v '^orderflow\.dev$' || true)"
  mkdir -p "$GOMODCACHE/cache/download"
  for h in $hosts; do
    for sub in "" "cache/download/"; do
      mkdir -p "$maincache/$sub$h"
      dst="$GOMODCACHE/$sub$h"
      if [ -d "$dst" ] && [ ! -L "$dst" ]; then chmod -R u+w "$dst"; rm -rf "$dst"; fi
      [ -L "$dst" ] || ln -s "$maincache/$sub$h" "$dst"
    done
  done
}
link_main_cache
# goindex=0: the go command caches a module's file list by directory, and
# shared is republished under one directory; a stale list drops new files.
export GODEBUG=goindex=0
export GOWORK=off GOFLAGS=-mod=mod GONOSUMDB=orderflow.dev GONOSUMCHECK=1 \
  GOPROXY="file://$root/.cache/modproxy,file://$maincache/cache/download,$upstream"
strip_shared_sum() { if [ -f go.sum ]; then sed -i '/^orderflow.dev\/shared /d' go.sum; fi; }

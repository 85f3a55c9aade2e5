# Sourced: sets up the environment a func build sees. shared/ is published
# as orderflow.dev/shared v0.1.0 into .cache/modproxy; GOWORK is off.
#
# A module cache never forgets a version, and shared is republished as
# v0.1.0 from every edit, so these builds use a private module cache from
# which shared is dropped first. The main cache serves every other module
# as a file proxy, so this costs no downloads.
maincache="$(go env GOMODCACHE)"
upstream="$(go env GOPROXY)"
go run ./tools/modproxy -dir shared -out "$root/.cache/modproxy" >/dev/null
export GOMODCACHE="$root/.cache/gomodcache"
for d in "$GOMODCACHE/orderflow.dev" "$GOMODCACHE/cache/download/orderflow.dev"; do
  if [ -d "$d" ]; then chmod -R u+w "$d"; rm -rf "$d"; fi
done
# goindex=0: the go command caches a module's file list by directory, and
# shared is republished under one directory; a stale list drops new files.
export GODEBUG=goindex=0
export GOWORK=off GOFLAGS=-mod=mod GONOSUMDB=orderflow.dev GONOSUMCHECK=1 \
  GOPROXY="file://$root/.cache/modproxy,file://$maincache/cache/download,$upstream"
strip_shared_sum() { if [ -f go.sum ]; then sed -i '/^orderflow.dev\/shared /d' go.sum; fi; }

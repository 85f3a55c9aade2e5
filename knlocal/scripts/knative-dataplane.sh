#!/usr/bin/env bash
# Knative's own Kafka data plane (eventing-kafka-broker's Java receiver and
# dispatcher), built from the sources that ship inside the Go module
# knative.dev/eventing-kafka-broker (required by knlocal/go.mod) and run
# without a cluster, beside or instead of the local plane's sinks and sources.
#
#   scripts/knative-dataplane.sh build          copy data-plane/ from the Go module cache, build
#                                               receiver-loom and dispatcher-loom with Maven (cached)
#   scripts/knative-dataplane.sh built          exit 0 when the build is in the cache (prints its folder)
#   scripts/knative-dataplane.sh exec ROLE DIR  run ROLE (receiver | dispatcher) in the foreground with
#                                               the config folder DIR (what `orderflow knative-config`
#                                               or `orderflow up --data-plane knative` writes)
#   scripts/knative-dataplane.sh start DIR      both JVMs in the background, logs and pids in DIR;
#                                               waits for the receiver's readiness probe
#   scripts/knative-dataplane.sh stop DIR       stop what start started
#   scripts/knative-dataplane.sh status DIR     which of the two run; exit 1 if none
#
# A config folder DIR holds receiver.env and dispatcher.env (KEY=VALUE lines,
# the Deployments' env), the properties files they name, the logback
# configuration, and receiver-contract.json and dispatcher-contract.json (the
# data-plane contracts, protobuf JSON).
#
# Settings (environment):
#   KNATIVE_DP_CACHE   build cache (knlocal/.cache/knative-dataplane/<version>)
#   KNATIVE_DP_JAVA    the JDK's java for build and run (default: the newest JDK 21+ in /usr/lib/jvm)
#   KNATIVE_DP_HEAP    JVM heap flags per process (-Xms64m -Xmx512m)
set -euo pipefail

KNATIVE_VERSION=v0.50.1 # knative.dev/eventing-kafka-broker, as pinned in knlocal/go.mod

root="$(cd "$(dirname "$0")/.." && pwd)"
KNATIVE_DP_CACHE="${KNATIVE_DP_CACHE:-$root/.cache/knative-dataplane/$KNATIVE_VERSION}"
KNATIVE_DP_HEAP="${KNATIVE_DP_HEAP:--Xms64m -Xmx512m}"
src="$KNATIVE_DP_CACHE/data-plane"
done_mark="$KNATIVE_DP_CACHE/.complete"

die() { echo "knative-dataplane.sh: $*" >&2; exit 1; }
say() { echo "knative-dataplane.sh: $*" >&2; }

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }

# The data plane targets Java 21: the default java here may be 17, with a
# newer JDK installed beside it.
find_java() {
  if [ -n "${KNATIVE_DP_JAVA:-}" ]; then
    echo "$KNATIVE_DP_JAVA"
    return
  fi
  local j
  for j in $(command -v java 2>/dev/null) $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -V -r); do
    if [ -x "$j" ] && [ "$(java_major "$j")" -ge 21 ] 2>/dev/null; then
      echo "$j"
      return
    fi
  done
  die "a JDK 21+ is needed to build and run Knative's data plane (none in PATH or /usr/lib/jvm); set KNATIVE_DP_JAVA"
}

# ---------------------------------------------------------------- build

module_dir() {
  command -v go >/dev/null || die "Go is needed to find the module knative.dev/eventing-kafka-broker"
  (cd "$root" && go mod download -json "knative.dev/eventing-kafka-broker@$KNATIVE_VERSION") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

cmd_build() {
  if [ -f "$done_mark" ]; then
    say "Knative data plane $KNATIVE_VERSION already built in $KNATIVE_DP_CACHE"
    return
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed: apt-get install -y maven"
  local java t0=$SECONDS mod
  java="$(find_java)"
  mod="$(module_dir)"
  [ -n "$mod" ] && [ -d "$mod/data-plane" ] || die "knative.dev/eventing-kafka-broker@$KNATIVE_VERSION has no data-plane/ (module dir: '${mod:-none}')"
  rm -rf "$src"
  mkdir -p "$KNATIVE_DP_CACHE"
  # The module cache is read-only: build in a writable copy.
  cp -r "$mod/data-plane" "$src"
  chmod -R u+w "$src"
  # The parent pom lists a snapshots repository that does not resolve here;
  # everything the build needs is in Maven's default repository, so the
  # copy's pom drops that <repositories> block.
  sed -i '/^  <repositories>/,/^  <\/repositories>/d' "$src/pom.xml"
  grep -q '<repositories>' "$src/pom.xml" && die "could not drop the snapshots repository from $src/pom.xml"
  say "building receiver-loom and dispatcher-loom with Maven and $java (first time ~2 min, ~160 MB of dependencies)..."
  if ! JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$java")")")" mvn -B -q \
      -f "$src/pom.xml" -DskipTests -Dlicense.skipAggregateDownloadLicenses -Dlicense.skipAggregateAddThirdParty \
      -Dmaven.javadoc.skip=true -Dspotless.check.skip=true -Dspotless.apply.skip=true \
      package dependency:build-classpath -Dmdep.outputFile=cp.txt -Dmdep.includeScope=runtime \
      -pl receiver-loom,dispatcher-loom -am >"$KNATIVE_DP_CACHE/mvn.log" 2>&1; then
    tail -n 40 "$KNATIVE_DP_CACHE/mvn.log" >&2
    die "Maven build failed (log: $KNATIVE_DP_CACHE/mvn.log)"
  fi
  local role
  for role in receiver dispatcher; do
    local jar="$src/$role-loom/target/original-$role-loom-1.0-SNAPSHOT.jar"
    [ -f "$jar" ] || die "the build ran but $jar is missing"
    [ -f "$src/$role-loom/cp.txt" ] || die "the build ran but $src/$role-loom/cp.txt is missing"
    echo "$jar:$(cat "$src/$role-loom/cp.txt")" >"$KNATIVE_DP_CACHE/$role.classpath"
  done
  echo "$java" >"$KNATIVE_DP_CACHE/java"
  touch "$done_mark"
  say "built in $((SECONDS - t0))s -> $KNATIVE_DP_CACHE"
}

cmd_built() {
  [ -f "$done_mark" ] || return 1
  echo "$KNATIVE_DP_CACHE"
}

# ---------------------------------------------------------------- run

main_class() {
  case "$1" in
  receiver) echo dev.knative.eventing.kafka.broker.receiverloom.Main ;;
  dispatcher) echo dev.knative.eventing.kafka.broker.dispatcherloom.Main ;;
  *) die "role must be receiver or dispatcher, not '$1'" ;;
  esac
}

cmd_exec() {
  local role="${1:-}" dir="${2:-}" class
  class="$(main_class "$role")"
  [ -n "$dir" ] && [ -f "$dir/$role.env" ] || die "exec $role: no $role.env in config folder '${dir:-}'"
  [ -f "$done_mark" ] || die "Knative's data plane is not built: run scripts/knative-dataplane.sh build"
  local java
  java="$(cat "$KNATIVE_DP_CACHE/java")"
  [ -x "$java" ] || java="$(find_java)"
  set -a
  # shellcheck disable=SC1090
  . "$dir/$role.env"
  set +a
  # shellcheck disable=SC2086
  exec "$java" $KNATIVE_DP_HEAP -XX:+UseSerialGC -Dlogback.configurationFile="$dir/logback.xml" \
    -cp "$(cat "$KNATIVE_DP_CACHE/$role.classpath")" "$class"
}

pid_of() { # DIR ROLE
  local f="$1/$2.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(main_class "$2")" || return 1
  echo "$pid"
}

cmd_start() {
  local dir="${1:-}" role
  [ -n "$dir" ] && [ -f "$dir/receiver-contract.json" ] && [ -f "$dir/dispatcher-contract.json" ] ||
    die "start: no receiver-contract.json and dispatcher-contract.json in config folder '${dir:-}' (write them with: orderflow knative-config --out DIR ...)"
  dir="$(cd "$dir" && pwd)"
  cmd_build
  for role in receiver dispatcher; do
    if pid_of "$dir" "$role" >/dev/null; then
      say "$role already running (pid $(pid_of "$dir" "$role"))"
      continue
    fi
    nohup "$0" exec "$role" "$dir" >"$dir/$role.log" 2>&1 &
    echo $! >"$dir/$role.pid"
    say "$role started (pid $!, log $dir/$role.log)"
  done
  local port path
  # receiver.env's values are single-quoted (it is sourced by exec).
  port="$(sed -n "s/^INGRESS_PORT='\{0,1\}\([^']*\)'\{0,1\}\$/\1/p" "$dir/receiver.env")"
  path="$(sed -n "s/^READINESS_PROBE_PATH='\{0,1\}\([^']*\)'\{0,1\}\$/\1/p" "$dir/receiver.env")"
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port$path" 2>/dev/null; then
      say "receiver ready on 127.0.0.1:$port"
      return
    fi
    pid_of "$dir" receiver >/dev/null || die "receiver exited; see $dir/receiver.log"
    sleep 0.5
  done
  die "receiver not ready on 127.0.0.1:$port after 60s; see $dir/receiver.log"
}

cmd_stop() {
  local dir="${1:-}" role pid
  [ -n "$dir" ] || die "stop: give the config folder"
  for role in dispatcher receiver; do
    if pid="$(pid_of "$dir" "$role")"; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      say "$role stopped (pid $pid)"
    fi
    rm -f "$dir/$role.pid"
  done
}

cmd_status() {
  local dir="${1:-}" role any=1
  [ -n "$dir" ] || die "status: give the config folder"
  for role in receiver dispatcher; do
    if pid_of "$dir" "$role" >/dev/null; then
      echo "$role: running (pid $(pid_of "$dir" "$role"))"
      any=0
    else
      echo "$role: stopped"
    fi
  done
  return $any
}

case "${1:-}" in
build) cmd_build ;;
built) cmd_built ;;
exec) shift; cmd_exec "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) shift; cmd_status "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

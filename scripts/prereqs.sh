#!/usr/bin/env bash
# What `make test` needs beyond Go, checked before anything else runs, and
# installed when it can be.
#
#   scripts/prereqs.sh           check; as root, install what is missing
#                                (apt-get update, then apt-get install)
#   scripts/prereqs.sh --check   only check and name what is missing
#   PREREQS_FOR=demo-real scripts/prereqs.sh   only what `make demo-real` needs:
#                                Java 17+, Maven (or the Kafka jars), PostgreSQL
#
# Needed: Java 17+ (Kafka 4.x), Maven (to fetch Kafka from Maven Central
# once; not needed when .cache/kafka holds the jars), PostgreSQL's server
# binaries, kcat (the interop test), prometheus and promtool (the metrics
# test, the alert rules' tests), chromium (the dashboard's browser test),
# python3 with venv (the schema checker's cross-check installs jsoncompat
# into .cache), a JDK 21+ (Knative's own data plane, built by Maven). Not root and something missing: it stops at once, naming each
# and the one command that installs them all.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode="${1:-install}"
scope="${PREREQS_FOR:-all}"
case "$scope" in all | demo-real) ;; *) echo "PREREQS_FOR=$scope: want all or demo-real" >&2; exit 2 ;; esac
case "$mode" in install | --install) mode=install ;; --check | check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;; esac

say() { printf '%s\n' "$*"; }

# java_major prints the newest Java major version here: the default java,
# or a JDK beside it in /usr/lib/jvm (scripts/kafka.sh picks that one when
# the default is older than 17).
java_major() {
  local best=0 j v
  for j in $(command -v java || true) /usr/lib/jvm/*/bin/java; do
    [ -x "$j" ] || continue
    v="$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    [ -n "$v" ] && [ "$v" -gt "$best" ] && best="$v"
  done
  [ "$best" -gt 0 ] && echo "$best"
  return 0
}

# missing_packages prints one "package<TAB>why" line per Debian package
# whose tool is absent.
missing_packages() {
  local jv
  jv="$(java_major)"
  command -v go >/dev/null || say "golang	go: this tree needs Go 1.26 (install it from go.dev; Debian's may be older)"
  if [ -z "$jv" ] || [ "$jv" -lt 17 ]; then
    say "openjdk-17-jre-headless	Java 17+ for Kafka (found: ${jv:-none})"
  fi
  local kafka_version
  kafka_version="$(scripts/kafka.sh version)"
  if [ ! -f "$root/.cache/kafka/$kafka_version/libs/.complete" ] && ! command -v mvn >/dev/null; then
    say "maven	Maven (mvn), to fetch Kafka $kafka_version from Maven Central once"
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "${PG_BIN:-}" ]; then
    say "postgresql	PostgreSQL server binaries (/usr/lib/postgresql/*/bin, or set PG_BIN)"
  fi
  command -v make >/dev/null || say "make	make"
  [ "$scope" = all ] || return 0
  # Knative's own data plane (make test-knative) targets Java 21 and is
  # built with Maven: a JDK (javac beside java), 21 or newer.
  local jdk21=""
  for j in /usr/lib/jvm/*/bin/javac $(command -v javac || true); do
    [ -x "$j" ] || continue
    v="$("$(dirname "$j")/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    if [ -n "$v" ] && [ "$v" -ge 21 ]; then jdk21="$j"; break; fi
  done
  [ -n "$jdk21" ] || say "openjdk-21-jdk-headless	a JDK 21+ (javac), to build Knative's own data plane for make test-knative (Debian 13 / Ubuntu 24.04: openjdk-21-jdk-headless; elsewhere any JDK 21+ under /usr/lib/jvm)"
  command -v kcat >/dev/null || say "kcat	kcat, the Kafka client the interop test drives"
  { command -v prometheus >/dev/null && command -v promtool >/dev/null; } ||
    say "prometheus	prometheus and promtool, for the metrics test and the alert rules' tests"
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
    say "chromium	chromium, for the dashboard's browser test"
  { command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } ||
    say "python3-venv	python3 with venv, for the schema checker's cross-check (jsoncompat, installed into .cache)"
  return 0
}

missing="$(missing_packages)"
if [ -z "$missing" ]; then
  if [ "$scope" = demo-real ]; then
    say "prereqs: everything make demo-real needs is here (java $(java_major), maven or the Kafka jars, PostgreSQL)"
  else
    say "prereqs: everything the tests need is here (java $(java_major), maven or the Kafka jars, PostgreSQL, kcat, prometheus, chromium, python3-venv)"
  fi
  exit 0
fi

if [ "$mode" = install ] && [ "$(id -u)" = 0 ] && ! grep -q '^golang' <<<"$missing"; then
  pkgs=()
  while IFS=$'\t' read -r pkg why; do
    say "prereqs: installing $pkg ($why)"
    pkgs+=("$pkg")
  done <<<"$missing"
  t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A package this distribution does not carry (openjdk-21 is not in
  # Debian 12) would fail the whole install: leave it out and name it below.
  available=()
  for pkg in "${pkgs[@]}"; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then available+=("$pkg"); else say "prereqs: $pkg is not in this system's package archive" >&2; fi
  done
  pkgs=("${available[@]}")
  [ ${#pkgs[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends ca-certificates "${pkgs[@]}" >/dev/null
  say "prereqs: installed ${pkgs[*]} in $((SECONDS - t0))s"
  left="$(missing_packages)"
  if [ -n "$left" ]; then
    say "prereqs: still missing after apt-get install:" >&2
    say "$left" | sed 's/^/  - /' >&2
    exit 1
  fi
  exit 0
fi

say "prereqs: $([ "$scope" = demo-real ] && echo "make demo-real" || echo "the tests") need(s) what is not here:" >&2
while IFS=$'\t' read -r pkg why; do say "  - $why (Debian: $pkg)" >&2; done <<<"$missing"
pkgs="$(cut -f1 <<<"$missing" | grep -v '^golang$' | tr '\n' ' ')"
if [ -n "$pkgs" ]; then
  say "Install them with: sudo apt-get update && sudo apt-get install -y $pkgs" >&2
  say "(or run the tests as root: make test installs them itself), or run only the Go half: make test-embedded" >&2
fi
exit 1

#!/usr/bin/env bash
# The production path in one command (make demo-real): Apache Kafka and a
# PostgreSQL with its durable defaults (fsync, synchronous_commit and
# full_page_writes on: what a user runs, unlike the test server), every
# function's store on PostgreSQL (a schema each), the same burst of orders
# as make demo, the invariant check. It prints what make demo prints, the
# PostgreSQL settings it ran with and the CPU of the whole machine per
# order (Kafka and PostgreSQL included), and stops what it started.
#
#   scripts/demo-real.sh [demo flags...]     e.g. --orders 2000, --account, --profile DIR
#   scripts/demo-real.sh bench [bench flags...]   orderflow bench on the same path, e.g. --rates 100:
#                                            latency at fixed offered rates, beside the ceiling
#                                            measured on this Kafka and this PostgreSQL
#   scripts/demo-real.sh faults [faults flags...]  the fault suite on the same path (on its Kafka:
#                                            this script's Kafka is the one it restarts)
#
# Settings (environment):
#   ORDERS           orders to place (1000)
#   BROKER_WARMUP    orders run first through a throwaway topology, so that Kafka's JVM
#                    has compiled its hot paths as a broker that has run for a while has
#                    (5000; demo and bench): the broker starts with this run, and until
#                    then its JIT compiler costs more CPU an order than its requests do
#                    (the printed "java by thread" line shows what is left of it; 0
#                    measures a broker just started)
#   WARMUP           orders placed first on the measured topology, unmeasured (500; bench:
#                    on each rate's topology): its connections, statements and caches
#   DEMO_REAL_STATE  state folder (.cache/demo-real): kafka/, postgres/, run/
#   KAFKA_PORT       Kafka's client port (39092; its controller +100)
#   PG_PORT          PostgreSQL's port (16432)
#   PG_STATEMENTS=1  load pg_stat_statements, for --account's statement counts
#
# Java 17+ and PostgreSQL's server binaries are needed (and Maven, the first
# time, to fetch Kafka from Maven Central): as root they are installed with
# apt-get as make test does; otherwise it stops at once, naming them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

state="${DEMO_REAL_STATE:-$root/.cache/demo-real}"
export KAFKA_PORT="${KAFKA_PORT:-39092}"
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 100))
export KAFKA_RUN="$state/kafka"
export PG_PORT="${PG_PORT:-16432}"
export PG_DIR="$state/postgres"
export PG_DURABLE=1
orders="${ORDERS:-1000}"
warmup="${WARMUP:-500}"
broker_warmup="${BROKER_WARMUP:-5000}"

say() { printf '%s\n' "$*"; }
case "$broker_warmup" in '' | *[!0-9]*) say "demo-real: BROKER_WARMUP=$broker_warmup: want a number of orders (0 for none)" >&2; exit 2 ;; esac
case "$warmup" in '' | *[!0-9]*) say "demo-real: WARMUP=$warmup: want a number of orders (0 for none)" >&2; exit 2 ;; esac
what=demo
case "${1:-}" in bench | faults) what="$1"; shift ;; esac

PREREQS_FOR=demo-real scripts/prereqs.sh
[ -x bin/orderflow ] || { say "demo-real: bin/orderflow is missing: run make build (make demo-real does)" >&2; exit 1; }

kafka_started=0 pg_started=0
cleanup() {
  local rc=$?
  say "stopping Kafka and PostgreSQL..."
  if [ "$kafka_started" = 1 ]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
  if [ "$pg_started" = 1 ]; then scripts/postgres.sh stop >/dev/null 2>&1 || true; fi
  exit $rc
}
trap cleanup EXIT

say "starting Apache Kafka $(scripts/kafka.sh version) on 127.0.0.1:$KAFKA_PORT and PostgreSQL on 127.0.0.1:$PG_PORT (durable defaults)..."
if scripts/kafka.sh status >/dev/null 2>&1; then scripts/kafka.sh stop >/dev/null; fi
kafka_started=1
bootstrap="$(scripts/kafka.sh start)"
# A server left running by an earlier run may have other settings: start
# this one afresh, with its data kept.
if scripts/postgres.sh status >/dev/null 2>&1; then scripts/postgres.sh stop >/dev/null 2>&1; fi
pg_started=1
pg_url="$(scripts/postgres.sh start)"

# Kafka's JVM interprets and compiles its hot paths over its first minutes;
# measured, that is 2-3 ms of CPU an order on top of its 1-2 for the
# requests themselves (docs/performance.md). A throwaway topology, one
# replica each and its own state, takes the broker through that first.
if [ "$what" != faults ] && [ "$broker_warmup" != 0 ]; then
  say "warming Kafka's JVM: $broker_warmup orders through a throwaway topology, not measured..."
  started=$SECONDS
  # Its progress lines are shown, the rest kept in the log (pipefail: the
  # demo's exit status is the pipeline's).
  if ! ORDERFLOW_DATABASE_URL="$pg_url" bin/orderflow demo --brokers "$bootstrap" --orders "$broker_warmup" \
    --warmup-orders 0 --scale '*=1' --state-dir "$state/broker-warmup" 2>&1 |
    tee "$state/broker-warmup.log" | awk '/ finished \(placed / { print "  broker warm-up:", $1; fflush() }'; then
    tail -n 20 "$state/broker-warmup.log" >&2
    say "demo-real: the broker warm-up failed (log: $state/broker-warmup.log)" >&2
    exit 1
  fi
  say "broker warm-up: $broker_warmup orders in $((SECONDS - started))s ($(grep -m1 '^throughput:' "$state/broker-warmup.log" | sed 's/^throughput: //'))"
fi

if [ "$what" = bench ]; then
  extra=()
  [ "$warmup" = 0 ] || extra=(--warmup-orders "$warmup") # a --warmup-orders given after it wins
  ORDERFLOW_DATABASE_URL="$pg_url" bin/orderflow bench --brokers "$bootstrap" --state-dir "$state/bench" "${extra[@]}" "$@"
elif [ "$what" = faults ]; then
  ORDERFLOW_DATABASE_URL="$pg_url" bin/orderflow faults --brokers "$bootstrap" --state-dir "$state/faults" "$@"
else
  extra=()
  [ "$warmup" = 0 ] || extra=(--warmup-orders "$warmup")
  ORDERFLOW_DATABASE_URL="$pg_url" bin/orderflow demo --brokers "$bootstrap" --orders "$orders" "${extra[@]}" \
    --state-dir "$state/run" "$@"
fi

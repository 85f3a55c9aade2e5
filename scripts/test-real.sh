#!/usr/bin/env bash
# The real-infrastructure half of `make test`: Apache Kafka (scripts/kafka.sh)
# and PostgreSQL (scripts/postgres.sh), started here and stopped at the end.
#
#   scripts/test-real.sh [all|suite|e2e|replication]
#
#   suite         every store test on PostgreSQL, then the end-to-end suite on
#                 a single-node Apache Kafka + PostgreSQL (kcat interop included)
#   e2e           only that end-to-end suite
#   replication   the replication test on a three-node Kafka cluster
#                 (RF 3, min.insync.replicas 2, node 2 stopped mid-run)
#   all           both (the default; what `make test` runs)
#   check         only say what is missing (scripts/prereqs.sh --check)
#
# It needs what scripts/prereqs.sh checks (`make test` runs that first and,
# as root, installs what is missing). As root it runs PostgreSQL as the
# `postgres` user, otherwise as you.
#
# It uses its own ports and state, so a broker or database you run by hand
# with the scripts' defaults is left alone:
#   TEST_KAFKA_PORT (29092; the cluster uses 29092-29094, controllers +100)
#   TEST_PG_PORT    (25432)
#   TEST_STATE      (.cache/test-real: kafka/ and postgres/ state and logs)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode="${1:-all}"
case "$mode" in all | suite | e2e | replication | check) ;; *) echo "usage: $0 [all|suite|e2e|replication|check]" >&2; exit 2 ;; esac

state="${TEST_STATE:-$root/.cache/test-real}"
export KAFKA_PORT="${TEST_KAFKA_PORT:-29092}"
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 100))
export KAFKA_RUN="$state/kafka"
export PG_PORT="${TEST_PG_PORT:-25432}"
export PG_DIR="$state/postgres"
# The replication test stops and restarts a node through scripts/kafka.sh;
# the variables above reach it through the environment.

say() { printf '%s\n' "$*"; }
t0=$SECONDS
phase_start=$SECONDS
phase() { phase_start=$SECONDS; say ""; say "== $*"; }
phase_done() { say "== done in $((SECONDS - phase_start))s"; }

# ---------------------------------------------------------------- prerequisites

kafka_version="$(scripts/kafka.sh version)"
# scripts/prereqs.sh names whatever is missing (make test installs it first
# when run as root).
scripts/prereqs.sh --check >&2
[ "$mode" = check ] && exit 0

# ---------------------------------------------------------------- infrastructure

kafka_started=0 pg_started=0
cleanup() {
  local rc=$?
  if [ "$kafka_started" = 1 ]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
  if [ "$pg_started" = 1 ]; then scripts/postgres.sh stop >/dev/null 2>&1 || true; fi
  if [ $rc -ne 0 ]; then
    say "" >&2
    say "test-real: FAILED after $((SECONDS - t0))s (logs: $KAFKA_RUN/run-*/, $(scripts/postgres.sh dir)/postgres.log)" >&2
  fi
  exit $rc
}
trap cleanup EXIT

start_postgres() {
  phase "PostgreSQL (scripts/postgres.sh start, 127.0.0.1:$PG_PORT)"
  pg_started=1
  pg_url="$(scripts/postgres.sh start)"
  pg_version="$(scripts/postgres.sh psql -tA -c 'SHOW server_version' | head -n 1)"
  say "PostgreSQL $pg_version ready: $pg_url"
  phase_done
}

# A test broker left running by an interrupted run is stopped first: each
# run starts from empty storage.
fresh_kafka() {
  if scripts/kafka.sh status >/dev/null 2>&1; then
    say "stopping a test broker left running in $KAFKA_RUN"
    scripts/kafka.sh stop
  fi
}

pkgs_without_e2e() {
  local fns=()
  for f in functions/*/func.yaml; do fns+=("./$(dirname "$f")/..."); done
  go list ./shared/... "${fns[@]}" ./knlocal/... ./local/... | grep -v '/local/e2e$'
}

run_suite() {
  phase "Apache Kafka $kafka_version, one node (scripts/kafka.sh start, 127.0.0.1:$KAFKA_PORT)"
  fresh_kafka
  kafka_started=1
  local bootstrap running
  bootstrap="$(scripts/kafka.sh start)"
  running="$(scripts/kafka.sh server-version)"
  say "Kafka $running ready at $bootstrap: KRaft, broker+controller, auto.create.topics.enable=false"
  phase_done

  if [ "$mode" != e2e ]; then
    phase "unit and store tests on PostgreSQL $pg_version (ORDERFLOW_TEST_POSTGRES_URL)"
    # shellcheck disable=SC2046 # a list of packages
    ORDERFLOW_TEST_POSTGRES_URL="$pg_url" go test -count=1 -timeout 20m $(pkgs_without_e2e)
    phase_done
  fi

  phase "end-to-end suite, run 2 of 2: broker Apache Kafka $running (1 node at $bootstrap), store PostgreSQL $pg_version"
  # KAFKA_SCRIPT_CONTROLS: the fault suite may restart this broker through
  # scripts/kafka.sh (its broker-restart scenario).
  ORDERFLOW_E2E_BROKERS="$bootstrap" ORDERFLOW_E2E_KAFKA_VERSION="$running" ORDERFLOW_TEST_POSTGRES_URL="$pg_url" \
  ORDERFLOW_E2E_KAFKA_SCRIPT_CONTROLS=1 \
    go test -count=1 -v -timeout 30m ./local/e2e/
  phase_done
  scripts/kafka.sh stop
}

run_replication() {
  phase "Apache Kafka $kafka_version, three nodes (scripts/kafka.sh start-cluster, 127.0.0.1:$KAFKA_PORT-$((KAFKA_PORT + 2)))"
  fresh_kafka
  kafka_started=1
  local bootstrap running
  bootstrap="$(scripts/kafka.sh start-cluster)"
  running="$(scripts/kafka.sh server-version)"
  say "Kafka $running cluster ready at $bootstrap: 3 voters, each broker+controller"
  phase_done

  phase "replication test and the one-of-three-brokers-down fault: Apache Kafka $running, 3 nodes, topics RF 3 / min.insync.replicas 2, node 2 stopped mid-run; store PostgreSQL $pg_version"
  ORDERFLOW_E2E_CLUSTER="$bootstrap" ORDERFLOW_E2E_KAFKA_VERSION="$running" ORDERFLOW_TEST_POSTGRES_URL="$pg_url" \
  ORDERFLOW_E2E_FAULTS=one-of-three-brokers-down \
    go test -count=1 -v -timeout 20m -run '^(TestReplicationSurvivesABrokerStop|TestFaultInjectionSuite)$' ./local/e2e/
  phase_done
  scripts/kafka.sh stop
}

say "test-real: Apache Kafka $kafka_version and PostgreSQL, state in $state"
start_postgres
case "$mode" in
  suite | e2e) run_suite ;;
  replication) run_replication ;;
  all) run_suite; run_replication ;;
esac
say ""
say "test-real: passed in $((SECONDS - t0))s"

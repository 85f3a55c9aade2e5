#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, no ZooKeeper) on 127.0.0.1, for tests.
#
#   scripts/kafka.sh fetch           download the broker's jars with Maven into the cache (once)
#   scripts/kafka.sh start           one node, broker+controller, on 127.0.0.1:$KAFKA_PORT; prints the bootstrap
#   scripts/kafka.sh start-cluster   three nodes, each broker+controller, 3-voter quorum, RF 3 / min ISR 2;
#                                    restarts only the stopped nodes of a cluster that is partly up
#   scripts/kafka.sh stop [NODE]     clean stop of node NODE (1..3) or of every node
#   scripts/kafka.sh restart         stop the single node and start it again on its data (a broker restart)
#   scripts/kafka.sh status          which nodes run; exit 1 if none
#   scripts/kafka.sh bootstrap       the bootstrap servers of what runs (127.0.0.1:19092[,...])
#   scripts/kafka.sh create-topic NAME [PARTITIONS]   (auto-creation is off)
#   scripts/kafka.sh version         the pinned version
#   scripts/kafka.sh server-version  the version the running broker reports in its log ("Kafka version: ...")
#   scripts/kafka.sh requests        requests the single node has served so far, by type (needs KAFKA_JMX_PORT
#                                    at start): "Produce 1234" per line, from the broker's RequestMetrics over JMX
#
# Settings (environment):
#   KAFKA_CACHE            jar cache (.cache/kafka/<version>); fetch fills KAFKA_CACHE/libs, later runs need no network
#   KAFKA_RUN              state folder (.cache/kafka): run-single/, run-cluster/node-N/ with
#                          server.properties, data/, kafka.log, kafka.pid
#   KAFKA_PORT             client port of node 1 (19092); node N listens on KAFKA_PORT+N-1
#   KAFKA_CONTROLLER_PORT  controller port of node 1 (KAFKA_PORT+100); node N on +N-1
#   KAFKA_HEAP             JVM heap flags per node (-Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (120)
#   KAFKA_JMX_PORT         if set, node 1 serves JMX on 127.0.0.1:KAFKA_JMX_PORT (for `requests`)
#   KAFKA_STOP_SIGNAL      what stop and restart send (TERM: a controlled shutdown); KILL is a
#                          crash (kill -9), as the nemesis's restart-broker does
#
# A start with nothing running begins from empty storage (a throwaway
# broker); a node restarted inside a running cluster keeps its data.
set -euo pipefail

KAFKA_VERSION=4.4.0 # org.apache.kafka:kafka_2.13, Maven Central
LOG4J_VERSION=2.25.5 # the log4j2 that kafka-server 4.4.0 depends on; + its slf4j 1.x binding

root="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_CACHE="${KAFKA_CACHE:-$root/.cache/kafka/$KAFKA_VERSION}"
KAFKA_RUN="${KAFKA_RUN:-$root/.cache/kafka}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 100))}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
# Kafka 4.x needs Java 17+. Where the default java is older and a newer
# JDK is installed beside it (Debian's openjdk-17 does not take over the
# default), use the newest one found.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  for jbin in $(ls -d /usr/lib/jvm/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$jbin/java" ] && [ "$("$jbin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)" -ge 17 ] 2>/dev/null; then
      PATH="$jbin:$PATH"
      break
    fi
  done
fi
libs="$KAFKA_CACHE/libs"
single="$KAFKA_RUN/run-single"
cluster="$KAFKA_RUN/run-cluster"

# Nodes this run launched: a start that fails stops them again rather than
# leaving a half-started broker behind.
launched=()
die() {
  echo "kafka.sh: $*" >&2
  if [ ${#launched[@]} -gt 0 ]; then
    echo "kafka.sh: stopping the node(s) this start launched" >&2
    stop_dirs "${launched[@]}" || true
  fi
  exit 1
}
say() { echo "kafka.sh: $*" >&2; }

# ---------------------------------------------------------------- fetch

cmd_fetch() {
  if [ -f "$libs/.complete" ]; then
    say "Kafka $KAFKA_VERSION jars already in $libs"
    return
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka: apt-get install -y maven"
  command -v java >/dev/null || die "Java 17+ is needed: apt-get install -y openjdk-17-jre-headless"
  local t0=$SECONDS work
  work="$KAFKA_CACHE/pom"
  mkdir -p "$work"
  # kafka_2.13 is the broker (kafka.Kafka, kafka.tools.StorageTool) and
  # brings kafka-server, -raft, -metadata, -storage, the coordinators and
  # log4j-core at runtime scope. kafka-tools adds the admin commands used
  # here (TopicCommand, BrokerApiVersionsCommand); its Kafka Connect runtime
  # (Jetty, Jersey: ~20 MB) is not needed for them and is left out. The
  # log4j slf4j binding makes the broker's slf4j logging reach log4j2.
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.orderflow.cache</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$libs.tmp"
  say "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies with Maven..."
  if ! mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >"$work/mvn.log" 2>&1; then
    tail -n 30 "$work/mvn.log" >&2
    die "Maven could not fetch Kafka $KAFKA_VERSION (log: $work/mvn.log)"
  fi
  [ -f "$libs.tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Maven ran but kafka_2.13-$KAFKA_VERSION.jar is not in $libs.tmp"
  touch "$libs.tmp/.complete"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  say "Kafka $KAFKA_VERSION: $(ls "$libs"/*.jar | wc -l) jars, $(du -sh "$libs" | cut -f1), in $((SECONDS - t0))s -> $libs"
}

need_libs() {
  [ -f "$libs/.complete" ] || cmd_fetch
  command -v java >/dev/null || die "Java 17+ is needed: apt-get install -y openjdk-17-jre-headless"
}

# A JVM for a one-off tool run: small, quick to start.
tool() { java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$KAFKA_RUN/tools-log4j2.properties" -cp "$libs/*" "$@"; }

tools_log_config() {
  mkdir -p "$KAFKA_RUN"
  cat >"$KAFKA_RUN/tools-log4j2.properties" <<'EOF'
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = ERR
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %d [%p] %m (%c)%n
EOF
}

# ---------------------------------------------------------------- nodes

# node_dir MODE N
node_dir() { if [ "$1" = single ]; then echo "$single"; else echo "$cluster/node-$2"; fi; }
port_of() { echo $((KAFKA_PORT + $1 - 1)); }
cport_of() { echo $((KAFKA_CONTROLLER_PORT + $1 - 1)); }

# pid_of DIR: the pid of the live broker of that folder, or nothing.
pid_of() {
  local f="$1/kafka.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid must still be our broker, not a recycled number.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1/server.properties" || return 1
  echo "$pid"
}

running_mode() {
  if pid_of "$single" >/dev/null; then echo single; return; fi
  local n
  for n in 1 2 3; do
    if pid_of "$cluster/node-$n" >/dev/null; then echo cluster; return; fi
  done
  return 1
}

bootstrap_of() {
  if [ "$1" = single ]; then
    echo "127.0.0.1:$(port_of 1)"
  else
    echo "127.0.0.1:$(port_of 1),127.0.0.1:$(port_of 2),127.0.0.1:$(port_of 3)"
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# write_config MODE N
write_config() {
  local mode="$1" n="$2" dir rf=1 isr=1 voters bootstrap
  dir="$(node_dir "$mode" "$n")"
  mkdir -p "$dir"
  if [ "$mode" = cluster ]; then
    rf=3 isr=2
    voters="1@127.0.0.1:$(cport_of 1),2@127.0.0.1:$(cport_of 2),3@127.0.0.1:$(cport_of 3)"
  fi
  {
    echo "# written by scripts/kafka.sh ($mode, node $n)"
    echo "process.roles=broker,controller"
    echo "node.id=$n"
    echo "listeners=PLAINTEXT://127.0.0.1:$(port_of "$n"),CONTROLLER://127.0.0.1:$(cport_of "$n")"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$(port_of "$n")"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    if [ "$mode" = cluster ]; then
      # A static 3-voter quorum: every node formats with the same voters.
      echo "controller.quorum.voters=$voters"
    else
      # A dynamic quorum of one, formatted with --standalone.
      echo "controller.quorum.bootstrap.servers=127.0.0.1:$(cport_of "$n")"
    fi
    echo "log.dirs=$dir/data"
    echo "auto.create.topics.enable=false"
    echo "num.partitions=1"
    echo "default.replication.factor=$rf"
    echo "min.insync.replicas=$isr"
    echo "offsets.topic.replication.factor=$rf"
    echo "offsets.topic.num.partitions=10"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$isr"
    echo "transaction.state.log.num.partitions=10"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$isr"
    echo "group.initial.rebalance.delay.ms=0"
    echo "log.retention.hours=24"
    echo "log.segment.bytes=67108864"
  } >"$dir/server.properties"
  cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.change.name = state.change.logger
logger.change.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
}

# format MODE N CLUSTER_ID
format() {
  local mode="$1" n="$2" id="$3" dir
  dir="$(node_dir "$mode" "$n")"
  rm -rf "$dir/data"
  local args=(format --config "$dir/server.properties" --cluster-id "$id")
  [ "$mode" = single ] && args+=(--standalone)
  echo "kafka.tools.StorageTool ${args[*]}" >"$dir/format.log"
  tool kafka.tools.StorageTool "${args[@]}" >>"$dir/format.log" 2>&1 ||
    { cat "$dir/format.log" >&2; die "formatting the storage of node $n failed"; }
}

launch() {
  local mode="$1" n="$2" dir
  dir="$(node_dir "$mode" "$n")"
  port_free "$(port_of "$n")" || die "127.0.0.1:$(port_of "$n") is taken by another process (set KAFKA_PORT)"
  port_free "$(cport_of "$n")" || die "127.0.0.1:$(cport_of "$n") is taken by another process (set KAFKA_CONTROLLER_PORT)"
  local jmx=()
  if [ -n "${KAFKA_JMX_PORT:-}" ] && [ "$n" = 1 ]; then
    port_free "$KAFKA_JMX_PORT" || die "127.0.0.1:$KAFKA_JMX_PORT is taken by another process (set KAFKA_JMX_PORT)"
    jmx=(-Dcom.sun.management.jmxremote.port="$KAFKA_JMX_PORT" -Dcom.sun.management.jmxremote.rmi.port="$KAFKA_JMX_PORT"
      -Dcom.sun.management.jmxremote.host=127.0.0.1 -Djava.rmi.server.hostname=127.0.0.1
      -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false)
  fi
  # shellcheck disable=SC2086 # KAFKA_HEAP is a list of flags
  nohup java $KAFKA_HEAP "${jmx[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  launched+=("$dir")
}

# wait_started MODE N DEADLINE: the node logged that it serves.
wait_started() {
  local mode="$1" n="$2" deadline="$3" dir
  dir="$(node_dir "$mode" "$n")"
  until grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null; do
    if ! pid_of "$dir" >/dev/null; then
      tail -n 40 "$dir/kafka.log" >&2
      die "node $n exited while starting (log: $dir/kafka.log)"
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      tail -n 40 "$dir/kafka.log" >&2
      die "node $n not started after ${KAFKA_START_TIMEOUT}s (log: $dir/kafka.log)"
    fi
    sleep 0.3
  done
}

# brokers_seen BOOTSTRAP: how many unfenced brokers the cluster metadata lists.
brokers_seen() {
  tool org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$1" 2>/dev/null |
    grep -c '^127\.0\.0\.1:[0-9]* (id: ' || true
}

wait_brokers() {
  local bootstrap="$1" want="$2" deadline="$3" seen=0
  while :; do
    seen="$(brokers_seen "$bootstrap")"
    [ "$seen" -ge "$want" ] && return
    if [ $SECONDS -ge "$deadline" ]; then
      local d
      for d in "$KAFKA_RUN"/run-*/ "$cluster"/node-*/; do
        [ -f "$d/kafka.log" ] && { echo "== $d/kafka.log" >&2; tail -n 15 "$d/kafka.log" >&2; }
      done
      die "the cluster lists $seen of $want brokers after ${KAFKA_START_TIMEOUT}s"
    fi
    sleep 1
  done
}

version_line() {
  local v
  v="$(grep -m1 -o 'Kafka version: [^ ]*' "$1/kafka.log" 2>/dev/null | cut -d' ' -f3 || true)"
  echo "${v:-unknown}"
}

cmd_start() {
  local mode
  if mode="$(running_mode)"; then
    if [ "$mode" = single ]; then
      say "already running (single node)"
      bootstrap_of single
      return
    fi
    die "a 3-node cluster is running ($(bootstrap_of cluster)): stop it first (scripts/kafka.sh stop)"
  fi
  need_libs
  tools_log_config
  local t0=$SECONDS deadline=$((SECONDS + KAFKA_START_TIMEOUT)) id
  rm -rf "$single"
  write_config single 1
  id="$(tool kafka.tools.StorageTool random-uuid)"
  format single 1 "$id"
  launch single 1
  # A port the last broker held a moment ago can still refuse the bind
  # (seen once running make demo-real twice in a row): one more try.
  if ! (wait_started single 1 "$deadline") 2>/dev/null; then
    if grep -q "BindException" "$single/kafka.log" 2>/dev/null; then
      say "a port was still taken ($(grep -m1 -o 'failed to bind to [0-9.:]*' "$single/kafka.log")): starting again in 5s"
      sleep 5
      launch single 1
    fi
    wait_started single 1 "$deadline"
  fi
  wait_brokers "$(bootstrap_of single)" 1 "$deadline"
  say "Kafka $(version_line "$single") ready in $((SECONDS - t0))s: 1 node (broker+controller), cluster $id, log $single/kafka.log"
  bootstrap_of single
}

# cmd_restart bounces the single node, keeping its storage: the restart a
# broker upgrade or crash causes, as the fault suite injects it.
cmd_restart() {
  [ -f "$single/data/meta.properties" ] || die "restart: no single-node storage to restart on (scripts/kafka.sh start first)"
  if pid_of "$single" >/dev/null; then cmd_stop; fi
  local t0=$SECONDS deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  : >"$single/kafka.log"
  launch single 1
  wait_started single 1 "$deadline"
  wait_brokers "$(bootstrap_of single)" 1 "$deadline"
  say "Kafka restarted on its data in $((SECONDS - t0))s"
  bootstrap_of single
}

cmd_start_cluster() {
  local mode
  if mode="$(running_mode)" && [ "$mode" = single ]; then
    die "a single-node broker is running ($(bootstrap_of single)): stop it first (scripts/kafka.sh stop)"
  fi
  need_libs
  tools_log_config
  local t0=$SECONDS deadline=$((SECONDS + KAFKA_START_TIMEOUT)) n id up=() down=()
  for n in 1 2 3; do
    if pid_of "$cluster/node-$n" >/dev/null; then up+=("$n"); else down+=("$n"); fi
  done
  if [ ${#down[@]} -eq 0 ]; then
    say "already running (3 nodes)"
    bootstrap_of cluster
    return
  fi
  if [ ${#up[@]} -eq 0 ]; then
    rm -rf "$cluster"
    id="$(tool kafka.tools.StorageTool random-uuid)"
    for n in 1 2 3; do write_config cluster "$n"; done
    local pids=()
    for n in 1 2 3; do format cluster "$n" "$id" & pids+=($!); done
    for n in "${!pids[@]}"; do wait "${pids[$n]}" || die "formatting node $((n + 1)) failed"; done
    echo "$id" >"$cluster/cluster.id"
  else
    # Nodes of a running cluster come back on the data they had.
    for n in "${down[@]}"; do
      [ -f "$cluster/node-$n/data/meta.properties" ] || die "node $n has no formatted storage to restart on: stop the cluster and start it afresh"
    done
    id="$(cat "$cluster/cluster.id")"
    say "restarting node(s) ${down[*]} of the running cluster"
  fi
  for n in "${down[@]}"; do
    [ -f "$cluster/node-$n/kafka.log" ] && mv "$cluster/node-$n/kafka.log" "$cluster/node-$n/kafka.log.prev"
    launch cluster "$n"
  done
  for n in "${down[@]}"; do wait_started cluster "$n" "$deadline"; done
  wait_brokers "$(bootstrap_of cluster)" 3 "$deadline"
  say "Kafka $(version_line "$cluster/node-${down[0]}") ready in $((SECONDS - t0))s: 3 nodes (broker+controller each, 3 voters), cluster $id"
  bootstrap_of cluster
}

# stop_dirs DIR...: SIGTERM (a controlled shutdown) to all at once, then
# wait; SIGKILL whatever is still there after 60s.
stop_dirs() {
  local d pid pids=() names=() sig="${KAFKA_STOP_SIGNAL:-TERM}"
  [[ "$sig" =~ ^(TERM|KILL)$ ]] || die "KAFKA_STOP_SIGNAL=$sig: want TERM or KILL"
  for d in "$@"; do
    if pid="$(pid_of "$d")"; then
      kill -"$sig" "$pid"
      pids+=("$pid")
      names+=("$d")
    fi
  done
  [ ${#pids[@]} -eq 0 ] && return 1
  local deadline=$((SECONDS + 60)) i
  for i in "${!pids[@]}"; do
    while kill -0 "${pids[$i]}" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then
        say "node in ${names[$i]} did not stop in 60s: killing it"
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    rm -f "${names[$i]}/kafka.pid"
  done
}

cmd_stop() {
  local which="${1:-}"
  if [ -n "$which" ]; then
    [[ "$which" =~ ^[1-3]$ ]] || die "stop: node is 1, 2 or 3"
    local mode
    mode="$(running_mode)" || { say "not running"; return 0; }
    local dir
    dir="$(node_dir "$mode" "$which")"
    [ "$mode" = single ] && [ "$which" != 1 ] && die "the single-node broker has only node 1"
    if stop_dirs "$dir"; then say "node $which stopped"; else say "node $which was not running"; fi
    return 0
  fi
  if stop_dirs "$single" "$cluster/node-1" "$cluster/node-2" "$cluster/node-3"; then
    say "stopped"
  else
    say "not running"
  fi
}

cmd_status() {
  local mode n pid dir
  mode="$(running_mode)" || { echo "Kafka not running"; return 1; }
  if [ "$mode" = single ]; then
    echo "single node: pid $(pid_of "$single") on $(bootstrap_of single) (Kafka $(version_line "$single"), log $single/kafka.log)"
    return
  fi
  for n in 1 2 3; do
    dir="$cluster/node-$n"
    if pid="$(pid_of "$dir")"; then
      echo "node $n: pid $pid on 127.0.0.1:$(port_of "$n"), controller 127.0.0.1:$(cport_of "$n") (log $dir/kafka.log)"
    else
      echo "node $n: stopped"
    fi
  done
}

cmd_bootstrap() {
  local mode
  mode="$(running_mode)" || die "Kafka is not running: scripts/kafka.sh start"
  bootstrap_of "$mode"
}

cmd_server_version() {
  local mode n
  mode="$(running_mode)" || die "Kafka is not running: scripts/kafka.sh start"
  if [ "$mode" = single ]; then
    version_line "$single"
    return
  fi
  for n in 1 2 3; do
    if pid_of "$cluster/node-$n" >/dev/null; then
      version_line "$cluster/node-$n"
      return
    fi
  done
}

cmd_create_topic() {
  local name="${1:-}" parts="${2:-3}" mode
  [ -n "$name" ] || die "create-topic NAME [PARTITIONS]"
  mode="$(running_mode)" || die "Kafka is not running: scripts/kafka.sh start"
  need_libs
  tools_log_config
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap_of "$mode")" \
    --create --if-not-exists --topic "$name" --partitions "$parts"
}

# cmd_requests prints, per request type, how many requests the broker has
# served since it started (kafka.network RequestMetrics RequestsPerSec's
# Count), read over JMX by Kafka's own JmxTool.
cmd_requests() {
  [ -n "${KAFKA_JMX_PORT:-}" ] || die "requests: set KAFKA_JMX_PORT (the port given at start)"
  need_libs; tools_log_config
  tool org.apache.kafka.tools.JmxTool --one-time true --report-format properties \
    --jmx-url "service:jmx:rmi:///jndi/rmi://127.0.0.1:$KAFKA_JMX_PORT/jmxrmi" \
    --object-name 'kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*' --attributes Count 2>/dev/null |
    sed -n 's/.*request=\([A-Za-z]*\),version=[0-9]*:Count=\([0-9]*\).*/\1 \2/p' |
    awk '{n[$1] += $2} END {for (k in n) print k, n[k]}' | sort
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  requests) cmd_requests ;;
  start) cmd_start ;;
  start-cluster) cmd_start_cluster ;;
  stop) shift; cmd_stop "${1:-}" ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  bootstrap) cmd_bootstrap ;;
  create-topic) shift; cmd_create_topic "$@" ;;
  version) echo "$KAFKA_VERSION" ;;
  server-version) cmd_server_version ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

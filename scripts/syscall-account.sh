#!/usr/bin/env bash
# syscall-account.sh [ORDERS]: what an order costs the kernel on the embedded path.
#
# Starts `bin/orderflow up` in a scratch state directory, warms it with 300 orders, then counts, per
# process of the topology (the plane and each function), the system calls by kind and the context
# switches (perf, tracepoints) and the user and kernel CPU (/proc/<pid>/stat) over a
# `demo --attach --orders ORDERS` burst (default 1,000), and prints each per order ended. The load
# generator (the demo process) is left out: it is not part of the topology. Needs perf (Debian:
# linux-perf) and tracefs; run as root. Counts, unlike seconds, barely move from run to run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
orders=${1:-1000}
case "$orders" in '' | *[!0-9]*) echo "usage: $0 [ORDERS]" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "$0: needs perf (apt-get install linux-perf)" >&2; exit 1; }
[ -x bin/orderflow ] || make build >/dev/null

state=$(mktemp -d)
up_pid=""
cleanup() {
	[ -n "$up_pid" ] && kill -INT "$up_pid" 2>/dev/null && sleep 2
	rm -rf "$state"
}
trap cleanup EXIT

bin/orderflow --state-dir "$state/st" up >"$state/up.log" 2>&1 </dev/null &
up_pid=$!
for _ in $(seq 1 120); do grep -q "is up" "$state/up.log" 2>/dev/null && break; sleep 0.5; done
grep -q "is up" "$state/up.log" || { echo "$0: orderflow up did not start:" >&2; tail "$state/up.log" >&2; exit 1; }
echo "warming up: 300 orders..."
bin/orderflow --state-dir "$state/st" demo --attach --orders 300 >/dev/null

pids="$up_pid $(pgrep -P "$up_pid" | tr '\n' ' ')"
kinds="pwrite64 write read futex epoll_pwait nanosleep lseek pread64 setsockopt sched_yield"
events="raw_syscalls:sys_enter,context-switches"
for k in $kinds; do events="$events,syscalls:sys_enter_$k"; done
cpu_of() { awk '{print $14, $15}' "/proc/$1/stat"; }
declare -A before perf_pid
for p in $pids; do
	before[$p]=$(cpu_of "$p")
	perf stat -x, -e "$events" -p "$p" -o "$state/perf.$p" &
	perf_pid[$p]=$!
done
sleep 0.3
echo "measuring: $orders orders..."
bin/orderflow --state-dir "$state/st" demo --attach --orders "$orders" >"$state/demo.log"
for p in $pids; do kill -INT "${perf_pid[$p]}"; done
wait "${perf_pid[@]}" 2>/dev/null || true

hz=$(getconf CLK_TCK)
grep -E "^throughput|=> " "$state/demo.log" || true
printf "per order ended (%d orders)   %8s %8s %8s %8s" "$orders" "user-ms" "kern-ms" "syscalls" "ctxsw"
for k in $kinds; do printf " %8.8s" "$k"; done
echo
for p in $pids; do
	read -r u1 s1 <<<"${before[$p]}"
	read -r u2 s2 < <(cpu_of "$p")
	name=$(tr '\0' ' ' <"/proc/$p/cmdline" | awk '{print ($2 == "--state-dir") ? "plane" : $2}')
	awk -F, -v n="$orders" -v name="$name" -v user="$(((u2 - u1) * 1000))" -v kern="$(((s2 - s1) * 1000))" -v hz="$hz" -v kinds="$kinds" '
		$1 ~ /^[0-9.]+$/ { ev = $3; sub(/.*:(sys_enter_)?/, "", ev); v[ev] = $1 }
		END {
			printf "%-30s %8.2f %8.2f %8.0f %8.0f", name, user / hz / n, kern / hz / n, v["sys_enter"] / n, v["context-switches"] / n
			split(kinds, k, " "); for (i = 1; i in k; i++) printf " %8.0f", v[k[i]] / n
			printf "\n"
		}' "$state/perf.$p"
done

#!/usr/bin/env bash
# Queue mode under load: requests accepted per second (answered 202 once durable) at 1 KiB
# through the sidecar, with `fsync` and with `os` durability, in one run; the group commit's
# fsyncs per second and records per commit at that rate; then how fast the engine drains the
# queue to a local app. The load generator is the bench-peers wrk script (fixed body, valid
# GitHub signature); the app is `hookguard echo`.
#
#   bench/queue.sh                     # DURATION=10s CONNS=64 SIZE=1024 PIN=1
#   PEERS=/path/to/bench-peers bench/queue.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
[ -x "$PEERS/run.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
command -v wrk >/dev/null || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl util-linux; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SIZE=${SIZE:-1024}
PIN=${PIN:-1}
pin_sidecar=""; pin_load=""
[ "$PIN" = 1 ] && { pin_sidecar="taskset -c 1"; pin_load="0"; }

cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/hookguard
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" queue-bench.XXXXXX)
export BENCH_RUN=$RUN
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT

"$BIN" echo --listen 127.0.0.1:18190 >/dev/null 2>&1 &
pids+=($!)

metric() { # name{labels} → value (sum over matching lines)
  curl -fs http://127.0.0.1:18192/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f", s }'
}

for durability in fsync os; do
  cat >"$RUN/$durability.toml" <<TOML
listen = "127.0.0.1:18191"
admin_listen = "127.0.0.1:18192"
[upstream]
address = "127.0.0.1:18190"
[queue]
path = "queue-$durability"
durability = "$durability"
max_messages = 10000000
max_bytes = "8GiB"
[[routes]]
id = "bench"
match.path = "/"
scheme = "github"
# The bench-peers harness sends no X-GitHub-Delivery, which the replay guard refuses.
replay.enabled = false
secrets = [{ id = "primary", value = "bench-secret" }]
delivery = "queue"
queue = { concurrency = 32 }
TOML
  HOOKGUARD_LOG=warn $pin_sidecar "$BIN" run -c "$RUN/$durability.toml" >/dev/null 2>"$RUN/$durability.err" &
  sidecar=$!
  pids+=($sidecar)
  for _ in $(seq 100); do curl -fs http://127.0.0.1:18192/readyz >/dev/null 2>&1 && break; sleep 0.1; done
  # The engine delivers to the app while the load runs, as it would in production.
  commits0=$(metric hookguard_queue_commit_batch_size_count)
  records0=$(metric hookguard_queue_commit_batch_size_sum)
  line=$(LOAD_CPUS=$pin_load DURATION=$DURATION CONNS=$CONNS CPU_PIDS="sidecar=$sidecar" "$PEERS/run.sh" http://127.0.0.1:18191/ "$SIZE")
  commits=$(( $(metric hookguard_queue_commit_batch_size_count) - commits0 ))
  records=$(( $(metric hookguard_queue_commit_batch_size_sum) - records0 ))
  secs=${DURATION%s}
  # Drain: time until nothing is ready, scheduled or in flight.
  start=$(date +%s.%N)
  for _ in $(seq 600); do
    pending=$(curl -fs http://127.0.0.1:18192/metrics | awk '/^hookguard_queue_messages\{/ && /state="(ready|scheduled|in_flight)"/ { s += $NF } END { print s + 0 }')
    [ "$pending" = 0 ] && break
    sleep 0.1
  done
  drained=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  delivered=$(metric 'hookguard_delivery_attempts_total{direction="inbound",outcome="success"')
  echo "$durability: $line commits_per_s=$(( commits / secs )) records_per_commit=$(awk -v r="$records" -v c="$commits" 'BEGIN { printf "%.1f", r / (c ? c : 1) }') delivered=$delivered drain_after_load_s=$drained rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$sidecar/status)"
  kill "$sidecar"; wait "$sidecar" 2>/dev/null || true
done

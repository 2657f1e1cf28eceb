#!/usr/bin/env bash
# The sidecar under load with its state in memory and in a local Redis, in one run: forward
# mode, 1 KiB, GitHub signature, a per-route rate limit out of reach (so every request makes
# one rate decision: in process, or one GCRA script round trip to Redis). The upstream is
# `hookguard echo`; the load generator is the bench-peers wrk script. Then p50/p99 of one
# rate decision and of one replay reserve + commit (cargo bench -p hookguard-redis).
#
#   bench/redis.sh                     # DURATION=10s CONNS=64 SIZE=1024 PIN=1
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
[ -x "$PEERS/run.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server missing: make deps" >&2; exit 2; }
command -v wrk >/dev/null || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl util-linux; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SIZE=${SIZE:-1024}
PIN=${PIN:-1}
pin_sidecar=""; pin_load=""
[ "$PIN" = 1 ] && { pin_sidecar="taskset -c 1"; pin_load="0"; }

cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/hookguard
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" redis-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT

"$BIN" echo --listen 127.0.0.1:18290 >/dev/null 2>&1 &
pids+=($!)
redis-server --port 18293 --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN" --logfile "$RUN/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p 18293 ping >/dev/null 2>&1 && break; sleep 0.1; done

for backend in memory redis; do
  state=""
  [ "$backend" = redis ] && state=$'[state]\nbackend = "redis"\nurl = "redis://127.0.0.1:18293/0"'
  cat >"$RUN/$backend.toml" <<TOML
listen = "127.0.0.1:18291"
admin_listen = "127.0.0.1:18292"
[upstream]
address = "127.0.0.1:18290"
$state
[[routes]]
id = "bench"
match.path = "/"
scheme = "github"
secrets = [{ id = "primary", value = "bench-secret" }]
rate_limit.per_route = { requests = 100000000, per = "1s" }
# The bench-peers harness sends no X-GitHub-Delivery, which the replay guard refuses; the
# replay store's cost is the second figure below (cargo bench).
replay.enabled = false
TOML
  HOOKGUARD_LOG=warn $pin_sidecar "$BIN" run -c "$RUN/$backend.toml" >/dev/null 2>"$RUN/$backend.err" &
  sidecar=$!
  pids+=($sidecar)
  for _ in $(seq 100); do curl -fs http://127.0.0.1:18292/readyz >/dev/null 2>&1 && break; sleep 0.1; done
  line=$(LOAD_CPUS=$pin_load DURATION=$DURATION CONNS=$CONNS CPU_PIDS="sidecar=$sidecar" "$PEERS/run.sh" http://127.0.0.1:18291/ "$SIZE")
  echo "$backend: $line rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$sidecar/status)"
  kill "$sidecar"; wait "$sidecar" 2>/dev/null || true
done

cargo bench -q -p hookguard-redis --bench latency --manifest-path "$ROOT/Cargo.toml"

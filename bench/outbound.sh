#!/usr/bin/env bash
# Outbound webhooks under load, release build, fsync durability:
#  1. events accepted per second (202 once durable) at 1 KiB, one subscription;
#  2. deliveries per second to 1 and to 10 local endpoints (`hookguard echo`): a backlog of
#     events is queued with the endpoints down, then delivered (time to drain);
#  3. accept → delivered latency (p50/p99) at a steady RATE, measured by the endpoint.
#
#   bench/outbound.sh                  # DURATION=10s CONNS=32 SIZE=1024 BACKLOG=20000 RATE=200
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
SIZE=${SIZE:-1024}
BACKLOG=${BACKLOG:-20000}
RATE=${RATE:-200}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/hookguard
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" outbound-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT
ADMIN=http://127.0.0.1:18292

metric() { # sum of the samples starting with $1
  curl -fs $ADMIN/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f", s }'
}

# $1: name, $2: number of subscriptions (endpoints on 18300…)
start_sidecar() {
  { cat <<TOML
listen = "127.0.0.1:18291"
admin_listen = "127.0.0.1:18292"
[upstream]
address = "127.0.0.1:18290"
[queue]
path = "queue-$1"
durability = "fsync"
max_messages = 10000000
max_bytes = "8GiB"
retry_schedule = ["200ms", "1s"]
breaker = { cooldown = "200ms" }
[outbound]
listen = "127.0.0.1:18293"
allow_http = true
allow_networks = ["127.0.0.0/8"]
TOML
    for i in $(seq 0 $(( $2 - 1 ))); do cat <<TOML
[[subscriptions]]
id = "ep$i"
url = "http://127.0.0.1:$(( 18300 + i ))/hooks"
events = ["*"]
secrets = [{ id = "v1", value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }]
concurrency = 32
max_retries = 10
TOML
    done; } >"$RUN/$1.toml"
  HOOKGUARD_LOG=warn "$BIN" run -c "$RUN/$1.toml" >/dev/null 2>"$RUN/$1.err" &
  sidecar=$!
  pids+=($sidecar)
  for _ in $(seq 100); do curl -fs $ADMIN/readyz >/dev/null 2>&1 && break; sleep 0.1; done
}

stop_sidecar() { kill "$sidecar"; wait "$sidecar" 2>/dev/null || true; }

pending() {
  curl -fs $ADMIN/metrics | awk '/^hookguard_queue_messages\{/ && /state="(ready|scheduled|in_flight)"/ { s += $NF } END { print s + 0 }'
}

# 1. Accepted per second, one subscription, its endpoint up (deliveries run beside).
"$BIN" echo --listen 127.0.0.1:18300 >/dev/null 2>&1 & pids+=($!)
start_sidecar accept 1
out=$(SIZE=$SIZE wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$HERE/outbound_event.lua" http://127.0.0.1:18293/v1/events)
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
echo "accept: events_per_s=$rps accept_p99=$p99 $(grep non202 <<<"$out") commits_per_s=$(( $(metric hookguard_queue_commit_batch_size_count) / ${DURATION%s} ))"
stop_sidecar
kill "${pids[0]}"; pids=()

# 2. Deliveries per second to 1 and to 10 endpoints, from a backlog.
for n in 1 10; do
  start_sidecar "drain$n" "$n"
  events=$(( BACKLOG / n ))
  # Queue the backlog while no endpoint listens (the breaker holds the attempts back).
  SIZE=$SIZE timeout 120 wrk -t2 -c"$CONNS" -d60s -s "$HERE/outbound_event.lua" http://127.0.0.1:18293/v1/events >/dev/null &
  loader=$!
  until [ "$(metric 'hookguard_outbound_events_total{result="accepted"}')" -ge "$events" ]; do sleep 0.05; done
  kill $loader 2>/dev/null; wait $loader 2>/dev/null || true
  queued=$(pending)
  for i in $(seq 0 $(( n - 1 ))); do "$BIN" echo --listen 127.0.0.1:$(( 18300 + i )) >/dev/null 2>&1 & pids+=($!); done
  start=$(date +%s.%N)
  while [ "$(pending)" != 0 ]; do sleep 0.05; done
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  echo "deliver to $n endpoint(s): deliveries=$queued seconds=$secs deliveries_per_s=$(awk -v d="$queued" -v s="$secs" 'BEGIN { printf "%.0f", d / s }')"
  stop_sidecar
  kill "${pids[@]}" 2>/dev/null || true; pids=()
done

# 3. Accept → delivered at a steady rate, one endpoint.
start_sidecar latency 1
echo "latency at ${RATE}/s: $(python3 "$HERE/outbound_latency.py" http://127.0.0.1:18293 18300 "$RATE" "${DURATION%s}")"
stop_sidecar

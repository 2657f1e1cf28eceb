#!/usr/bin/env bash
# Payload rules under load: one sidecar, two routes, measured one after the other in the
# same run — `/plain` (GitHub signature only) and `/rules` (the same, plus an event filter
# on the body's `action` and an 8-field JSONPath mapping) — with the bench-peers wrk script
# (fixed 1 KiB body, valid signature), the app being `hookguard echo`.
#
#   bench/rules.sh                     # DURATION=10s CONNS=32 SIZE=1024 PIN=1 ROUNDS=2
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
[ -x "$PEERS/run.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
command -v wrk >/dev/null || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl util-linux; }
DURATION=${DURATION:-10s}; CONNS=${CONNS:-32}; SIZE=${SIZE:-1024}; PIN=${PIN:-1}; ROUNDS=${ROUNDS:-2}
pin_sidecar=""; pin_load=""
[ "$PIN" = 1 ] && { pin_sidecar="taskset -c 1"; pin_load="0"; }

cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/hookguard
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" rules-bench.XXXXXX)
export BENCH_RUN=$RUN
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT

"$BIN" echo --listen 127.0.0.1:18390 >/dev/null 2>&1 &
pids+=($!)
cat >"$RUN/rules.toml" <<'TOML'
listen = "127.0.0.1:18391"
admin_listen = "127.0.0.1:18392"
[upstream]
address = "127.0.0.1:18390"

[[routes]]
id = "plain"
match.path = "/plain"
scheme = "github"
# The bench-peers harness sends no X-GitHub-Delivery, which the replay guard refuses.
replay.enabled = false
secrets = [{ id = "primary", value = "bench-secret" }]

[[routes]]
id = "rules"
match.path = "/rules"
scheme = "github"
# The bench-peers harness sends no X-GitHub-Delivery, which the replay guard refuses.
replay.enabled = false
secrets = [{ id = "primary", value = "bench-secret" }]
[routes.rules]
event_source = { path = "$.action" }
events = ["opened", "closed", "reopened"]
ignore = ["labeled"]
transform = { action = "$.action", repo = "$.repository.full_name", repo_id = "$.repository.id", delivery = "$.delivery", pad = "$.pad", route = "{{ route }}", received = "{{ received_at }}", client = "{{ client_ip }}" }
TOML
HOOKGUARD_LOG=warn $pin_sidecar "$BIN" run -c "$RUN/rules.toml" >/dev/null 2>"$RUN/sidecar.err" &
sidecar=$!
pids+=($sidecar)
for _ in $(seq 100); do curl -fs http://127.0.0.1:18392/readyz >/dev/null 2>&1 && break; sleep 0.1; done

for round in $(seq "$ROUNDS"); do
  for route in plain rules; do
    line=$(LOAD_CPUS=$pin_load DURATION=$DURATION CONNS=$CONNS CPU_PIDS="sidecar=$sidecar" "$PEERS/run.sh" "http://127.0.0.1:18391/$route" "$SIZE")
    echo "round $round $route: $line"
  done
done

#!/usr/bin/env bash
# Soak: SECONDS_SOAK (60) seconds at ~80 % of the measured maximum, mixed traffic — valid
# GitHub deliveries (fresh delivery ids), forged ones (401), oversized ones (413 by
# Content-Length) and a route held by its rate limit (200 or 429) — each kind from its own
# wrk process with bench/soak.lua, which counts every status outside the kind's expected
# set. The sidecar's RSS is sampled every 5 s; growth is measured from the end of the
# warm-up (10 s) to the end.
#
#   bench/soak.sh                 # SECONDS_SOAK=60 SHARE=0.8 PIN=1
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
[ -f "$PEERS/gen_body.py" ] || { echo "bench-peers not found at $PEERS (set PEERS=)" >&2; exit 2; }
SECONDS_SOAK=${SECONDS_SOAK:-60}; SHARE=${SHARE:-0.8}; PIN=${PIN:-1}
# Warm-up: long enough for the valid route's replay records (fresh ids, kept for the route's
# window, up to the per-route bound) to reach that bound — until then the table grows by
# design. Computed below from the measured rate unless WARMUP is given.
REPLAY_BOUND=100000
command -v wrk >/dev/null || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl util-linux; }
pin_sidecar=""; pin_load=""
[ "$PIN" = 1 ] && { pin_sidecar="taskset -c 1"; pin_load="taskset -c 0"; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
  BIN=$ROOT/target/release/hookguard
fi
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" soak.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT
LISTEN=127.0.0.1:18590; ADMIN=127.0.0.1:18591; APP=127.0.0.1:18592

export BODY_FILE=$RUN/body.json BIG_FILE=$RUN/big.json
SIG=$(python3 "$PEERS/gen_body.py" 1024 "$BODY_FILE"); export SIG
python3 "$PEERS/gen_body.py" 4096 "$BIG_FILE" >/dev/null
cat >"$RUN/soak.toml" <<TOML
listen = "$LISTEN"
admin_listen = "$ADMIN"
[upstream]
address = "$APP"

[[routes]]
id = "valid"
match.path = "/valid"
scheme = "github"
secrets = [{ id = "primary", value = "bench-secret" }]
ip.allow = ["127.0.0.0/8"]
rate_limit.per_client = { requests = 100000000, per = "1s" }

[[routes]]
id = "small"
match.path = "/small"
scheme = "github"
secrets = [{ id = "primary", value = "bench-secret" }]
body_limit = "2KiB"

[[routes]]
id = "limited"
match.path = "/limited"
scheme = "github"
secrets = [{ id = "primary", value = "bench-secret" }]
rate_limit.per_route = { requests = 200, per = "1s" }
TOML

"$BIN" echo --listen $APP >/dev/null 2>&1 &
pids+=($!)
HOOKGUARD_LOG=warn $pin_sidecar "$BIN" run -c "$RUN/soak.toml" >/dev/null 2>"$RUN/sidecar.err" &
SIDECAR=$!; pids+=($SIDECAR)
for _ in $(seq 200); do curl -fs "http://$ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SIDECAR/status"; }

# The maximum: valid deliveries only, as fast as they are answered.
max_line=$(KIND=valid $pin_load wrk -t2 -c32 -d8s -s "$HERE/soak.lua" "http://$LISTEN/" | sed -n 's/^RESULT //p')
max=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$max_line")
echo "maximum (valid only, 32 connections): $max_line"

# Per kind: its share of the target rate, over its connections; each connection pauses so
# that it sends at that pace (the answer time at the maximum is taken off the pause).
target=$(awk -v m="$max" -v s="$SHARE" 'BEGIN { printf "%d", m * s }')
service_ms=$(awk -v m="$max" 'BEGIN { printf "%.3f", 32 * 1000 / m }')
if [ -z "${WARMUP:-}" ]; then
  WARMUP=$(awk -v t="$target" -v b="$REPLAY_BOUND" 'BEGIN { w = b / (t * 0.75) + 5; printf "%d", (int(w / 5) + 1) * 5 }')
fi
RUN_SECONDS=$(( WARMUP + SECONDS_SOAK ))
echo "target: $target req/s ($SHARE of the maximum) for ${WARMUP}s of warm-up + ${SECONDS_SOAK}s; answer time at the maximum ${service_ms} ms"
kinds="valid:0.75:24 forged:0.10:4 oversized:0.10:4 limited:0.05:2"
for spec in $kinds; do
  IFS=: read -r kind part conns <<<"$spec"
  delay=$(awk -v t="$target" -v p="$part" -v c="$conns" -v s="$service_ms" 'BEGIN { d = c * 1000 / (t * p) - s; if (d < 0) d = 0; printf "%d", d + 0.5 }')
  KIND=$kind DELAY_MS=$delay $pin_load wrk -t1 -c"$conns" -d"${RUN_SECONDS}s" --latency -s "$HERE/soak.lua" "http://$LISTEN/" >"$RUN/$kind.out" 2>&1 &
  pids+=($!)
done
samples=()
for t in $(seq 5 5 "$RUN_SECONDS"); do
  sleep 5
  samples+=("$t:$(rss)")
done
wait "${pids[@]:2}" 2>/dev/null || true
total=0; unexpected=0
for spec in $kinds; do
  kind=${spec%%:*}
  line=$(sed -n 's/^RESULT //p' "$RUN/$kind.out")
  [ -n "$line" ] || { echo "$kind: no result"; cat "$RUN/$kind.out"; exit 1; }
  echo "  $line"
  total=$(( total + $(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line") ))
  unexpected=$(( unexpected + $(sed 's/.*unexpected=\([0-9]*\).*/\1/' <<<"$line") ))
done
echo "all kinds: $total requests in ${RUN_SECONDS}s ($(( total / RUN_SECONDS )) req/s, $(awk -v a="$total" -v s="$RUN_SECONDS" -v m="$max" 'BEGIN { printf "%.0f", 100 * a / s / m }') % of the maximum), unexpected statuses: $unexpected"
echo "RSS (s:kB): ${samples[*]}"
warm=$(tr ' ' '\n' <<<"${samples[*]}" | awk -F: -v w=$WARMUP '$1 == w {print $2}')
last=${samples[-1]#*:}
awk -v a="$warm" -v b="$last" 'BEGIN { printf "RSS growth after warm-up: %.1f %% (%d kB at %ss -> %d kB at the end)\n", 100 * (b - a) / a, a, '"$WARMUP"', b }'
echo "sidecar error lines: $(grep -c '"level":"ERROR"' "$RUN/sidecar.err" || true)"
grep '"level":"ERROR"' "$RUN/sidecar.err" | sed 's/"timestamp":"[^"]*",//' | sort | uniq -c | sort -rn | head -3 || true
[ "$unexpected" = 0 ]

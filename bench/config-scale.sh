#!/usr/bin/env bash
# Configuration scale: a file with ROUTES routes and KEYS keys (bench/gen_config.py) is
# checked, loaded and hot-reloaded; each step's time and memory (`/usr/bin/time -v` for
# `check`, VmHWM/VmRSS of the running sidecar) — then the cost per request with that file
# beside a 10-route one, in one run (wrk with bench/post_delivery.lua, GitHub signature
# and a fresh delivery id; the app is `hookguard echo`).
#
#   bench/config-scale.sh       # ROUTES=10000 KEYS=100000 DURATION=8s CONNS=32 ROUNDS=2 PIN=1
#   LOAD=0 bench/config-scale.sh                 # check/load/reload only
#   BIN=target/debug/hookguard LOAD=0 bench/config-scale.sh   # another build
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
ROUTES=${ROUTES:-10000}; KEYS=${KEYS:-100000}; DURATION=${DURATION:-8s}; CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-2}; PIN=${PIN:-1}; LOAD=${LOAD:-1}
for tool in wrk curl taskset python3; do
  command -v $tool >/dev/null || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl util-linux python3; break; }
done
[ -x /usr/bin/time ] || { sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get install -y -qq time; }
pin_sidecar=""; pin_load=""
[ "$PIN" = 1 ] && { pin_sidecar="taskset -c 1"; pin_load="taskset -c 0"; }

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
  BIN=$ROOT/target/release/hookguard
fi
RUN=$(mktemp -d -p "${BENCH_DIR:-$ROOT/target}" config-scale.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$RUN"' EXIT
LISTEN=127.0.0.1:18490; ADMIN=127.0.0.1:18491; APP=127.0.0.1:18492

python3 "$HERE/gen_config.py" "$RUN/big.toml" "$ROUTES" "$KEYS" $LISTEN $ADMIN $APP
python3 "$HERE/gen_config.py" "$RUN/big.yaml" "$ROUTES" "$KEYS" $LISTEN $ADMIN $APP
python3 "$HERE/gen_config.py" "$RUN/small.toml" 10 10 $LISTEN $ADMIN $APP
echo "config: $ROUTES routes, $KEYS keys; TOML $(du -h "$RUN/big.toml" | cut -f1), YAML $(du -h "$RUN/big.yaml" | cut -f1)"

# check: wall time and peak RSS of the whole process.
for file in big.toml big.yaml; do
  /usr/bin/time -v "$BIN" check -c "$RUN/$file" >/dev/null 2>"$RUN/time.txt" || { cat "$RUN/time.txt"; exit 1; }
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$RUN/time.txt")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$RUN/time.txt")
  echo "check $file: ${wall} wall, peak RSS $((rss / 1024)) MiB"
done

"$BIN" echo --listen $APP >/dev/null 2>&1 &
pids+=($!)

now_ms() { date +%s%3N; }
kib() { awk -v k="$1" '/^'"$1"':/ {print $2}' "/proc/$2/status"; }
ready() { curl -fs "http://$ADMIN/readyz" >/dev/null 2>&1; }
# Starts the sidecar on $1; sets SIDECAR and STARTED_MS (the time until /readyz answered).
start() {
  local t0; t0=$(now_ms)
  HOOKGUARD_LOG=info $pin_sidecar "$BIN" run -c "$1" >/dev/null 2>"$RUN/sidecar.err" &
  SIDECAR=$!; pids+=($SIDECAR)
  for _ in $(seq 600); do ready && break; sleep 0.05; done
  ready || { echo "the sidecar did not become ready:"; tail -5 "$RUN/sidecar.err"; exit 1; }
  STARTED_MS=$(( $(now_ms) - t0 ))
}
stop() { kill "$SIDECAR"; wait "$SIDECAR" 2>/dev/null || true; }

cp "$RUN/big.toml" "$RUN/live.toml"
start "$RUN/live.toml"
echo "load (start until ready): ${STARTED_MS} ms, RSS $(( $(kib VmRSS $SIDECAR) / 1024 )) MiB, peak $(( $(kib VmHWM $SIDECAR) / 1024 )) MiB"

# Reload: the file replaced by a rename (one route's body limit changed), timed until the
# sidecar logs the reload; the watcher's 250 ms debounce is part of the figure.
for n in 1 2; do
  sed "0,/^scheme = \"github\"$/s//scheme = \"github\"\nbody_limit = \"$((n + 1))MiB\"/" "$RUN/big.toml" >"$RUN/next.toml"
  before=$(grep -c '"configuration reloaded"' "$RUN/sidecar.err" || true)
  t0=$(now_ms)
  mv "$RUN/next.toml" "$RUN/live.toml"
  for _ in $(seq 1200); do
    [ "$(grep -c '"configuration reloaded"' "$RUN/sidecar.err" || true)" -gt "$before" ] && break
    grep -q '"configuration reload failed' "$RUN/sidecar.err" && { tail -3 "$RUN/sidecar.err"; exit 1; }
    sleep 0.025
  done
  echo "reload $n: $(( $(now_ms) - t0 )) ms (incl. 250 ms debounce), RSS $(( $(kib VmRSS $SIDECAR) / 1024 )) MiB, peak $(( $(kib VmHWM $SIDECAR) / 1024 )) MiB"
done
stop

[ "$LOAD" = 1 ] || exit 0
[ -f "$PEERS/gen_body.py" ] || { echo "bench-peers not found at $PEERS (set PEERS=)" >&2; exit 2; }
export BODY_FILE=$RUN/body.json
SIG=$(python3 "$PEERS/gen_body.py" 1024 "$BODY_FILE"); export SIG
key0=$(python3 -c 'import hashlib; print("wh_" + hashlib.md5(b"0").hexdigest())')
# The bench's three routes exist in both files: an exact path, a key route, a prefix route.
export PATHS="/e/0 /k0/$key0 /p0/x"

echo "per request, 1 KiB, $CONNS connections, $DURATION, paths $PATHS:"
for round in $(seq "$ROUNDS"); do
  for file in small.toml big.toml; do
    start "$RUN/$file"
    # Warm-up (the replay store, the connection pool).
    $pin_load wrk -t2 -c"$CONNS" -d2s -s "$HERE/post_delivery.lua" "http://$LISTEN/" >/dev/null 2>&1
    cpu0=$(python3 "$PEERS/cputicks.py" "$SIDECAR")
    line=$($pin_load wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$HERE/post_delivery.lua" "http://$LISTEN/" | sed -n 's/^RESULT //p')
    cpu1=$(python3 "$PEERS/cputicks.py" "$SIDECAR")
    reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
    us=$(awk -v a="$cpu0" -v b="$cpu1" -v r="$reqs" 'BEGIN { printf "%.2f", (b - a) / r }')
    echo "round $round $file: $line cpu_sidecar_us=$us rss_mib=$(( $(kib VmRSS $SIDECAR) / 1024 ))"
    stop
  done
done

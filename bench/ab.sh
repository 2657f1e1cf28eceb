#!/usr/bin/env bash
# A/B of two sidecar binaries beside the HAProxy gate of ../shared/bench-peers, interleaved
# in one run: the way to tell whether a change to the hot path helps on a noisy machine.
# Each binary runs with bench/sidecar.toml (on other ports), pinned like bench/run.sh does.
#
#   A=/tmp/hookguard-before B=target/release/hookguard bench/ab.sh
#   REPS=3 DURATION=6s SIZE=1024 (defaults)
# Prints one line per run: target, req/s, p50, p99, CPU µs per request of proxy and upstream.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-$HERE/../../shared/bench-peers}
[ -x "$PEERS/run.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
: "${A:?set A= and B= to two hookguard binaries}" "${B:?set B=}"
export BENCH_RUN=$(mktemp -d) LOAD_CPUS=0 SERVER_CPUS=1
"$PEERS/servers.sh" start >/dev/null
UP=$(awk '$1=="upstream"{print $2}' "$BENCH_RUN/pids")
HA=$(awk '$1=="haproxy_hmac"{print $2}' "$BENCH_RUN/pids")
sed 's/18090/18190/; s/18091/18191/' "$HERE/sidecar.toml" > "$BENCH_RUN/a.toml"
sed 's/18090/18290/; s/18091/18291/' "$HERE/sidecar.toml" > "$BENCH_RUN/b.toml"
taskset -c 1 "$A" run -c "$BENCH_RUN/a.toml" --workers 1 >/dev/null 2>"$BENCH_RUN/a.err" & PA=$!
taskset -c 1 "$B" run -c "$BENCH_RUN/b.toml" --workers 1 >/dev/null 2>"$BENCH_RUN/b.err" & PB=$!
trap 'kill $PA $PB 2>/dev/null; wait $PA $PB 2>/dev/null; "$PEERS/servers.sh" stop' EXIT INT TERM
for port in 18191 18291; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "sidecar on $port did not start" >&2; exit 1; }
done
SIZE=${SIZE:-1024}
TARGETS="haproxy_hmac http://127.0.0.1:18083/ $HA
A http://127.0.0.1:18190/ $PA
B http://127.0.0.1:18290/ $PB"
while read -r name url pid; do DURATION=2s "$PEERS/run.sh" "$url" "$SIZE" >/dev/null; done <<< "$TARGETS"
for _ in $(seq "${REPS:-3}"); do
  while read -r name url pid; do
    kill -0 "$pid" 2>/dev/null || { echo "$name (pid $pid) is not running" >&2; exit 1; }
    echo "$name $(CPU_PIDS="proxy=$pid up=$UP" DURATION=${DURATION:-6s} "$PEERS/run.sh" "$url" "$SIZE")"
  done <<< "$TARGETS"
done

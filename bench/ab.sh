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
: "${A:?set A= and B= to two hookguard binaries}" "${B:?set B=}"
. "$HERE/beside-peers.sh"
start_peers
start_sidecar a "$A" 18190; PA=$SIDECAR_PID
start_sidecar b "$B" 18290; PB=$SIDECAR_PID
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

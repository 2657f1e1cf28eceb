#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the same figure whatever else the machine
# is doing, so small changes to the hot path show on a shared, noisy machine. Runs the
# sidecar (release build, bench/sidecar.toml) and the HAProxy gate of ../shared/bench-peers
# each under callgrind, warms each up, zeroes the counters, sends 10 s of 1 KiB webhooks
# (wrk, 8 connections), and prints instructions per request with the top functions.
#
#   bench/callgrind.sh                 # BIN=target/release/hookguard SECS=10
#
# Valgrind hides the SHA extensions from the programs it runs, so both fall back to
# software SHA-256 (Rust's sha2 more slowly than OpenSSL's assembly): compare the totals
# without the SHA functions (listed first), not the totals alone. User space only: the
# kernel's work (about half of all CPU here) is not counted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
BIN=${BIN:-$ROOT/target/release/hookguard}
[ -x "$PEERS/servers.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no sidecar binary at $BIN (cargo build --release -p hookguard, or set BIN=)" >&2; exit 2; }
for tool in valgrind callgrind_control callgrind_annotate wrk haproxy nginx; do
  command -v $tool >/dev/null || { echo "$tool is not installed (apt-get install valgrind wrk haproxy nginx-light)" >&2; exit 2; }
done
OUT=$(mktemp -d); export BENCH_RUN=$OUT/run
"$PEERS/servers.sh" start >/dev/null
trap '"$PEERS/servers.sh" stop' EXIT INT TERM
# The gate runs under callgrind instead of the harness's own instance.
kill "$(awk '$1=="haproxy_hmac"{print $2}' "$BENCH_RUN/pids")"
sig=$(python3 "$PEERS/gen_body.py" 1024 "$OUT/body.json")
sed 's/18090/18590/; s/18091/18591/' "$HERE/sidecar.toml" > "$OUT/sidecar.toml"

# count NAME PORT CMD...: Ir per request of CMD serving PORT.
count() {
  local name=$1 port=$2; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.out" "$@" >/dev/null 2>"$OUT/$name.err" &
  local pid=$!
  local load="wrk -t1 -c8 -s $PEERS/post.lua http://127.0.0.1:$port/"
  for _ in $(seq 100); do
    BODY_FILE=$OUT/body.json SIG=$sig $load -d1s 2>/dev/null | grep -q 'non2xx=0 sockerr=0' && break
    sleep 0.5
  done
  BODY_FILE=$OUT/body.json SIG=$sig $load -d3s >/dev/null
  callgrind_control -z $pid >/dev/null
  local result
  result=$(BODY_FILE=$OUT/body.json SIG=$sig $load -d"${SECS:-10}"s | sed -n 's/^RESULT //p')
  callgrind_control -d $pid >/dev/null
  sleep 2; kill $pid; wait $pid || true
  local requests total
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<< "$result")
  total=$(grep -h '^totals:' "$OUT/$name.out".* | awk '{s += $2} END {print s}')
  echo "== $name: $result"
  echo "   $((total / requests)) instructions per request (user space)"
  callgrind_annotate --inclusive=no --threshold=100 "$OUT/$name.out.1" 2>/dev/null \
    | grep -E '^ *[0-9,]+ +\(' | grep -v "(100.0%)" | sed -n 1,12p \
    | awk -v n="$requests" '{ gsub(",", "", $1); printf "   %8d  %s\n", $1 / n, $0 }' | cut -c1-170
}
count hookguard 18590 "$BIN" run -c "$OUT/sidecar.toml" --workers 1
count haproxy_hmac 18083 haproxy -f "$BENCH_RUN/haproxy-hmac.cfg"
echo "raw: $OUT"

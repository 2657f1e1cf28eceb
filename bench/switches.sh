#!/usr/bin/env bash
# Context switches per request, per thread: the HAProxy gate of ../shared/bench-peers and the
# sidecar, one after the other, each with the harness's app (nginx) on the same core. On a
# shared core every write to the app may wake it and hand it the core (an involuntary
# switch of the proxy, a voluntary one of the app when it has answered): the fewer per
# request, the more requests each wake-up carries. Read from /proc/<pid>/task/*/status
# before and after 5 s of load.
#
#   bench/switches.sh                  # BIN=target/release/hookguard SIZE=1024
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/beside-peers.sh"
start_peers
start_sidecar hookguard "${BIN:-$HERE/../target/release/hookguard}" 18190; PA=$SIDECAR_PID
APP=$(pgrep -P "$UP" | head -1)   # nginx's worker
snap() {
  for p in "$@"; do
    for t in /proc/"$p"/task/*; do
      echo "$p/$(basename "$t")/$(tr ' ' _ < "$t/comm") $(awk '/^voluntary/{v=$2} /^nonvoluntary/{n=$2} END{print v, n}' "$t/status")"
    done
  done | sort
}
for target in "haproxy_hmac http://127.0.0.1:18083/ $HA" "hookguard http://127.0.0.1:18190/ $PA"; do
  read -r name url pid <<< "$target"
  DURATION=1s "$PEERS/run.sh" "$url" "${SIZE:-1024}" >/dev/null
  snap "$pid" "$APP" > "$BENCH_RUN/before"
  line=$(DURATION=5s "$PEERS/run.sh" "$url" "${SIZE:-1024}")
  snap "$pid" "$APP" > "$BENCH_RUN/after"
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<< "$line")
  echo "$name $line"
  join "$BENCH_RUN/before" "$BENCH_RUN/after" | awk -v r="$requests" '
    { v = $4 - $2; n = $5 - $3
      if (v + n > 100) printf "   %-36s voluntary %.3f  involuntary %.3f per request\n", $1, v / r, n / r }'
done

#!/usr/bin/env bash
# Load benchmark: the sidecar beside the peers of ../shared/bench-peers (direct, nginx,
# HAProxy, HAProxy + IP ACL + stick table + HMAC gate), in one run, same body, same worker
# count, GitHub-style signature, at 1 KiB and 64 KiB. Then RSS idle and with 1,000 open
# connections. Results: bench/results/<date>.tsv and the table on stdout.
#
#   bench/run.sh                       # PIN=1 REPS=2 DURATION=10s SIZES="1024 65536" WORKERS=1
#   PEERS=/path/to/bench-peers bench/run.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/bench-peers}
[ -x "$PEERS/bench_all.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }

need=""
for tool in wrk haproxy nginx curl taskset; do command -v $tool >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk haproxy nginx-light curl util-linux
fi

cargo build --release -q -p hookguard --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/hookguard
export BENCH_RUN=${BENCH_RUN:-$(mktemp -d)}
export BENCH_RESULTS=${BENCH_RESULTS:-$HERE/results}
WORKERS=${WORKERS:-1}
PIN=${PIN:-1}
pin=""; [ "$PIN" = 1 ] && pin="taskset -c 1"

$pin "$BIN" run -c "$HERE/sidecar.toml" --workers "$WORKERS" >/dev/null 2>"$BENCH_RUN/sidecar.err" &
SIDECAR=$!
trap 'kill $SIDECAR 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs http://127.0.0.1:18091/readyz >/dev/null 2>&1 && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' /proc/$SIDECAR/status; }
echo "sidecar idle RSS: $(rss) kB"

EXTRA="sidecar=http://127.0.0.1:18090/=$SIDECAR" WORKERS=$WORKERS PIN=$PIN "$PEERS/bench_all.sh"

# RSS with 1,000 open (idle, keep-alive) connections, each having sent one request.
python3 - "$SIDECAR" <<'PY'
import socket, sys, time
pid = sys.argv[1]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
print(f"sidecar RSS after the load runs: {rss()} kB")
socks = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", 18090))
    s.sendall(b"GET /livez-not-a-route HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
for s in socks:
    s.recv(4096)
time.sleep(0.5)
print(f"sidecar RSS with 1000 open connections: {rss()} kB")
for s in socks:
    s.close()
PY

# Sourced (not run) by the bench scripts that put sidecar builds beside the servers of
# ../shared/bench-peers, pinned as bench/run.sh pins them: the load generator on CPU 0, the
# app and the proxies on CPU 1. Needs HERE (the bench folder). After `start_peers`: UP
# (the app's pid) and HA (the HAProxy gate's); everything stops when the script exits.

PEERS=${PEERS:-$HERE/../../shared/bench-peers}
[ -x "$PEERS/run.sh" ] || { echo "bench-peers harness not found at $PEERS (set PEERS=)" >&2; exit 2; }
export BENCH_RUN=$(mktemp -d) LOAD_CPUS=0 SERVER_CPUS=1
SIDECARS=""

stop_all() {
  # shellcheck disable=SC2086 # a list of pids
  kill $SIDECARS 2>/dev/null || true
  # shellcheck disable=SC2086
  wait $SIDECARS 2>/dev/null || true
  "$PEERS/servers.sh" stop
}

start_peers() {
  "$PEERS/servers.sh" start >/dev/null
  trap stop_all EXIT INT TERM
  UP=$(awk '$1=="upstream"{print $2}' "$BENCH_RUN/pids")
  HA=$(awk '$1=="haproxy_hmac"{print $2}' "$BENCH_RUN/pids")
}

# start_sidecar NAME BIN PORT: BIN with bench/sidecar.toml, listening on PORT (admin on
# PORT+1), one worker on CPU 1, once it answers /readyz. Its pid: SIDECAR_PID.
start_sidecar() {
  local name=$1 bin=$2 port=$3
  [ -x "$bin" ] || { echo "no sidecar binary at $bin (cargo build --release -p hookguard)" >&2; exit 2; }
  sed "s/18090/$port/; s/18091/$((port + 1))/" "$HERE/sidecar.toml" > "$BENCH_RUN/$name.toml"
  taskset -c 1 "$bin" run -c "$BENCH_RUN/$name.toml" --workers 1 >/dev/null 2>"$BENCH_RUN/$name.err" &
  SIDECAR_PID=$!
  SIDECARS="$SIDECARS $SIDECAR_PID"
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$((port + 1))/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "sidecar $name on $port did not start (see $BENCH_RUN/$name.err)" >&2
  exit 1
}

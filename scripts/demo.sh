#!/usr/bin/env bash
# The sidecar on its embedded default: examples/quickstart.toml in front of the built-in
# echo app. Prints a signed curl that gets 200 (the echo shows the x-hookguard-* headers)
# and a tampered one that gets 401, then keeps running until Ctrl-C
# (DEMO_ONESHOT=1: stop after the two requests). Usage: scripts/demo.sh path/to/hookguard
set -euo pipefail
hg=$(realpath "${1:-target/debug/hookguard}")
cd "$(dirname "$0")/.."
config=examples/quickstart.toml
secret="It's a Secret to Everybody"
body='{"action":"opened","number":1}'

"$hg" check -c "$config" >/dev/null
"$hg" echo --listen 127.0.0.1:3000 & echo_pid=$!
"$hg" run -c "$config" >/tmp/hookguard-demo-access.log & hg_pid=$!
trap 'kill $hg_pid $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs http://127.0.0.1:9090/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs http://127.0.0.1:9090/readyz >/dev/null || { echo "the sidecar did not become ready" >&2; exit 1; }

headers=()
while IFS= read -r line; do headers+=(-H "$line"); done < <("$hg" sign --scheme github --secret "$secret" --body "$body")
quote() { printf "%q " "$@"; }

echo "== hookguard on http://127.0.0.1:8080 (admin http://127.0.0.1:9090), app on 127.0.0.1:3000"
echo
echo "== a request signed as GitHub signs it:"
echo "\$ curl -i $(quote http://127.0.0.1:8080/webhooks/github "${headers[@]}" --data-binary "$body")"
curl -si http://127.0.0.1:8080/webhooks/github "${headers[@]}" --data-binary "$body" | tee /tmp/hookguard-demo-ok
grep -q "^HTTP/1.1 200" /tmp/hookguard-demo-ok
echo
echo "== the same signature with one byte of the body changed:"
echo "\$ curl -i $(quote http://127.0.0.1:8080/webhooks/github "${headers[@]}" --data-binary "${body/1/2}")"
curl -si http://127.0.0.1:8080/webhooks/github "${headers[@]}" --data-binary "${body/1/2}" | tee /tmp/hookguard-demo-bad
grep -q "^HTTP/1.1 401" /tmp/hookguard-demo-bad
echo
echo
echo "== access log: /tmp/hookguard-demo-access.log   metrics: curl http://127.0.0.1:9090/metrics"
if [ "${DEMO_ONESHOT:-0}" = 1 ]; then exit 0; fi
echo "== running; Ctrl-C to stop"
wait $hg_pid

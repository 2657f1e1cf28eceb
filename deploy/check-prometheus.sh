#!/usr/bin/env bash
# Checks the Prometheus alert rules offline:
#   1. promtool check rules on the plain rules file and on the groups of the PrometheusRule;
#   2. the PrometheusRule's groups are exactly those of the plain file (no drift);
#   3. every alert has summary, description and runbook annotations;
#   4. promtool test rules: each alert firing and not firing (tests/*.yaml).
# Installs promtool from Debian's `prometheus` package when it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prom="$here/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool missing: installing Debian's prometheus package"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # policy-rc.d-free containers may try to start the service: it is not needed.
    $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version | head -1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The PrometheusRule's groups: everything from `  groups:` under `spec:`, two spaces less
# indented (plain text, so no YAML tool is needed; step 2 proves it is the whole spec).
awk 'f { print } /^spec:[[:space:]]*$/ { f = 1 }' "$prom/prometheusrule.yaml" \
    | sed 's/^  //' >"$work/prometheusrule-groups.yaml"
grep -q '^groups:' "$work/prometheusrule-groups.yaml" \
    || { echo "FAIL: prometheusrule.yaml has no spec.groups"; exit 1; }
grep -q '^apiVersion: monitoring.coreos.com/v1$' "$prom/prometheusrule.yaml" \
    && grep -q '^kind: PrometheusRule$' "$prom/prometheusrule.yaml" \
    || { echo "FAIL: prometheusrule.yaml is not a monitoring.coreos.com/v1 PrometheusRule"; exit 1; }

promtool check rules "$prom/hookguard-rules.yaml" "$work/prometheusrule-groups.yaml"

# No drift: the same groups, comments and blank lines aside.
strip() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1"; }
if ! diff -u <(strip "$prom/hookguard-rules.yaml") <(strip "$work/prometheusrule-groups.yaml"); then
    echo "FAIL: prometheusrule.yaml's groups differ from hookguard-rules.yaml"
    exit 1
fi

# Every alert has the three annotations (counted per alert block).
awk '
    /^[[:space:]]*- alert:/ { if (name) check(); name = $3; s = d = r = 0; next }
    /^[[:space:]]*summary:/ { s = 1 } /^[[:space:]]*description:/ { d = 1 } /^[[:space:]]*runbook:/ { r = 1 }
    function check() { if (!(s && d && r)) { print "FAIL: alert " name " lacks summary, description or runbook"; bad = 1 } n++ }
    END { if (name) check(); if (n < 8) { print "FAIL: expected the 8 alerts, found " n; bad = 1 } exit bad }
' "$prom/hookguard-rules.yaml"

# Each alert is tested firing (exp_alerts with labels) and not firing (exp_alerts: []).
for alert in $(awk '/^[[:space:]]*- alert:/ { print $3 }' "$prom/hookguard-rules.yaml"); do
    tests=$(cat "$prom"/tests/*.yaml)
    fires=$(grep -A2 "alertname: $alert\$" <<<"$tests" | grep -c 'exp_alerts:$' || true)
    quiet=$(grep -A1 "alertname: $alert\$" <<<"$tests" | grep -c 'exp_alerts: \[\]' || true)
    if [ "$fires" -lt 1 ] || [ "$quiet" -lt 1 ]; then
        echo "FAIL: $alert needs a unit test where it fires and one where it does not (fires: $fires, quiet: $quiet)"
        exit 1
    fi
done

promtool test rules "$prom"/tests/*.yaml
echo "prometheus rules: OK"

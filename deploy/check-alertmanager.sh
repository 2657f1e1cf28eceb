#!/usr/bin/env bash
# Checks the Alertmanager configuration offline:
#   1. amtool check-config (syntax, receivers, matchers, templates);
#   2. every alert of the Prometheus rules file, with its severity, is routed where the
#      header of alertmanager.yml says (amtool config routes test --verify.receivers):
#      critical → pagerduty and slack, warning → slack, info → email;
#   3. no credential is written in the file (only *_file references).
# Installs amtool from Debian's `prometheus-alertmanager` package when it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/alertmanager/alertmanager.yml"
rules="$here/prometheus/hookguard-rules.yaml"

if ! command -v amtool >/dev/null 2>&1; then
    echo "amtool missing: installing Debian's prometheus-alertmanager package"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
amtool --version 2>&1 | head -1

amtool check-config "$config"

# Each alert name and its severity, in the order of the rules file.
pairs=$(awk '
    /^[[:space:]]*- alert:/ { name = $3 }
    /^[[:space:]]*severity:/ && name { print name, $2; name = "" }
' "$rules")
[ "$(wc -l <<<"$pairs")" -ge 8 ] || { echo "FAIL: expected the 8 alerts of $rules, found: $pairs"; exit 1; }
while read -r alert severity; do
    case "$severity" in
        critical) want="pagerduty,slack" ;;
        warning) want="slack" ;;
        info) want="email" ;;
        *) echo "FAIL: $alert has severity $severity, which alertmanager.yml does not route"; exit 1 ;;
    esac
    if ! amtool config routes test --config.file="$config" --verify.receivers="$want" \
        alertname="$alert" severity="$severity" route=github 2>/dev/null >/dev/null; then
        got=$(amtool config routes test --config.file="$config" alertname="$alert" severity="$severity" route=github 2>/dev/null)
        echo "FAIL: $alert ($severity) goes to $got, expected $want"
        exit 1
    fi
    echo "  $alert ($severity) -> $want"
done <<<"$pairs"

# Secrets come from files: no inline api_url, routing_key, service_key or password.
if grep -nE '^[[:space:]]*(api_url|routing_key|service_key|smtp_auth_password|auth_password):' "$config"; then
    echo "FAIL: a credential is written in alertmanager.yml; use the *_file form"
    exit 1
fi
echo "alertmanager: OK"

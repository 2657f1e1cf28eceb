#!/usr/bin/env bash
# Signs a GitHub-style webhook with `hookguard sign`, verifies it with `hookguard verify`,
# then verifies a tampered copy. Usage: scripts/demo.sh path/to/hookguard
set -euo pipefail
hg=${1:-hookguard}
secret="It's a Secret to Everybody"
body='{"action":"opened","number":1}'

echo "\$ hookguard sign --scheme github --secret '$secret' --body '$body'"
headers=$("$hg" sign --scheme github --secret "$secret" --body "$body")
echo "$headers"
args=()
while IFS= read -r line; do args+=(--header "$line"); done <<<"$headers"

echo
echo "\$ hookguard verify --scheme github ... (the signed body)"
"$hg" verify --scheme github --secret "$secret" "${args[@]}" --body "$body"

echo
echo "\$ hookguard verify --scheme github ... (one byte changed)"
set +e
"$hg" verify --scheme github --secret "$secret" "${args[@]}" --body "${body/1/2}"
rc=$?
set -e
echo "(exit code $rc: 1 means invalid)"
[ "$rc" = 1 ]

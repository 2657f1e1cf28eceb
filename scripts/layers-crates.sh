#!/usr/bin/env bash
# Counts the crates a service compiles when it depends on hookguard-layers with FEATURES
# (hookguard-layers itself included): every package in the normal-dependency tree, once.
#   scripts/layers-crates.sh verify          prints the count
#   scripts/layers-crates.sh verify 30       fails when the count is above 30
#   scripts/layers-crates.sh default         the crate's default features
set -euo pipefail
cd "$(dirname "$0")/.."
features=${1:?usage: $0 FEATURES|default [MAX]}
max=${2:-}
if [ "$features" = default ]; then flags=(); else flags=(--no-default-features --features "$features"); fi
# --prefix none: one package per line; " (*)" marks a package already listed above.
count=$(cargo tree -q -p hookguard-layers -e normal "${flags[@]}" --prefix none \
  | sed 's/ (\*)$//' | sort -u | wc -l)
echo "hookguard-layers [$features]: $count crates"
if [ -n "$max" ] && [ "$count" -gt "$max" ]; then
  echo "more than $max crates with [$features]:" >&2
  cargo tree -q -p hookguard-layers -e normal "${flags[@]}" >&2
  exit 1
fi

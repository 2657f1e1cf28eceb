"""Checks of the rendered Kubernetes files; run by deploy/check-kubernetes.sh.

    check_kubernetes.py --rendered NAME=FILE ... [--hookguard BIN] [--dockerfile FILE]
                        [--base-toml FILE]

For every rendering (the base and each overlay):
  * every object validates with kubernetes-validate in strict mode against Kubernetes 1.29
    and the latest version it knows; a PodMonitor (a CRD) is skipped there, by kind, and
    checked by hand instead;
  * the pod has the shape the deploy docs promise: hookguard as a native sidecar (base) or
    a classic one with a preStop sleep (classic-sidecar), the config from a ConfigMap and
    the secrets from a Secret mounted as directories (no subPath anywhere), probes on the
    admin port, the restricted Pod Security settings and resources on every container, a
    grace period longer than preStop + hookguard's drain, scrape annotations, a Service
    and PodMonitor that point at the right ports;
  * deploy/README.md's patch for an existing Deployment, applied to a sample app, passes
    the same checks (so the docs cannot drift from a working shape);
  * the hookguard.toml inside the ConfigMap agrees with the pod (ports, secret files) and
    `hookguard check` accepts it with placeholder secret files (when a binary is given).
Then broken variants of the base (a subPath, no restartPolicy, a writable root fs, ...)
must each be refused, so that the checks are known to be able to fail.
"""

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml
import kubernetes_validate

CONFIG_DIR = "/etc/hookguard"
CONFIG_FILE = CONFIG_DIR + "/hookguard.toml"
SECRETS_DIR = CONFIG_DIR + "/secrets"
SKIPPED_KINDS = {"PodMonitor"}  # CRDs: no schema in kubernetes-validate
MIN_VERSION = "1.29.0"


def duration_seconds(text):
    """'10s', '1m 30s', '500ms' -> seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", text):
        total += float(number) * units[unit]
    return total


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def find_keys(node, key, path=""):
    """Every path in node where `key` is a mapping key."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(f"{path}.{k}")
            found += find_keys(v, key, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += find_keys(v, key, f"{path}[{i}]")
    return found


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def schema_problems(docs, versions):
    problems = []
    for doc in docs:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind in SKIPPED_KINDS:
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{kind}/{name} is invalid for Kubernetes {version}: {e.message} at {list(e.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{kind}/{name}: no schema for Kubernetes {version} (an unknown kind?)")
    return problems


def shape_problems(docs, variant, dockerfile_text=None):
    """The pod shape and the cross-references; `variant` is 'native' or 'classic'."""
    p = []
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodMonitor"):
        if len(by_kind.get(kind, [])) != 1:
            p.append(f"expected one {kind}, found {len(by_kind.get(kind, []))}")
    if p:
        return p
    deploy, service = by_kind["Deployment"][0], by_kind["Service"][0]
    configmap, secret = by_kind["ConfigMap"][0], by_kind["Secret"][0]
    monitor = by_kind["PodMonitor"][0]
    pod_meta = deploy["spec"]["template"]["metadata"]
    pod = deploy["spec"]["template"]["spec"]

    subpaths = find_keys(docs, "subPath") + find_keys(docs, "subPathExpr")
    if subpaths:
        p.append(f"subPath is used ({', '.join(subpaths)}): a subPath mount is never updated, so hot reload breaks")

    init = pod.get("initContainers", [])
    regular = pod.get("containers", [])
    hg_init = [c for c in init if c["name"] == "hookguard"]
    hg_regular = [c for c in regular if c["name"] == "hookguard"]
    if variant == "native":
        if len(hg_init) != 1 or hg_regular:
            p.append("hookguard must be exactly one initContainers entry (native sidecar), not a regular container")
            return p
        hg = hg_init[0]
        if hg.get("restartPolicy") != "Always":
            p.append("the hookguard init container needs restartPolicy: Always to be a native sidecar")
        if "startupProbe" not in hg:
            p.append("a native sidecar needs a startupProbe, so the app starts after hookguard is up")
    else:
        if len(hg_regular) != 1 or hg_init:
            p.append("classic sidecar: hookguard must be one regular container and no init container")
            return p
        hg = hg_regular[0]
        if "restartPolicy" in hg:
            p.append("classic sidecar: a regular container must not set restartPolicy")
        for c in init:
            if c.get("restartPolicy") == "Always":
                p.append(f"classic sidecar: init container {c['name']} is a native sidecar (needs 1.29)")
    if not [c for c in regular if c["name"] != "hookguard"]:
        p.append("no app container beside hookguard")

    # Commands.
    if hg.get("command"):
        p.append("hookguard sets command: keep the image's entrypoint")
    args = hg.get("args")
    if args not in (None, ["run", "-c", CONFIG_FILE], ["run", "--config", CONFIG_FILE]):
        p.append(f"hookguard args are {args}, expected run -c {CONFIG_FILE}")

    # Probes on the admin port.
    want = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for probe, path in want.items():
        spec = hg.get(probe)
        if spec is None:
            p.append(f"hookguard has no {probe}")
            continue
        get = spec.get("httpGet", {})
        if get.get("path") != path or resolve_port(hg, get.get("port")) != 9090:
            p.append(f"hookguard {probe} should be GET {path} on port 9090, is {get}")

    # Pod security, on every container.
    pod_sc = pod.get("securityContext", {})
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        p.append("the pod uses host namespaces")
    for c in init + regular:
        sc = c.get("securityContext", {})
        who = f"container {c['name']}"
        if not (sc.get("runAsNonRoot") or (pod_sc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)):
            p.append(f"{who}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            p.append(f"{who}: runs as uid 0")
        if sc.get("readOnlyRootFilesystem") is not True:
            p.append(f"{who}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            p.append(f"{who}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            p.append(f"{who}: privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            p.append(f"{who}: capabilities do not drop ALL")
        if sc.get("capabilities", {}).get("add"):
            p.append(f"{who}: adds capabilities")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            p.append(f"{who}: seccompProfile is not RuntimeDefault")
        res = c.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in res.get(section, {}):
                    p.append(f"{who}: no {section}.{resource}")

    # The image's user agrees with the pod's.
    if dockerfile_text:
        users = re.findall(r"(?m)^USER\s+(\d+)", dockerfile_text)
        run_as = hg.get("securityContext", {}).get("runAsUser", pod_sc.get("runAsUser"))
        if users and run_as is not None and int(users[-1]) != run_as:
            p.append(f"runAsUser {run_as} differs from the image's USER {users[-1]}")

    # Volumes: a ConfigMap directory at /etc/hookguard, the Secret's files under it.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in hg.get("volumeMounts", [])}
    cm_mount = mounts.get(CONFIG_DIR)
    if not cm_mount or volumes.get(cm_mount["name"], {}).get("configMap", {}).get("name") != configmap["metadata"]["name"]:
        p.append(f"the ConfigMap {configmap['metadata']['name']} is not mounted at {CONFIG_DIR}")
    secret_mount = mounts.get(SECRETS_DIR)
    if not secret_mount or volumes.get(secret_mount["name"], {}).get("secret", {}).get("secretName") != secret["metadata"]["name"]:
        p.append(f"the Secret {secret['metadata']['name']} is not mounted at {SECRETS_DIR}")
    for m in hg.get("volumeMounts", []):
        if m.get("readOnly") is not True:
            p.append(f"hookguard mounts {m['mountPath']} writable")
    if any("items" in (volumes.get(m["name"], {}).get(k) or {}) for m in mounts.values() for k in ("configMap", "secret")):
        p.append("a config or secret volume selects items: mount the whole object")
    for c in init + regular:
        for e in c.get("env", []):
            if "value" in e and re.search(r"secret|token|passw", e["name"], re.I):
                p.append(f"container {c['name']}: env {e['name']} carries a literal secret value")

    # The configuration in the ConfigMap.
    text = configmap.get("data", {}).get("hookguard.toml")
    config = None
    if text is None:
        p.append("the ConfigMap has no hookguard.toml")
    else:
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            p.append(f"hookguard.toml in the ConfigMap is not TOML: {e}")
    secret_keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
    listen = admin = None
    if config is not None:
        listen = port_of(config.get("listen", "0.0.0.0:8080"))
        # The binary's defaults: admin_listen is loopback unless the config says otherwise.
        admin = port_of(config.get("admin_listen", "127.0.0.1:9090"))
        if admin != 9090:
            p.append(f"admin_listen port {admin}, the probes and PodMonitor use 9090")
        for addr, what in ((config.get("listen", "0.0.0.0:8080"), "listen"), (config.get("admin_listen", "127.0.0.1:9090"), "admin_listen")):
            if addr.startswith("127.") or addr.startswith("[::1]") or addr.startswith("localhost"):
                p.append(f"{what} {addr} is loopback: the kubelet and the Service cannot reach it")
        if listen not in [port["containerPort"] for port in hg.get("ports", [])]:
            p.append(f"hookguard listens on {listen} but declares no such containerPort")
        for route in config.get("routes", []):
            for s in route.get("secrets", []):
                if "value" in s:
                    p.append(f"route {route.get('id')}: an inline secret value in the ConfigMap; use a file from the Secret")
                if "file" in s:
                    path = os.path.normpath(os.path.join(CONFIG_DIR, s["file"]))
                    directory, key = os.path.split(path)
                    if directory != SECRETS_DIR or key not in secret_keys:
                        p.append(f"route {route.get('id')}: secret file {path} is not a key of the Secret mounted at {SECRETS_DIR}")
        drain = duration_seconds(config.get("shutdown_grace_period", "10s"))
        pre_stop = 0
        for c in init + regular:
            cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if cmd[:1] == ["sleep"]:
                pre_stop = max(pre_stop, float(cmd[1]))
            sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            if sleep:
                pre_stop = max(pre_stop, float(sleep))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if not grace > pre_stop + drain:
            p.append(f"terminationGracePeriodSeconds {grace} is not above preStop {pre_stop:g}s + drain {drain:g}s")

    if variant == "classic":
        cmd = hg.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if cmd[:1] != ["sleep"] or len(cmd) != 2 or not cmd[1].isdigit() or int(cmd[1]) < 1:
            p.append(f"classic sidecar: hookguard needs a preStop `sleep N` (has {cmd})")
        runtime = re.findall(r"(?m)^FROM\s+(?:--\S+\s+)*(\S+)", dockerfile_text or "")
        if runtime and "distroless" in runtime[-1]:
            p.append("classic sidecar: the preStop runs `sleep`, which a distroless runtime image lacks")

    # Service -> hookguard's listen port, selecting this pod.
    labels = pod_meta.get("labels", {})
    selector = service["spec"].get("selector", {})
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        p.append("the Service does not select the pod")
    for sp in service["spec"].get("ports", []):
        target = resolve_port(hg, sp.get("targetPort", sp.get("port")))
        if target != listen or target is None:
            p.append(f"the Service port {sp.get('port')} targets {sp.get('targetPort')}, not hookguard's listen port {listen}")
        if target == 9090:
            p.append("the Service exposes the admin port")

    # Scrape annotations and the PodMonitor on the admin port.
    ann = pod_meta.get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9090" or ann.get("prometheus.io/path", "/metrics") != "/metrics":
        p.append(f"scrape annotations missing or wrong: {ann}")
    if monitor.get("apiVersion") != "monitoring.coreos.com/v1":
        p.append(f"PodMonitor apiVersion is {monitor.get('apiVersion')}")
    match = monitor["spec"].get("selector", {}).get("matchLabels", {})
    if not match or any(labels.get(k) != v for k, v in match.items()):
        p.append("the PodMonitor does not select the pod")
    endpoints = monitor["spec"].get("podMetricsEndpoints", [])
    if not endpoints or any(resolve_port(hg, e.get("port")) != 9090 or e.get("path", "/metrics") != "/metrics" for e in endpoints):
        p.append(f"the PodMonitor does not scrape hookguard's admin port /metrics: {endpoints}")
    return p


def hookguard_check(binary, docs, base_toml):
    """`hookguard check` on the ConfigMap's hookguard.toml, with placeholder secret files."""
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    text = configmap["data"]["hookguard.toml"]
    problems = []
    if base_toml is not None and text != open(base_toml).read():
        problems.append(f"the ConfigMap's hookguard.toml differs from {base_toml}")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "hookguard.toml"), "w") as f:
            f.write(text)
        os.mkdir(os.path.join(tmp, "secrets"))
        for key in set(secret.get("data", {})) | set(secret.get("stringData", {})):
            with open(os.path.join(tmp, "secrets", key), "w") as f:
                f.write("placeholder-secret-for-hookguard-check\n")
        run = subprocess.run([binary, "check", "-c", os.path.join(tmp, "hookguard.toml")], capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"hookguard check refused the ConfigMap's hookguard.toml:\n{run.stderr}{run.stdout}")
    return problems


# The README's "Adding hookguard to your existing Deployment" patch, applied to a sample app.
SAMPLE_APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: shop:1.2
          ports: [{name: http, containerPort: 3000}]
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 256Mi}}
          securityContext:
            runAsNonRoot: true
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Secret
metadata: {name: webhook-secrets}
stringData: {github: placeholder, stripe: placeholder}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: shop-hookguard}
spec:
  selector: {matchLabels: {app: shop}}
  podMetricsEndpoints: [{port: admin, path: /metrics}]
"""


def render_readme_example(readme, kubectl, base_toml, directory):
    """Writes the README's patch and kustomization around SAMPLE_APP; renders it."""
    text = open(readme).read()
    section = text.split("### Adding hookguard to your existing Deployment", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    if len(blocks) != 2:
        raise ValueError(f"expected the patch and the kustomization as two yaml blocks, found {len(blocks)}")
    patch, kustomization = blocks
    with open(os.path.join(directory, "hookguard-sidecar.yaml"), "w") as f:
        f.write(patch)
    with open(os.path.join(directory, "app.yaml"), "w") as f:
        f.write(SAMPLE_APP)
    with open(os.path.join(directory, "hookguard.toml"), "w") as f:
        f.write(open(base_toml).read())
    with open(os.path.join(directory, "kustomization.yaml"), "w") as f:
        f.write("resources: [app.yaml]\n" + kustomization)
    out = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


# Broken variants of the base: each must be refused.
def _cm(docs):
    return next(x for x in docs if x["kind"] == "ConfigMap")


def _hg(docs):
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["initContainers"][0]


def _pod(docs):
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


def _app(docs):
    return _pod(docs)["containers"][0]


MUTANTS = {
    "subPath on the config mount": lambda d: _hg(d)["volumeMounts"][0].update(subPath="hookguard.toml"),
    "no restartPolicy (not a native sidecar)": lambda d: _hg(d).pop("restartPolicy"),
    "writable root filesystem on the app": lambda d: _app(d)["securityContext"].update(readOnlyRootFilesystem=False),
    "privilege escalation on hookguard": lambda d: _hg(d)["securityContext"].update(allowPrivilegeEscalation=True),
    "capabilities not dropped": lambda d: _app(d)["securityContext"].pop("capabilities"),
    "no seccomp profile": lambda d: (_hg(d)["securityContext"].pop("seccompProfile"), _app(d)["securityContext"].pop("seccompProfile"), _pod(d)["securityContext"].pop("seccompProfile")),
    "no memory limit": lambda d: _hg(d)["resources"]["limits"].pop("memory"),
    "short grace period": lambda d: _pod(d).update(terminationGracePeriodSeconds=10),
    "readiness on /livez": lambda d: _hg(d)["readinessProbe"]["httpGet"].update(path="/livez"),
    "liveness on the proxy port": lambda d: _hg(d)["livenessProbe"]["httpGet"].update(port=8080),
    "Service straight to the app": lambda d: next(x for x in d if x["kind"] == "Service")["spec"]["ports"][0].update(targetPort=3000),
    "secret file not in the Secret": lambda d: next(x for x in d if x["kind"] == "Secret")["stringData"].pop("github"),
    "Secret not mounted": lambda d: _hg(d)["volumeMounts"].pop(1),
    "PodMonitor on the proxy port": lambda d: next(x for x in d if x["kind"] == "PodMonitor")["spec"]["podMetricsEndpoints"][0].update(port="hookguard"),
    "no scrape annotation": lambda d: next(x for x in d if x["kind"] == "Deployment")["spec"]["template"]["metadata"]["annotations"].pop("prometheus.io/scrape"),
    # The binary's default admin_listen is loopback: the manifests must set 0.0.0.0 themselves.
    "admin_listen left to its loopback default": lambda d: _cm(d)["data"].update({"hookguard.toml": re.sub(r"(?m)^admin_listen\s*=.*$", "", _cm(d)["data"]["hookguard.toml"])}),
    "root user": lambda d: _pod(d)["securityContext"].update(runAsNonRoot=False, runAsUser=0) or _hg(d)["securityContext"].pop("runAsNonRoot"),
}

# Schema mutants: strict validation must refuse them (proves strict mode and the schema are in use).
SCHEMA_MUTANTS = {
    "unknown container field (strict)": lambda d: _hg(d).update(restartPolicyy="Always"),
    "probe port of the wrong type": lambda d: _hg(d)["livenessProbe"]["httpGet"].update(port=["admin"]),
    "unknown Service field": lambda d: next(x for x in d if x["kind"] == "Service")["spec"].update(targetPorts=[8080]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendered", action="append", required=True, help="NAME=FILE; NAME base or classic-sidecar")
    ap.add_argument("--hookguard", help="a hookguard binary for `hookguard check`")
    ap.add_argument("--dockerfile")
    ap.add_argument("--base-toml")
    ap.add_argument("--readme", help="deploy/README.md: its patch example is rendered and checked too")
    ap.add_argument("--kubectl", default="kubectl")
    opts = ap.parse_args()
    dockerfile_text = open(opts.dockerfile).read() if opts.dockerfile else None
    versions = sorted({MIN_VERSION, kubernetes_validate.latest_version()}, key=lambda v: tuple(map(int, v.split("."))))

    passed = failed = 0

    def report(name, problems, why=None):
        nonlocal passed, failed
        if problems:
            failed += 1
            for problem in problems:
                print(f"FAIL {name}: {problem}")
        else:
            passed += 1
            print(f"ok   {name}" + (f" ({why[0][:110]})" if why else ""))

    renderings = {}
    for item in opts.rendered:
        name, _, path = item.partition("=")
        with open(path) as f:
            renderings[name] = [d for d in yaml.safe_load_all(f) if d]
    readme_tmp = None
    if opts.readme:
        readme_tmp = tempfile.TemporaryDirectory()
        try:
            renderings["README patch example"] = render_readme_example(opts.readme, opts.kubectl, opts.base_toml, readme_tmp.name)
        except (ValueError, subprocess.CalledProcessError) as e:
            report("README patch example renders", [str(e) + getattr(e, "stderr", "")])
    for name, docs in renderings.items():
        kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
        skipped = [k for k in kinds if k.split("/")[0] in SKIPPED_KINDS]
        print(f"{name}: {len(docs)} objects: {', '.join(kinds)}")
        if skipped:
            print(f"{name}: not schema-validated (CRD, checked by hand below): {', '.join(skipped)}")
        report(f"{name}: strict schema validation against Kubernetes {' and '.join(versions)}", schema_problems(docs, versions))
        variant = "classic" if "classic" in name else "native"
        report(f"{name}: pod shape ({variant} sidecar), mounts, probes, security, ports", shape_problems(docs, variant, dockerfile_text))
        if opts.hookguard:
            report(f"{name}: hookguard check on the ConfigMap's hookguard.toml", hookguard_check(opts.hookguard, docs, opts.base_toml))
    if not opts.hookguard:
        print("SKIP hookguard check: no hookguard binary (build one with `cargo build -p hookguard`)")

    base = renderings.get("base")
    if base is None:
        report("self-test", ["no rendering named base to mutate"])
    else:
        for name, mutate in MUTANTS.items():
            docs = copy.deepcopy(base)
            mutate(docs)
            refused = shape_problems(docs, "native", dockerfile_text)
            report(f"self-test: refuses {name}", [] if refused else ["a broken rendering passed"], refused)
        for name, mutate in SCHEMA_MUTANTS.items():
            docs = copy.deepcopy(base)
            mutate(docs)
            refused = schema_problems(docs, versions[:1])
            report(f"self-test: schema refuses {name}", [] if refused else ["a broken rendering passed"], refused)
        if opts.hookguard:
            docs = copy.deepcopy(base)
            cm = next(d for d in docs if d["kind"] == "ConfigMap")
            cm["data"]["hookguard.toml"] = cm["data"]["hookguard.toml"].replace('scheme = "github"', 'scheme = "no-such-scheme"')
            refused = hookguard_check(opts.hookguard, docs, None)
            report("self-test: hookguard check refuses an unknown scheme", [] if refused else ["a broken config passed"], [r.splitlines()[-1].strip() for r in refused])

    print(f"check-kubernetes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

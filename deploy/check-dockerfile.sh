#!/usr/bin/env bash
# Structural check of deploy/docker/Dockerfile and .dockerignore (Docker cannot run in CI,
# so the file is parsed and its shape asserted). Needs only python3.
#
#   deploy/check-dockerfile.sh            check the repository's Dockerfile
#   deploy/check-dockerfile.sh FILE       check another Dockerfile
#
# Then the same checks run against broken copies of the Dockerfile (root user, no admin
# port, a remote ADD, a secret in ENV, ...), each of which must be refused: the check
# itself is tested every run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="${1:-$root/deploy/docker/Dockerfile}"
exec python3 - "$dockerfile" "$root/.dockerignore" <<'PY'
import re
import shlex
import sys
import json

CONFIG = "/etc/hookguard/hookguard.toml"


def instructions(text):
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    out, cur = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not cur and (not stripped or stripped.startswith("#")):
            continue
        if cur and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            cur += stripped[:-1] + " "
            continue
        cur += stripped
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    if cur:
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(args):
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def check(text, dockerignore):
    problems = []
    ins = instructions(text)
    args = {}
    for word, rest in ins:
        if word == "ARG" and "=" in rest:
            k, _, v = rest.partition("=")
            args.setdefault(k.strip(), v.strip())

    def expand(s):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)

    # Stages.
    stages = []  # [{"from": image, "name": name, "ins": [...]}]
    for word, rest in ins:
        if word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            image = expand(parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
            stages.append({"from": image, "name": name, "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
    if len(stages) < 2:
        problems.append(f"multi-stage build expected, found {len(stages)} FROM")
        return problems
    build, final = stages[0], stages[-1]
    if not re.fullmatch(r"(docker\.io/(library/)?)?rust:[\w.-]*bookworm", build["from"]):
        problems.append(f"the builder should be rust:*-bookworm, is {build['from']}")
    build_runs = " ".join(r for w, r in build["ins"] if w == "RUN")
    if not re.search(r"apt-get install[^&;]*\bcmake\b", build_runs):
        problems.append("the builder does not install cmake")
    if not re.search(r"cargo build\b[^&;]*--release[^&;]*-p hookguard\b", build_runs):
        problems.append("the builder does not run `cargo build --release -p hookguard`")
    if not re.fullmatch(
        r"gcr\.io/distroless/cc-debian12(:[\w.-]+)?(@sha256:[0-9a-f]{64})?"
        r"|(docker\.io/(library/)?)?debian:bookworm-slim(@sha256:[0-9a-f]{64})?",
        final["from"],
    ):
        problems.append(f"the runtime image should be distroless/cc-debian12 or debian:bookworm-slim, is {final['from']}")
    copies = [r for w, r in final["ins"] if w == "COPY"]
    if not any(f"--from={build['name']}" in c and "hookguard" in c for c in copies):
        problems.append("the runtime stage does not COPY the binary from the builder stage")

    # Non-root, numeric user in the final stage.
    users = [r for w, r in final["ins"] if w == "USER"]
    if not users:
        problems.append("no USER in the runtime stage (it would run as root)")
    else:
        user = users[-1].split(":")
        if not all(p.isdigit() for p in user):
            problems.append(f"USER {users[-1]} is not numeric (runAsNonRoot cannot verify a name)")
        elif int(user[0]) == 0 or (len(user) > 1 and int(user[1]) == 0):
            problems.append(f"USER {users[-1]} is root")
        elif int(user[0]) != 65532:
            problems.append(f"USER {users[-1]}: uid 65532 expected (the Kubernetes files say so)")

    # Read-only root filesystem: nothing in the runtime stage declares writable state.
    for w, r in final["ins"]:
        if w == "VOLUME":
            problems.append(f"VOLUME {r} in the runtime stage: the image must need no writable path")
        if w == "RUN":
            problems.append(f"RUN in the runtime stage ({r[:40]}...): keep the runtime image to the binary")

    # The default command.
    entry = [r for w, r in final["ins"] if w == "ENTRYPOINT"]
    cmd = [r for w, r in final["ins"] if w == "CMD"]
    entry_v = exec_form(entry[-1]) if entry else []
    cmd_v = exec_form(cmd[-1]) if cmd else []
    if entry_v is None or cmd_v is None:
        problems.append("ENTRYPOINT and CMD must use the exec (JSON) form, so SIGTERM reaches hookguard")
    else:
        full = entry_v + cmd_v
        if not full or not full[0].endswith("hookguard") or full[1:] not in (
            ["run", "-c", CONFIG], ["run", "--config", CONFIG]
        ):
            problems.append(f"the default command is {full}, expected hookguard run -c {CONFIG}")

    # Ports.
    exposed = set()
    for w, r in final["ins"]:
        if w == "EXPOSE":
            exposed |= {p.split("/")[0] for p in r.split()}
    for port in ("8080", "9090"):
        if port not in exposed:
            problems.append(f"port {port} is not EXPOSEd")

    # No remote ADD, no secrets baked in.
    for stage in stages:
        for w, r in stage["ins"]:
            if w == "ADD" and re.search(r"(https?|ftp)://|git@|\.git\b", r):
                problems.append(f"ADD of a remote source: {r}")
            if w in ("ENV", "ARG", "LABEL"):
                for m in re.finditer(r"([A-Za-z_][\w.-]*)\s*=", r):
                    if re.search(r"secret|token|passw|api[_-]?key|private[_-]?key|credential", m.group(1), re.I):
                        problems.append(f"{w} {m.group(1)}: secrets do not belong in an image")
                if w in ("ENV", "ARG") and "=" not in r and re.search(r"secret|token|passw|key", r, re.I):
                    problems.append(f"{w} {r}: secrets do not belong in an image")
            if w in ("COPY", "ADD") and re.search(r"(^|\s|/)(\.env|id_rsa|[^\s]*\.pem|[^\s]*\.key|\.netrc|secrets?/)", r):
                problems.append(f"{w} {r}: looks like a secret file")
            if w == "RUN" and re.search(r"(curl|wget)[^|;&]*\|\s*(ba)?sh", r):
                problems.append(f"RUN pipes a download into a shell: {r[:60]}")
    if re.search(r"whsec_[A-Za-z0-9]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY|ghp_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}", text):
        problems.append("something that looks like a credential is in the Dockerfile")

    # The build context.
    if dockerignore is None:
        problems.append(".dockerignore is missing at the repository root")
    else:
        lines = {l.strip().rstrip("/") for l in dockerignore.splitlines() if l.strip() and not l.startswith("#")}
        for want in ("target", "fuzz/target", ".git"):
            if want not in lines:
                problems.append(f".dockerignore does not exclude {want}/")
    return problems


dockerfile_path, ignore_path = sys.argv[1], sys.argv[2]
text = open(dockerfile_path).read()
try:
    ignore = open(ignore_path).read()
except FileNotFoundError:
    ignore = None

problems = check(text, ignore)
for p in problems:
    print(f"FAIL {dockerfile_path}: {p}")
own_failed = 1 if problems else 0
problems = list(problems)
mutant_failed = 0

# The check must refuse each of these broken variants.
mutants = {
    "single stage": lambda t: t[t.rindex("\nFROM ") + 1:],
    "root user": lambda t: t.replace("USER 65532:65532", "USER root"),
    "uid 0": lambda t: t.replace("USER 65532:65532", "USER 0"),
    "named user": lambda t: t.replace("USER 65532:65532", "USER nonroot"),
    "no USER": lambda t: re.sub(r"(?m)^USER .*$", "", t),
    "admin port not exposed": lambda t: t.replace("EXPOSE 8080 9090", "EXPOSE 8080"),
    "shell-form CMD": lambda t: re.sub(r"(?m)^CMD .*$", "CMD hookguard run -c /etc/hookguard/hookguard.toml", t),
    "other config path": lambda t: t.replace('"/etc/hookguard/hookguard.toml"', '"/config.toml"'),
    "remote ADD": lambda t: t.replace("COPY . .", "ADD https://example.com/src.tar.gz /src/"),
    "secret in ENV": lambda t: t.replace("USER 65532", "ENV WEBHOOK_SECRET=whsec_x\nUSER 65532"),
    "no cmake": lambda t: t.replace("cmake", "pkg-config"),
    "VOLUME": lambda t: t.replace("USER 65532", "VOLUME /data\nUSER 65532"),
}
refused = 0
for name, mutate in mutants.items():
    mutated = mutate(text)
    if mutated == text:
        print(f"FAIL self-test '{name}': the mutation did not apply (has the Dockerfile changed shape?)")
        mutant_failed += 1
    elif not check(mutated, ignore):
        print(f"FAIL self-test '{name}': a broken Dockerfile passed the check")
        mutant_failed += 1
    else:
        refused += 1
for want in ("target", ".git"):
    bad = "\n".join(l for l in (ignore or "").splitlines() if l.strip().rstrip("/") != want)
    if not check(text, bad):
        print(f"FAIL self-test: a .dockerignore without {want}/ passed the check")
        mutant_failed += 1
    else:
        refused += 1

failed = own_failed + mutant_failed
print(f"check-dockerfile: {1 - own_failed + refused} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

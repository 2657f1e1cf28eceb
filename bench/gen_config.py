#!/usr/bin/env python3
"""Writes a hookguard configuration of a given size, for bench/config-scale.sh.

usage: gen_config.py OUT.toml|OUT.yaml ROUTES KEYS [LISTEN ADMIN UPSTREAM]

ROUTES routes in all: KEY_ROUTES (default 10, at most a tenth of ROUTES) key routes sharing KEYS keys
under /k<n>/, a tenth of the rest `path_prefix` routes (/p<n>/...), the others exact paths
(/e/<n>). Every route has a GitHub secret; every fourth an IP allow-list, every fifth a
per-client rate limit, every tenth a rewrite — so the file exercises what a large platform's
would. Keys are `wh_` + 32 hex digits of md5(n): deterministic, unique, valid.

The benchmark's own routes (the ones wrk posts to) are /e/0 (exact), /k0/<key 0> (key) and
/p0/x (prefix), the same in every size, secret "bench-secret".
"""
import hashlib
import json
import os
import sys


def key(n):
    return "wh_" + hashlib.md5(str(n).encode()).hexdigest()


def routes(total, keys, key_routes):
    # At most a tenth of the routes, so a small file still has exact and prefix routes.
    key_routes = min(key_routes, max(1, total // 10), keys) if keys else 0
    rest = total - key_routes
    prefixes = max(1, rest // 10) if rest else 0
    exact = rest - prefixes
    out = []
    for n in range(exact):
        out.append({"id": f"e{n}", "match": {"path": f"/e/{n}"}})
    for n in range(prefixes):
        out.append({"id": f"p{n}", "match": {"path_prefix": f"/p{n}"}})
    per = keys // key_routes if key_routes else 0
    for n in range(key_routes):
        lo = n * per
        hi = keys if n == key_routes - 1 else lo + per
        out.append({"id": f"k{n}", "match": {"key_prefix": f"/k{n}/",
                                              "keys": [{"key": key(i)} for i in range(lo, hi)]}})
    for i, r in enumerate(out):
        r["scheme"] = "github"
        r["secrets"] = [{"id": "primary", "value": "bench-secret"}]
        if i % 4 == 1:
            r["ip"] = {"allow": ["127.0.0.0/8", "10.0.0.0/8", "192.0.2.0/24"]}
        if i % 5 == 2:
            r["rate_limit"] = {"per_client": {"requests": 100000000, "per": "1s"}}
        if i % 10 == 3 and "path" in r["match"]:
            r["rewrite"] = f"/internal/{r['id']}"
    return out


def toml_value(v):
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v)


def write_toml(f, top, rs):
    for k, v in top.items():
        if isinstance(v, dict):
            continue
        f.write(f"{k} = {toml_value(v)}\n")
    for k, v in top.items():
        if isinstance(v, dict):
            f.write(f"\n[{k}]\n")
            for kk, vv in v.items():
                f.write(f"{kk} = {toml_value(vv)}\n")
    for r in rs:
        f.write("\n[[routes]]\n")
        for k, v in r.items():
            if k == "match" and "keys" in v:
                # One key per line, as a platform's generated file would have them.
                f.write(f"match.key_prefix = {json.dumps(v['key_prefix'])}\n")
                f.write("match.keys = [\n")
                for entry in v["keys"]:
                    f.write(f"  {toml_value(entry)},\n")
                f.write("]\n")
            else:
                f.write(f"{k} = {toml_value(v)}\n")


def main():
    out, total, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    listen = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1:18490"
    admin = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1:18491"
    upstream = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1:18492"
    key_routes = int(os.environ.get("KEY_ROUTES", "10"))
    top = {"listen": listen, "admin_listen": admin, "upstream": {"address": upstream}}
    rs = routes(total, keys, key_routes)
    with open(out, "w") as f:
        if out.endswith((".yaml", ".yml")):
            # JSON is YAML 1.2: the same tree, one flow document.
            json.dump({**top, "routes": rs}, f, indent=1)
            f.write("\n")
        else:
            write_toml(f, top, rs)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Static checks of the deployment files, without running a container or systemd.

compose.yaml with .env.example:
  - services `monitor` and `db`; db is postgres:16; both have health checks (the monitor's is
    `/outage-monitor healthcheck`, the database's pg_isready); the monitor waits for db to be
    healthy, restarts unless stopped, publishes 8080 and stores in PostgreSQL on `db`;
  - named volumes are declared at the top level and each is used;
  - no secret is written in compose.yaml: passwords, tokens and the password in the store URL
    are ${...} references;
  - every ${VAR} of compose.yaml has a commented `VAR=` line in .env.example, every variable
    there is used by compose.yaml or read by the monitor (which gets .env as its env_file),
    empty values are required with ${VAR:?...}, shown defaults agree with compose.yaml, and
    secrets have no value in the example.

packaging/systemd/outage-monitor.service (and outage-monitor-ctl beside it):
  - the hardening directives (and every key the NixOS module's serviceConfig sets), ExecStart
    running `serve` from /usr/local/bin, the state directory and config paths;
  - `systemd-analyze verify` and the offline `systemd-analyze security` rating when
    systemd-analyze is installed (on a copy whose binary path points at a stub, since the
    monitor is not installed here); skipped with the reason otherwise.

Prints one summary line per part and exits 1 with every problem found.
Usage: python3 .ci/compose-test.py [--compose FILE] [--env-example FILE] [--unit FILE]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

errors = []


def fail(msg):
    errors.append(msg)


# ---------------------------------------------------------------- compose interpolation

# `$$` is a literal dollar; `${NAME}`, `${NAME:-x}`, `${NAME-x}`, `${NAME:?msg}`, `${NAME?msg}`,
# `${NAME:+x}`, `${NAME+x}` and `$NAME` are references.
REF = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|\$\{(?P<bad>[^}]*)\}?"
)


def refs_in(text):
    """(name, op, arg) for each reference in one string."""
    out = []
    for m in REF.finditer(text):
        if m.group(0) == "$$":
            continue
        if m.group("bad") is not None:
            fail(f"compose.yaml: cannot read the reference `{m.group(0)}` in {text!r}")
            continue
        if m.group("bare"):
            out.append((m.group("bare"), None, ""))
        else:
            out.append((m.group("name"), m.group("op"), m.group("arg")))
    return out


def walk_strings(node, path=""):
    """Every string (keys too) in a parsed YAML tree, with where it is."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(k, f"{path}.{k}" if path else str(k))
            yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def is_whole_ref(value):
    return isinstance(value, str) and re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?+][^}]*)?\}", value) is not None


def env_of(service):
    """A service's `environment:` as a dict (it may be written as a list of NAME=value)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            name, _, value = str(item).partition("=")
            out[name] = value
        return out
    return {str(k): ("" if v is None else str(v)) for k, v in env.items()}


def env_files_of(service):
    files = service.get("env_file") or []
    if isinstance(files, (str, dict)):
        files = [files]
    return [f["path"] if isinstance(f, dict) else f for f in files]


# ---------------------------------------------------------------- .env.example

ACTIVE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
EXAMPLE = re.compile(r"^#\s*([A-Z_][A-Z0-9_]*)=(.*)$")


def read_env_example(path):
    """(active vars: name -> (value, line, comment text), commented examples: name -> line)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    active, examples = {}, {}
    for i, raw in enumerate(lines):
        line = raw.strip()
        m = ACTIVE.match(line)
        if m:
            name, value = m.group(1), m.group(2).strip()
            if name in active:
                fail(f"{os.path.basename(path)}:{i + 1}: {name} is set twice")
            # The comment block above this line, past the variables grouped with it.
            j = i - 1
            while j >= 0 and ACTIVE.match(lines[j].strip()):
                j -= 1
            comment = []
            while j >= 0 and lines[j].strip().startswith("#") and not EXAMPLE.match(lines[j].strip()):
                comment.insert(0, lines[j].strip().lstrip("#").strip())
                j -= 1
            active[name] = (value, i + 1, " ".join(comment).strip())
            continue
        m = EXAMPLE.match(line)
        if m:
            examples[m.group(1)] = i + 1
    return active, examples


def monitor_reads(name):
    """Whether the monitor itself reads this environment variable."""
    return re.fullmatch(r"OUTAGE_[A-Z0-9_]+__[A-Z0-9_]+", name) is not None or name == "RUST_LOG"


# The chat id is not a credential, but who gets the alerts is private too.
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY|CHAT_ID)$")


def check_compose(compose_path, env_path):
    cname = os.path.basename(compose_path)
    ename = os.path.basename(env_path)
    with open(compose_path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail(f"{cname} is not valid YAML: {e}")
        return None
    if not isinstance(doc, dict):
        fail(f"{cname}: expected a mapping at the top level")
        return None
    if "version" in doc:
        fail(f"{cname}: the Compose spec has no `version:` key; remove it")

    services = doc.get("services") or {}
    for name in ("monitor", "db"):
        if name not in services:
            fail(f"{cname}: no service `{name}`")
    monitor = services.get("monitor") or {}
    db = services.get("db") or {}

    # Images and build.
    if monitor.get("image") != "localhost/outage-monitor:latest":
        fail(f"{cname}: monitor.image should be localhost/outage-monitor:latest, is {monitor.get('image')!r}")
    # No `build:`: the Containerfile copies files that only scripts/build-image.sh stages.
    if "build" in monitor:
        fail(f"{cname}: monitor must not have `build:`; the image comes from scripts/build-image.sh")
    if not os.path.exists(os.path.join(os.path.dirname(compose_path) or ".", "scripts", "build-image.sh")):
        fail(f"{cname}: scripts/build-image.sh, which builds the monitor image, is missing")
    if not str(db.get("image", "")).startswith("postgres:16"):
        fail(f"{cname}: db.image should be postgres:16, is {db.get('image')!r}")

    # Health checks and start order.
    for name, svc in (("monitor", monitor), ("db", db)):
        hc = svc.get("healthcheck") or {}
        if not hc.get("test") or hc.get("disable"):
            fail(f"{cname}: service {name} has no healthcheck test")
    if (monitor.get("healthcheck") or {}).get("test") != ["CMD", "/outage-monitor", "healthcheck"]:
        fail(f'{cname}: monitor.healthcheck.test should be ["CMD", "/outage-monitor", "healthcheck"]')
    if "pg_isready" not in " ".join(map(str, (db.get("healthcheck") or {}).get("test") or [])):
        fail(f"{cname}: db.healthcheck should run pg_isready")
    deps = monitor.get("depends_on") or {}
    if not isinstance(deps, dict) or (deps.get("db") or {}).get("condition") != "service_healthy":
        fail(f"{cname}: monitor.depends_on.db.condition should be service_healthy")
    if monitor.get("restart") != "unless-stopped":
        fail(f"{cname}: monitor.restart should be unless-stopped")
    ports = [str(p.get("target")) if isinstance(p, dict) else str(p) for p in monitor.get("ports") or []]
    if not any(p == "8080" or p.endswith(":8080") or p.endswith(":8080/tcp") for p in ports):
        fail(f"{cname}: monitor should publish port 8080")

    # The store: PostgreSQL on the db service, password by reference.
    menv = env_of(monitor)
    url = menv.get("OUTAGE_STORE__URL", "")
    # References may hold `:` and `@` (`${USER:-outage}`): parse with each one as a token.
    held = []

    def hold(m):
        held.append(m.group(0))
        return f"\0{len(held) - 1}\0"

    shape = re.sub(r"\$\{[^}]*\}", hold, url)
    m = re.fullmatch(r"postgres(?:ql)?://(?P<user>[^:@/]*)(?::(?P<pw>[^@/]*))?@(?P<host>[^:/]+)(?::[^/]+)?/(?P<db>.+)", shape)
    if not m:
        fail(f"{cname}: monitor OUTAGE_STORE__URL should be postgres://user:password@db:5432/name, is {url!r}")
    else:
        back = lambda s: re.sub(r"\0(\d+)\0", lambda t: held[int(t.group(1))], s or "")
        if back(m.group("host")) != "db":
            fail(f"{cname}: the store URL should name the host `db` (the service), names {back(m.group('host'))!r}")
        if not is_whole_ref(back(m.group("pw"))):
            fail(f"{cname}: the password in OUTAGE_STORE__URL must be a ${{...}} reference")
    if menv.get("OUTAGE_SERVER__LISTEN", "").rsplit(":", 1)[-1] != "8080":
        fail(f"{cname}: monitor OUTAGE_SERVER__LISTEN should listen on port 8080")

    # Volumes.
    declared = set((doc.get("volumes") or {}).keys())
    used = set()
    mounts = {}
    for sname, svc in services.items():
        for v in (svc or {}).get("volumes") or []:
            if isinstance(v, dict):
                src, dst, kind = v.get("source"), v.get("target"), v.get("type", "volume")
            else:
                parts = str(v).split(":")
                src, dst = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
                kind = "bind" if src and src[0] in "./~$" else "volume"
            if kind != "volume" or not src:
                continue
            used.add(src)
            mounts[(sname, dst)] = src
            if src not in declared:
                fail(f"{cname}: service {sname} mounts volume `{src}`, which is not declared under volumes:")
    for v in sorted(declared - used):
        fail(f"{cname}: volume `{v}` is declared but no service uses it")
    if ("db", "/var/lib/postgresql/data") not in mounts:
        fail(f"{cname}: db should keep /var/lib/postgresql/data on a named volume")
    if ("monitor", "/data") not in mounts:
        fail(f"{cname}: monitor should keep /data on a named volume")

    # No literal secrets.
    for sname, svc in services.items():
        for key, value in env_of(svc or {}).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE") and not is_whole_ref(value):
                fail(f"{cname}: {sname} sets {key} to a literal; use a ${{VAR:?...}} reference to .env")
    if re.search(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b", text):
        fail(f"{cname}: something that looks like a Telegram bot token is written in the file")
    for m in re.finditer(r"://[^\s/@:$]+:(?!\$\{)[^\s/@]+@", text):
        fail(f"{cname}: a URL with a literal password: {m.group(0)}")

    # Variables against .env.example.
    refs = {}
    for path, s in walk_strings(doc):
        for name, op, arg in refs_in(s):
            refs.setdefault(name, []).append((op, arg, path))
    if not os.path.exists(env_path):
        fail(f"{ename} is missing (it documents the variables of {cname})")
        return None
    active, examples = read_env_example(env_path)
    env_file_ok = ".env" in [os.path.normpath(p) for p in env_files_of(monitor)]

    for name, uses in sorted(refs.items()):
        if name not in active:
            fail(f"{cname} uses ${{{name}}}, which {ename} does not document (add a commented `{name}=` line)")
            continue
        value, line, comment = active[name]
        defaults = {arg for op, arg, _ in uses if op in ("-", ":-")}
        strictly_required = any(op == ":?" for op, _, _ in uses)
        for op, arg, path in uses:
            if op in ("?", ":?") and not arg.strip():
                fail(f"{cname}: ${{{name}{op}}} at {path} has no message saying what to set")
        if len(defaults) > 1:
            fail(f"{cname}: {name} has different defaults: {sorted(defaults)}")
        if value == "" and not strictly_required:
            fail(f"{ename}:{line}: {name} is empty but {cname} does not require it; use ${{{name}:?message}} or give a value")
        if value and defaults and value not in defaults:
            fail(f"{ename}:{line}: {name}={value} but {cname}'s default is {sorted(defaults)[0]!r}; show the default")
    for name, (value, line, comment) in sorted(active.items()):
        if not comment:
            fail(f"{ename}:{line}: {name} has no comment saying what it is")
        if SECRET_NAME.search(name) and value and not re.search(r"replace|change|example", value, re.I):
            fail(f"{ename}:{line}: {name} has a value; leave secrets empty in the example")
        if name not in refs:
            if not (monitor_reads(name) and env_file_ok):
                fail(f"{ename}:{line}: {name} is not used in {cname} and the monitor does not read it")
            elif name in menv:
                fail(f"{ename}:{line}: {name} is overridden by the monitor's environment: in {cname}")
    for name, line in sorted(examples.items()):
        if name in refs:
            continue
        if not monitor_reads(name):
            fail(f"{ename}:{line}: the commented {name} is neither used in {cname} nor read by the monitor")
        elif not env_file_ok:
            fail(f"{ename}:{line}: {name} is meant for the monitor, but {cname} does not give it .env as env_file")
        elif name in menv:
            fail(f"{ename}:{line}: the commented {name} would be overridden by the monitor's environment: in {cname}")

    return len(services), len(declared), len(active)


# ---------------------------------------------------------------- systemd unit

def read_unit(path):
    """{section: [(key, value), ...]} with repeated keys kept in order."""
    sections, current = {}, None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
                continue
            if current is None or "=" not in line:
                fail(f"{os.path.basename(path)}:{n}: cannot read {line!r}")
                continue
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


YES = {"yes", "true", "1", "on"}

# key -> a test of the values the unit gives it (all values, in order).
HARDENING = {
    "DynamicUser": lambda v: v[-1] in YES,
    "StateDirectory": lambda v: v[-1] == "outage-monitor",
    "WorkingDirectory": lambda v: v[-1] == "/var/lib/outage-monitor",
    "UMask": lambda v: v[-1] == "0077",
    "Restart": lambda v: v[-1] == "on-failure",
    "Environment": lambda v: any("OUTAGE_CONFIG=/etc/outage-monitor/outage-monitor.toml" in x for x in v),
    "EnvironmentFile": lambda v: "-/etc/outage-monitor/env" in v,
    "LoadCredential": lambda v: any(x.startswith("telegram-token:") for x in v),
    "NoNewPrivileges": lambda v: v[-1] in YES,
    "CapabilityBoundingSet": lambda v: v[-1] == "",
    "PrivateUsers": lambda v: v[-1] in YES,
    "ProtectSystem": lambda v: v[-1] == "strict",
    "ProtectHome": lambda v: v[-1] in YES,
    "PrivateTmp": lambda v: v[-1] in YES,
    "PrivateDevices": lambda v: v[-1] in YES,
    "PrivateMounts": lambda v: v[-1] in YES,
    "DevicePolicy": lambda v: v[-1] == "closed",
    "ProtectKernelTunables": lambda v: v[-1] in YES,
    "ProtectKernelModules": lambda v: v[-1] in YES,
    "ProtectKernelLogs": lambda v: v[-1] in YES,
    "ProtectControlGroups": lambda v: v[-1] in YES,
    "ProtectClock": lambda v: v[-1] in YES,
    "ProtectHostname": lambda v: v[-1] in YES,
    "ProtectProc": lambda v: v[-1] == "invisible",
    "ProcSubset": lambda v: v[-1] == "pid",
    "RestrictAddressFamilies": lambda v: v[-1].split() and set(v[-1].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"},
    "RestrictNamespaces": lambda v: v[-1] in YES,
    "RestrictRealtime": lambda v: v[-1] in YES,
    "RestrictSUIDSGID": lambda v: v[-1] in YES,
    "RemoveIPC": lambda v: v[-1] in YES,
    "LockPersonality": lambda v: v[-1] in YES,
    "MemoryDenyWriteExecute": lambda v: v[-1] in YES,
    "SystemCallArchitectures": lambda v: v[-1] == "native",
    "SystemCallFilter": lambda v: "@system-service" in v and "~@privileged" in v,
}

EXE = "/usr/local/bin/outage-monitor"


def nix_service_keys():
    """The keys the NixOS module's serviceConfig sets (its main attribute set), if found."""
    for rel in ("nixos-module/default.nix", "nix/module.nix"):
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        start = text.find("serviceConfig = {")
        if start < 0:
            return rel, None
        depth, i = 0, text.index("{", start)
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                body = text[i + 1 : j]
                break
        else:
            return rel, None
        keys = set()
        depth = 0
        for line in body.splitlines():
            if depth == 0:
                m = re.match(r"\s*([A-Z][A-Za-z]+)\s*=", line)
                if m:
                    keys.add(m.group(1))
            depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        return rel, keys
    return None, None


def check_unit(unit_path):
    uname = os.path.basename(unit_path)
    if not os.path.exists(unit_path):
        fail(f"{unit_path} is missing")
        return None
    sections = read_unit(unit_path)
    service = {}
    for key, value in sections.get("Service", []):
        service.setdefault(key, []).append(value)
    for key, ok in HARDENING.items():
        if key not in service:
            fail(f"{uname}: [Service] has no {key}=")
        elif not ok(service[key]):
            fail(f"{uname}: {key}={service[key][-1]!r} is not what the hardening needs")
    if "AmbientCapabilities" in service:
        fail(f"{uname}: AmbientCapabilities= gives the service capabilities it does not need on port 8080")
    starts = service.get("ExecStart", [])
    if len(starts) != 1:
        fail(f"{uname}: expected one ExecStart=, found {len(starts)}")
    else:
        words = starts[0].lstrip("-@:+!").split()
        if not words or words[0] != EXE:
            fail(f"{uname}: ExecStart should run {EXE}, runs {starts[0]!r}")
        if "serve" not in words[1:]:
            fail(f"{uname}: ExecStart should run `serve`: {starts[0]!r}")
    if "multi-user.target" not in " ".join(v for k, v in sections.get("Install", []) if k == "WantedBy"):
        fail(f"{uname}: [Install] WantedBy=multi-user.target is missing")

    rel, nix_keys = nix_service_keys()
    if nix_keys is None:
        print(f"note: no NixOS module serviceConfig to compare with ({rel or 'module not found'})")
    else:
        for key in sorted(nix_keys - set(service)):
            fail(f"{uname}: the NixOS module ({rel}) sets {key}, the unit does not")

    # The ctl wrapper must run commands the way the unit runs the service.
    ctl = os.path.join(os.path.dirname(unit_path), "outage-monitor-ctl")
    if os.path.exists(ctl):
        with open(ctl, encoding="utf-8") as f:
            ctext = f.read()
        for needle in ("DynamicUser=yes", "StateDirectory=", "WorkingDirectory=", "OUTAGE_CONFIG=", "telegram-token", "exe=" + EXE):
            if needle not in ctext:
                fail(f"outage-monitor-ctl: does not contain {needle!r} (it must match the unit)")
        if not os.access(ctl, os.X_OK):
            fail("outage-monitor-ctl: not executable")
        r = subprocess.run(["sh", "-n", ctl], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"outage-monitor-ctl: sh -n: {r.stderr.strip()}")
        if shutil.which("shellcheck"):
            r = subprocess.run(["shellcheck", ctl], capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"outage-monitor-ctl: shellcheck:\n{r.stdout.strip()}")

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        return len(HARDENING), "skipped (systemd-analyze is not installed)", None
    # verify checks that ExecStart's binary exists; the monitor is not installed here, so a copy
    # of the unit points at an empty stub instead.
    with tempfile.TemporaryDirectory() as tmp:
        stub = os.path.join(tmp, "outage-monitor")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        copy = os.path.join(tmp, uname)
        with open(unit_path, encoding="utf-8") as f:
            body = f.read().replace(EXE, stub)
        with open(copy, "w", encoding="utf-8") as f:
            f.write(body)
        r = subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or out:
            fail(f"{uname}: systemd-analyze verify (exit {r.returncode}):\n{out}")
            verify = "failed"
        else:
            verify = "ok"
        exposure = None
        # `--threshold` counts in tenths: 20 is an exposure of 2.0.
        r = subprocess.run(
            [analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", copy],
            capture_output=True,
            text=True,
        )
        m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
        if m:
            exposure = m.group(1)
            if r.returncode != 0:
                fail(f"{uname}: systemd-analyze security rates the exposure {exposure}, above 2.0")
        else:
            print(f"note: systemd-analyze security --offline gave no rating (exit {r.returncode}): {r.stderr.strip()[:200]}")
    return len(HARDENING), verify, exposure


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compose", default=os.path.join(ROOT, "compose.yaml"))
    ap.add_argument("--env-example", default=os.path.join(ROOT, ".env.example"))
    ap.add_argument("--unit", default=os.path.join(ROOT, "packaging/systemd/outage-monitor.service"))
    args = ap.parse_args()

    if not os.path.exists(args.compose):
        fail(f"{args.compose} is missing")
        compose = None
    else:
        compose = check_compose(args.compose, args.env_example)
    unit = check_unit(args.unit)

    if errors:
        for e in errors:
            print(f"FAIL: {e}", file=sys.stderr)
        print(f"compose-test: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    services, volumes, variables = compose
    print(f"compose: ok ({services} services, {volumes} volumes, {variables} variables documented)")
    directives, verify, exposure = unit
    rating = f", exposure {exposure}" if exposure else ""
    print(f"systemd unit: ok ({directives} directives checked, systemd-analyze verify {verify}{rating})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

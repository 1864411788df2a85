#!/usr/bin/env bash
# Offline checks of the Nix packaging; run by .ci/nix.sh, or by hand: `bash nix/eval-test.sh`.
#
#  1. `nix-instantiate --parse` on flake.nix, every nix/*.nix and nixos-module/*.nix.
#  2. nix/eval-test.nix evaluated with Nixpkgs' `lib` only (no Nixpkgs, no downloads,
#     `--store dummy://` so nothing is written to /nix/store): the NixOS module under five
#     configurations plus a misconfigured one, the package expression and the flake's outputs
#     (including the VM test's machines); Python asserts on the JSON.
#  3. flake.lock read with `builtins.fromJSON`: version 7, the root's inputs are flake.nix's
#     inputs, each node's `original` is its input's URL, `locked` is a GitHub revision (40 hex
#     digits) with an SRI sha256 narHash, and book/src/nixos.md names the locked revision.
#  4. If an `outage-monitor` binary is already built (CI builds one for its tests; this script
#     never builds), `check-config` reads each TOML file the module renders.
#  5. deadnix and nixfmt (.ci/nix.sh installs them; skipped with a note when missing elsewhere).
#
# The Nixpkgs lib: a standalone copy of Nixpkgs' `lib` directory at $NIXPKGS_LIB (.ci/nix.sh
# sets it on the CI machine). Without one the script is SKIPPED, or fails when CI is set.
# The last line is "nix: N passed, M failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

candidates=()
if [ -n "${NIXPKGS_LIB:-}" ]; then
  candidates=("$NIXPKGS_LIB")
fi
lib=""
for c in "${candidates[@]}"; do
  if [ -f "$c/default.nix" ]; then
    lib=$(cd "$c" && pwd)
    break
  fi
done
if [ -z "$lib" ]; then
  echo "nixpkgs lib not found (looked in: ${candidates[*]}); set NIXPKGS_LIB"
  if [ -n "${CI:-}" ]; then
    echo "nix: 0 passed, 1 failed"
    exit 1
  fi
  echo "SKIPPED: nix evaluation tests"
  exit 0
fi
if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "nix-instantiate not found: apt-get install nix-bin (or run .ci/nix.sh)"
  echo "nix: 0 passed, 1 failed"
  exit 1
fi

nixi() { nix-instantiate --store dummy:// "$@"; }
echo "nixpkgs lib: $lib ($(nixi --eval --expr "(import $lib).version" 2>/dev/null || echo '?'))"
nix-instantiate --version

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

parse_failed=0
nix_files=(flake.nix nix/*.nix nixos-module/*.nix)
for f in "${nix_files[@]}"; do
  if ! nixi --parse "$f" >/dev/null 2>"$work/parse.err"; then
    echo "FAIL - nix-instantiate --parse $f"
    cat "$work/parse.err"
    parse_failed=$((parse_failed + 1))
  fi
done

eval_ok=1
if ! nixi --eval --strict --json nix/eval-test.nix --argstr libPath "$lib" \
  >"$work/eval.json" 2>"$work/eval.err"; then
  eval_ok=0
  echo "FAIL - nix/eval-test.nix does not evaluate:"
  cat "$work/eval.err"
fi

# flake.lock, read by Nix's own JSON parser (what `nix` itself does with it).
lock_ok=1
if ! nixi --eval --strict --json --expr 'builtins.fromJSON (builtins.readFile ./flake.lock)' \
  >"$work/lock.json" 2>"$work/lock.err"; then
  lock_ok=0
  echo "FAIL - flake.lock does not parse:"
  cat "$work/lock.err"
fi

# An already-built binary (never built here).
bin="${OUTAGE_MONITOR_BIN:-}"
if [ -z "$bin" ]; then
  for c in "${CARGO_TARGET_DIR:-$root/target}/debug/outage-monitor" \
    "${CARGO_TARGET_DIR:-$root/target}/release/outage-monitor" \
    "$root/target/debug/outage-monitor" "$root/target/release/outage-monitor"; do
    if [ -x "$c" ]; then
      bin=$c
      break
    fi
  done
fi

# Linters, only when present.
lint_results="$work/lint"
: >"$lint_results"
if command -v deadnix >/dev/null 2>&1; then
  if deadnix --fail -L "${nix_files[@]}" >"$work/deadnix.out" 2>&1; then
    echo "ok deadnix" >>"$lint_results"
  else
    echo "FAIL deadnix" >>"$lint_results"
    cat "$work/deadnix.out"
  fi
else
  echo "SKIPPED: deadnix (not installed; cargo install deadnix)"
fi
if command -v nixfmt >/dev/null 2>&1; then
  if nixfmt --check "${nix_files[@]}" >"$work/nixfmt.out" 2>&1; then
    echo "ok nixfmt" >>"$lint_results"
  else
    echo "FAIL nixfmt --check" >>"$lint_results"
    cat "$work/nixfmt.out"
  fi
else
  echo "SKIPPED: nixfmt (not installed; cargo install nixfmt_rs)"
fi

PARSE_FAILED=$parse_failed PARSED=${#nix_files[@]} EVAL_OK=$eval_ok LOCK_OK=$lock_ok BIN="$bin" \
  WORK="$work" LINT="$lint_results" python3 - <<'PY'
import json, os, re, subprocess, sys, tomllib

work = os.environ["WORK"]
passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}" + (f": {detail}" if detail else ""))


def finish():
    print(f"nix: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


parse_failed = int(os.environ["PARSE_FAILED"])
check(f"nix-instantiate --parse on {os.environ['PARSED']} files", parse_failed == 0,
      f"{parse_failed} failed")
for line in open(os.environ["LINT"]):
    status, name = line.split(" ", 1)
    check(name.strip(), status == "ok")
lock_ok = os.environ["LOCK_OK"] == "1"
check("flake.lock parses as JSON (builtins.fromJSON)", lock_ok)
if os.environ["EVAL_OK"] != "1":
    check("nix/eval-test.nix evaluates", False)
    finish()

d = json.load(open(f"{work}/eval.json"))
NAME = "outage-monitor"
STATE = f"/var/lib/{NAME}"
SOCKET_URL = f"postgres:///{NAME}?host=/run/postgresql&user={NAME}"
TOKEN_FILE = "/run/secrets/outage-monitor-telegram-token"
ENV_FILE = "/run/secrets/outage-monitor.env"
TOKEN_LIKE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{10,}")

HARDENING = {
    "NoNewPrivileges": True,
    "ProtectSystem": "strict",
    "ProtectHome": True,
    "PrivateTmp": True,
    "PrivateDevices": True,
    "PrivateMounts": True,
    "ProtectKernelTunables": True,
    "ProtectKernelModules": True,
    "ProtectKernelLogs": True,
    "ProtectControlGroups": True,
    "ProtectClock": True,
    "ProtectHostname": True,
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RestrictAddressFamilies": ["AF_INET", "AF_INET6", "AF_UNIX"],
    "RestrictNamespaces": True,
    "RestrictRealtime": True,
    "RestrictSUIDSGID": True,
    "RemoveIPC": True,
    "LockPersonality": True,
    "MemoryDenyWriteExecute": True,
    "SystemCallArchitectures": "native",
    "SystemCallFilter": ["@system-service", "~@privileged"],
    "DevicePolicy": "closed",
    "UMask": "0077",
    "Restart": "on-failure",
    "DynamicUser": True,
    "User": NAME,
    "Group": NAME,
    "StateDirectory": NAME,
    "StateDirectoryMode": "0700",
    "WorkingDirectory": STATE,
    "Type": "exec",
}

# --- disabled: the module adds nothing -------------------------------------------------
off = d["disabled"]
check("disabled: no unit, no firewall port, no PostgreSQL, no packages",
      off["service"] is None and off["firewallTCPPorts"] == []
      and not off["postgresql"]["enable"] and off["systemPackages"] == [], off)

# --- every enabled configuration ---------------------------------------------------------
enabled = ["defaults", "telegram", "postgres", "lowPort"]
for name in enabled:
    c = d[name]
    sc = c["service"]["serviceConfig"]
    check(f"{name}: no failed assertions, no warnings",
          c["failedAssertions"] == [] and c["warnings"] == [],
          (c["failedAssertions"], c["warnings"]))
    wrong = {k: (sc.get(k), v) for k, v in HARDENING.items() if sc.get(k) != v}
    check(f"{name}: DynamicUser, StateDirectory and the hardening set", not wrong, wrong)
    cfgfile = c["expectedConfigFile"]
    exe = sc["ExecStart"].split(" ")[0]
    check(f"{name}: ExecStartPre runs `outage-monitor migrate` on the rendered config",
          sc["ExecStartPre"] == f"{exe} --config {cfgfile} migrate"
          and re.fullmatch(r"/nix/store/[^/]+-outage-monitor-[0-9.]+/bin/outage-monitor", exe),
          sc["ExecStartPre"])
    check(f"{name}: ExecStart runs `outage-monitor serve` on the rendered config",
          sc["ExecStart"] == f"{exe} --config {cfgfile} serve", sc["ExecStart"])
    check(f"{name}: started by multi-user.target after the network",
          c["service"]["wantedBy"] == ["multi-user.target"]
          and "network.target" in c["service"]["after"])
    try:
        parsed = tomllib.loads(c["toml"])
    except tomllib.TOMLDecodeError as e:
        parsed = e
    check(f"{name}: the rendered TOML parses back to the settings",
          parsed == c["settings"], parsed)
    telegram = c["settings"].get("notifiers", {}).get("telegram", {})
    check(f"{name}: no secret in the rendered TOML",
          "bot_token" not in telegram and not TOKEN_LIKE.search(c["toml"])
          and "/run/secrets" not in c["toml"] and "password" not in c["toml"])
    ctl = c["ctlScript"] or ""
    check(f"{name}: outage-monitor-ctl runs the CLI as the service's user with its config",
          c["systemPackages"] == ["outage-monitor-ctl"]
          and f"{exe} \"$@\"" in ctl and "/bin/systemd-run " in ctl
          and "'--property=DynamicUser=yes'" in ctl
          and f"'--property=User={NAME}'" in ctl
          and f"'--property=StateDirectory={NAME}'" in ctl
          and f"'--setenv=OUTAGE_CONFIG={cfgfile}'" in ctl, ctl)
    r = subprocess.run(["bash", "-n"], input=ctl, text=True, capture_output=True)
    check(f"{name}: outage-monitor-ctl is valid shell", r.returncode == 0, r.stderr)

# --- defaults ----------------------------------------------------------------------------
c = d["defaults"]
sc = c["service"]["serviceConfig"]
check("defaults: SQLite in the state directory, listening on 127.0.0.1:8080",
      c["settings"] == {"server": {"listen": "127.0.0.1:8080"},
                        "store": {"url": f"sqlite://{STATE}/{NAME}.db"}}, c["settings"])
check("defaults: firewall closed", c["firewallTCPPorts"] == [], c["firewallTCPPorts"])
check("defaults: no capabilities, private user namespace",
      sc["CapabilityBoundingSet"] == "" and sc["PrivateUsers"] is True
      and "AmbientCapabilities" not in sc)
check("defaults: no credentials, no environment file, no PostgreSQL",
      "LoadCredential" not in sc and "EnvironmentFile" not in sc
      and not c["postgresql"]["enable"] and c["service"]["requires"] == [])

# --- telegram token + openFirewall + settings ---------------------------------------------
c = d["telegram"]
sc = c["service"]["serviceConfig"]
check("telegram: the token file goes in with LoadCredential",
      sc.get("LoadCredential") == [f"telegram-token:{TOKEN_FILE}"], sc.get("LoadCredential"))
check("telegram: the config names the credential by its relative name",
      c["settings"]["notifiers"]["telegram"] == {"bot_token_file": "telegram-token",
                                                 "chat_id": -1001234567890},
      c["settings"]["notifiers"])
check("telegram: environmentFile becomes EnvironmentFile", sc.get("EnvironmentFile") == ENV_FILE)
check("telegram: openFirewall opens 8080", c["firewallTCPPorts"] == [8080], c["firewallTCPPorts"])
check("telegram: free-form keys beside declared ones (server.public_url, monitor.*)",
      c["settings"]["server"] == {"listen": "0.0.0.0:8080",
                                  "public_url": "https://power.example.org"}
      and c["settings"]["monitor"] == {"language": "uk", "restore_confirm": "2 beats"},
      c["settings"])
check("telegram: outage-monitor-ctl gets the same credential and environment file",
      f"'--property=LoadCredential=telegram-token:{TOKEN_FILE}'" in c["ctlScript"]
      and f"'--property=EnvironmentFile={ENV_FILE}'" in c["ctlScript"])

# --- database.createLocally ----------------------------------------------------------------
c = d["postgres"]
pg = c["postgresql"]
check("postgres: services.postgresql enabled with ensureDatabases",
      pg["enable"] is True and pg["ensureDatabases"] == [NAME], pg)
check("postgres: ensureUsers with the same name owning the database",
      [(u["name"], u["ensureDBOwnership"]) for u in pg["ensureUsers"]] == [(NAME, True)], pg)
check("postgres: store.url is the local socket URL for the service's user",
      c["settings"]["store"]["url"] == SOCKET_URL
      and c["service"]["serviceConfig"]["User"] == NAME, c["settings"]["store"])
check("postgres: the unit requires and starts after postgresql.target",
      c["service"]["requires"] == ["postgresql.target"]
      and "postgresql.target" in c["service"]["after"], c["service"])
check("postgres: firewall closed", c["firewallTCPPorts"] == [])

# --- a port below 1024 ---------------------------------------------------------------------
c = d["lowPort"]
sc = c["service"]["serviceConfig"]
check("lowPort: [::]:80 opens port 80 and grants only CAP_NET_BIND_SERVICE",
      c["firewallTCPPorts"] == [80]
      and sc["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
      and sc.get("AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
      and sc["PrivateUsers"] is False, sc)

# --- misconfiguration ----------------------------------------------------------------------
m = d["misconfigured"]
check("misconfigured: a bot_token in settings fails an assertion",
      any("bot_token" in a and "telegramTokenFile" in a for a in m["failedAssertions"]),
      m["failedAssertions"])
check("misconfigured: a store.url with a password fails an assertion",
      any("store.url" in a and "environmentFile" in a for a in m["failedAssertions"]),
      m["failedAssertions"])
check("misconfigured: openFirewall with a loopback listener warns",
      len(m["warnings"]) == 1 and "openFirewall" in m["warnings"][0], m["warnings"])

# --- option documentation ------------------------------------------------------------------
docs = {o["name"].removeprefix("services.outage-monitor."): o for o in d["optionDocs"]}
want = {"enable", "package", "settings", "settings.server.listen", "settings.store.url",
        "telegramTokenFile", "environmentFile", "database.createLocally", "openFirewall"}
check("options: all those book/src/nixos.md documents are declared", want <= set(docs), sorted(docs))
undocumented = [n for n, o in docs.items() if not (o["description"] or "").strip()]
check("options: every option has a description", not undocumented, undocumented)
no_example = [n for n, o in docs.items() if not o["hasExample"] and n != "package"]
check("options: every option but `package` has an example", not no_example, no_example)

# --- nix/package.nix -----------------------------------------------------------------------
p = d["packageExpr"]
cargo = tomllib.load(open("Cargo.toml", "rb"))
check("package: pname, version from Cargo.toml, mainProgram",
      p["pname"] == NAME and p["version"] == cargo["workspace"]["package"]["version"]
      and p["mainProgram"] == NAME, p)
check("package: builds only the binary, with Cargo.lock",
      p["cargoBuildFlags"] == ["--package", NAME] and p["lockFile"] is True, p)
keeps = p["srcKeeps"]
want_in = ["Cargo.toml", "Cargo.lock", "LICENSE", "crates", "crates/outage-monitor/Cargo.toml",
           "crates/outage-render-plotters/FONT-LICENSE", "migrations",
           "migrations/sqlite/0001_initial.sql", "examples"]
want_out = ["firmware", "book", "target", "nix", "nixos-module", "flake.nix", "flake.lock",
            "README.md"]
check("package: src keeps the workspace and migrations, leaves out firmware/ and the rest",
      all(keeps[k] for k in want_in) and not any(keeps[k] for k in want_out), keeps)
check("package: the filtered source can be imported",
      re.fullmatch(r"/nix/store/[a-z0-9]{32}-outage-monitor-source", p["srcStorePath"]),
      p["srcStorePath"])

# --- flake.nix -----------------------------------------------------------------------------
f = d["flake"]
flake_text = open("flake.nix").read()
check("flake: nixpkgs input, x86_64-linux and aarch64-linux",
      f["nixpkgsUrl"].startswith("github:NixOS/nixpkgs/")
      and f["systems"] == ["aarch64-linux", "x86_64-linux"], f)
check("flake: packages.default is the package", f["package"] == f"{NAME}-{p['version']}")
check("flake: apps.default runs `serve` when given no command",
      f["app"]["type"] == "app" and f["app"]["program"].endswith("/bin/outage-monitor-run")
      and 'set -- serve' in flake_text and f["app"]["description"], f["app"])
check("flake: nixosModules.default runs the flake's package", f["moduleUsesFlakePackage"])
check("flake: checks hold the package and the VM test", f["checks"] == ["package", "vm"],
      f["checks"])
check("flake: formatter is nixfmt", f["formatter"] == "nixfmt")
vm = f["vmTest"]
nodes = vm["nodes"]
check("VM test: two machines, both with the module enabled and no failed assertion",
      set(nodes) == {"sqlite", "postgres"}
      and all(n["enable"] and n["failedAssertions"] == [] for n in nodes.values()), nodes)
check("VM test: the postgres machine uses database.createLocally",
      nodes["postgres"]["postgresql"] and nodes["postgres"]["storeUrl"] == SOCKET_URL
      and not nodes["sqlite"]["postgresql"], nodes)
check("VM test: machines have curl, jq and outage-monitor-ctl",
      all({"curl", "jq", "outage-monitor-ctl"} <= set(n["systemPackages"])
          for n in nodes.values()), nodes)
script = vm["testScript"]
try:
    compile(script, "testScript", "exec")
    compiled = True
except SyntaxError as e:
    compiled = e
check("VM test: the Python test script compiles", compiled is True, compiled)
check("VM test: waits for the unit, curls /healthz, adds a location and sends a heartbeat",
      all(s in script for s in ['wait_for_unit("outage-monitor.service")', "/healthz",
                                "outage-monitor-ctl location add", "/api/v1/heartbeat"]))
undefined_nodes = set(re.findall(r"\b(\w+)\.(?:succeed|fail|wait_for_unit)\(", script)) \
    - set(nodes) - {"machine"}
check("VM test: the script only uses its machines", not undefined_nodes, undefined_nodes)

# --- flake.lock ----------------------------------------------------------------------------
def flake_ref(url):
    """`github:owner/repo[/ref]` as the `original` node Nix writes into flake.lock."""
    m = re.fullmatch(r"github:([^/]+)/([^/?]+)(?:/([^?]+))?", url or "")
    if not m:
        return None
    owner, repo, ref = m.groups()
    return {"type": "github", "owner": owner, "repo": repo} | ({"ref": ref} if ref else {})


def at(obj, *keys):
    """obj[k1][k2]…, or None when a step is missing or not an object."""
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


if lock_ok:
    lock = json.load(open(f"{work}/lock.json"))
    lock_nodes = at(lock, "nodes")
    lock_nodes = lock_nodes if isinstance(lock_nodes, dict) else {}
    check("flake.lock: version 7, root node \"root\"",
          at(lock, "version") == 7 and at(lock, "root") == "root" and "root" in lock_nodes,
          {k: at(lock, k) for k in ("version", "root")})
    root_inputs = at(lock_nodes, "root", "inputs")
    check("flake.lock: the root's inputs are flake.nix's inputs (nixpkgs only)",
          f["inputs"] == {"nixpkgs": "github:NixOS/nixpkgs/nixos-unstable"}
          and f["outputsArgs"] == ["nixpkgs", "self"]
          and root_inputs == {name: name for name in f["inputs"]}
          and set(lock_nodes) == {"root", *f["inputs"]},
          {"flake.nix inputs": f["inputs"], "outputs args": f["outputsArgs"],
           "root inputs": root_inputs, "nodes": sorted(lock_nodes)})
    for name, url in f["inputs"].items():
        original = at(lock_nodes, name, "original")
        check(f"flake.lock: {name}'s original is flake.nix's inputs.{name}.url ({url})",
              flake_ref(url) is not None and original == flake_ref(url),
              {"original": original, "from url": flake_ref(url)})
        locked = at(lock_nodes, name, "locked")
        locked = locked if isinstance(locked, dict) else {}
        rev = locked.get("rev")
        nar_hash = locked.get("narHash")
        last_modified = locked.get("lastModified")
        check(f"flake.lock: {name} is locked to a GitHub revision (40 hex digits) with a "
              "sha256 narHash",
              set(locked) == {"lastModified", "narHash", "owner", "repo", "rev", "type"}
              and locked["type"] == "github"
              and (locked["owner"], locked["repo"])
              == (at(original, "owner"), at(original, "repo"))
              and isinstance(rev, str) and re.fullmatch(r"[0-9a-f]{40}", rev) is not None
              and isinstance(nar_hash, str)
              and re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", nar_hash) is not None
              and type(last_modified) is int and last_modified >= 1735689600,  # 2025-01-01
              locked)
        if name == "nixpkgs":
            book = open("book/src/nixos.md").read()
            check("flake.lock: book/src/nixos.md names the locked nixpkgs revision",
                  isinstance(rev, str) and rev != "" and rev in book,
                  f"{rev} not in book/src/nixos.md")

# --- the real binary reads the rendered files ---------------------------------------------
bin_path = os.environ["BIN"]
if not bin_path:
    print("SKIPPED: check-config of the rendered files (no outage-monitor binary built)")
else:
    creds = f"{work}/credentials"
    os.makedirs(creds, exist_ok=True)
    with open(f"{creds}/telegram-token", "w") as t:
        t.write("123456789:AAE-fake-token-for-the-nix-eval-test\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OUTAGE_") and k != "CREDENTIALS_DIRECTORY"}
    for name in enabled:
        path = f"{work}/{name}.toml"
        with open(path, "w") as t:
            t.write(d[name]["toml"])
        e = dict(env, CREDENTIALS_DIRECTORY=creds)
        note = ""
        if name == "postgres":
            # check-config would connect; the socket URL's form is covered above.
            e["OUTAGE_STORE__URL"] = f"sqlite://{work}/absent/{NAME}.db"
            note = " (store.url overridden: no PostgreSQL here)"
        r = subprocess.run([bin_path, "--config", path, "check-config"], env=e,
                           capture_output=True, text=True, timeout=60)
        check(f"{name}: `outage-monitor check-config` accepts the rendered file{note}",
              r.returncode == 0 and "configuration OK" in r.stdout, r.stdout + r.stderr)
    out = subprocess.run([bin_path, "--config", f"{work}/telegram.toml", "check-config"],
                         env=dict(env, CREDENTIALS_DIRECTORY=creds), capture_output=True,
                         text=True, timeout=60).stdout
    check("telegram: check-config finds the token under $CREDENTIALS_DIRECTORY",
          "telegram" in out.split("notifiers:")[-1], out)

finish()
PY

#!/usr/bin/env python3
"""Compile-checks the C++ lambdas of outage-monitor.yaml on the host.

`esphome compile` needs toolchain downloads that are not always reachable, so
this script gives the lambdas a second line of defence after `esphome config`:
it substitutes `${...}` values, wraps every lambda in a function with the
arguments ESPHome would pass, adds small stand-ins for the ESPHome API they use
(id(), millis(), random_uint32(), ESP_LOGx, the http_request response), and
runs `g++ -fsyntax-only -Wall -Werror` on the result. It then runs the body
lambda and the reply parsing once to check their output.

Usage: check_lambdas.py [outage-monitor.yaml]   (needs PyYAML and g++)
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml


class Tagged(str):
    tag = ""


def tagged(tag):
    def construct(loader, node):
        value = Tagged(loader.construct_scalar(node))
        value.tag = tag
        return value

    return construct


class Loader(yaml.SafeLoader):
    pass


for _tag in ("!secret", "!lambda", "!include"):
    Loader.add_constructor(_tag, tagged(_tag))


def walk(node, path=""):
    """Yields (path, lambda source) for every !lambda and every `lambda:` value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "lambda" and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")
    elif isinstance(node, Tagged) and node.tag == "!lambda":
        yield path, str(node)


PRELUDE = r"""
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <string>
#define ESPHOME_VERSION "2026.6.5"
#define ESP_LOGE(tag, ...) (std::fprintf(stderr, __VA_ARGS__), std::fputc('\n', stderr))
#define ESP_LOGW ESP_LOGE
#define ESP_LOGI ESP_LOGE
#define ESP_LOGD ESP_LOGE
static uint32_t fake_millis = 0;
static uint32_t millis() { return fake_millis; }
static uint32_t random_uint32() { return 0x12345678u; }
struct Sensor { float state = NAN; };
struct Script { int runs = 0; void execute() { runs++; } };
struct HttpContainer { int status_code = -1; };
static std::string g_boot_id;
static uint64_t g_uptime_ms = 0;
static uint32_t g_last_millis = 0, g_seq = 0, g_next_beat_s = 0, g_interval_s = 30, g_failures = 0;
static Sensor g_wifi_rssi;
static Script g_schedule_retry;
#define id(x) g_##x
"""


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "outage-monitor.yaml")
    with open(path, encoding="utf-8") as f:
        config = yaml.load(f, Loader=Loader)
    with open(os.path.join(here, "secrets.yaml.example"), encoding="utf-8") as f:
        secrets = yaml.safe_load(f)
    subs = {
        k: (secrets[str(v)] if isinstance(v, Tagged) and v.tag == "!secret" else str(v))
        for k, v in config.get("substitutions", {}).items()
    }

    def substitute(text):
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: subs[m.group(1) or m.group(2)], text)

    functions = []
    names = []
    for i, (where, source) in enumerate(walk(config)):
        body = substitute(source)
        if ".on_response." in where:
            args = "std::shared_ptr<HttpContainer> response, std::string &body"
            ret = "void"
        elif where.endswith(".body"):
            args, ret = "", "std::string"
        elif "condition" in where:
            args, ret = "", "bool"
        else:
            args, ret = "", "void"
        name = f"lambda_{i}"
        names.append((name, where, ret, args))
        functions.append(f"// {where}\nstatic {ret} {name}({args}) {{\n{body}\n}}\n")
    if not functions:
        print("no lambdas found", file=sys.stderr)
        return 1

    body_fn = next(n for n, w, r, _ in names if r == "std::string")
    reply_fn = next(n for n, w, _, a in names if "response" in a)
    boot_fn = next(n for n, w, _, _ in names if w.startswith(".esphome.on_boot"))
    retry_fn = next(n for n, w, _, _ in names if w.startswith(".script"))
    main_cpp = f"""
int main() {{
  {boot_fn}();
  if (g_boot_id.size() != 32) return 10;
  g_uptime_ms = 12345678; g_seq = 7; g_wifi_rssi.state = -61.0f;
  std::printf("%s\\n", {body_fn}().c_str());
  g_wifi_rssi.state = NAN;
  std::printf("%s\\n", {body_fn}().c_str());
  auto ok = std::make_shared<HttpContainer>(); ok->status_code = 200;
  std::string reply = "{{\\"status\\":\\"up\\",\\"next_in_s\\":45}}";
  {reply_fn}(ok, reply);
  if (g_interval_s != 45 || g_next_beat_s != 12345 + 45) return 11;
  std::string tiny = "{{\\"status\\":\\"up\\",\\"next_in_s\\":1}}";
  {reply_fn}(ok, tiny);
  if (g_interval_s != 5) return 12;
  auto bad = std::make_shared<HttpContainer>(); bad->status_code = 401;
  std::string err = "{{\\"error\\":\\"unknown key\\"}}";
  {reply_fn}(bad, err);
  if (g_schedule_retry.runs != 1) return 13;
  for (int i = 0; i < 40; i++) {retry_fn}();
  if (g_next_beat_s > 12345 + 60 || g_next_beat_s < 12345 + 30) return 14;
  return 0;
}}
"""
    source = PRELUDE + "\n".join(functions) + main_cpp
    with tempfile.TemporaryDirectory() as tmp:
        cpp = os.path.join(tmp, "lambdas.cpp")
        exe = os.path.join(tmp, "lambdas")
        with open(cpp, "w", encoding="utf-8") as f:
            f.write(source)
        cmd = ["g++", "-std=gnu++20", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
               "-Wno-unused-function", "-o", exe, cpp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr[-4000:], file=sys.stderr)
            print(f"{len(functions)} lambdas: g++ failed", file=sys.stderr)
            return 1
        run = subprocess.run([exe], capture_output=True, text=True)
        lines = run.stdout.splitlines()
        if run.returncode != 0 or len(lines) != 2:
            print(run.stdout, run.stderr, f"exit {run.returncode}", file=sys.stderr)
            return 1
        with_rssi, without_rssi = (json.loads(line) for line in lines)
        assert set(with_rssi) == {"boot_id", "uptime_s", "seq", "fw", "rssi"}, with_rssi
        assert with_rssi["uptime_s"] == 12345 and with_rssi["seq"] == 7 and with_rssi["rssi"] == -61
        assert "rssi" not in without_rssi
        print(f"{len(functions)} lambdas compile and behave; body: {lines[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

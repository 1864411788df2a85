#!/usr/bin/env bash
# Device-side checks for outage-monitor (firmware/, called by .ci/run).
#
#  1. heartbeat-proto: host unit tests, clippy, rustfmt; the documented
#     example payload matches the bytes the crate produces.
#  2. Router script: sh -n, shellcheck, and its tests against a mock server.
#  3. ESP32-C3 firmware: clippy and release build for riscv32imc-unknown-none-elf
#     (with dummy WiFi/server settings), then the flashable image with espflash.
#  4. ESPHome: `esphome config` on the YAML files, ESPHome from PyPI (pinned)
#     in a cached venv.
#
# Whatever cannot run here because a download is refused (Rust target,
# espflash, ESPHome, shellcheck) prints a line starting with "SKIPPED:" and
# the run goes on; real failures make the script exit 1. The last line is
# "firmware: N passed, M failed, K skipped".
#
# Caches (repeated runs are fast): $HOME/.cache/outage-monitor/firmware-target
# (CARGO_TARGET_DIR), .../esphome-venv, espflash in ~/.cargo/bin.
# Knobs: FIRMWARE_JOBS=N (cargo -j), FIRMWARE_NO_INSTALL=1 (never install
# espflash/ESPHome/shellcheck; SKIPPED instead), FIRMWARE_TARGET_DIR,
# FIRMWARE_ESPHOME_VENV.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fw="$root/firmware"
cache="${OUTAGE_CACHE_DIR:-$HOME/.cache/outage-monitor}"
export CARGO_TARGET_DIR="${FIRMWARE_TARGET_DIR:-$cache/firmware-target}"
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$PATH:$HOME/.cargo/bin" ;; esac
esphome_version="2026.6.5"
esphome_venv="${FIRMWARE_ESPHOME_VENV:-$cache/esphome-venv}"
target="riscv32imc-unknown-none-elf"
toolchain="1.95.0"
jobs=()
[ -n "${FIRMWARE_JOBS:-}" ] && jobs=(-j "$FIRMWARE_JOBS")
no_install="${FIRMWARE_NO_INSTALL:-0}"

passed=0
failed=0
skipped=0
failures=()
mkdir -p "$cache" "$CARGO_TARGET_DIR"

now() { date +%s; }
section() { printf '\n=== firmware: %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS: %s (%ss)\n' "$1" "$2"; }
fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAIL: %s (%ss)\n' "$1" "$2"; }
skip() { skipped=$((skipped + 1)); printf 'SKIPPED: %s\n' "$*"; }

# step NAME COMMAND...: run, time, and record a check.
step() {
    local name=$1 t0 rc
    shift
    section "$name"
    t0=$(now)
    "$@"
    rc=$?
    if [ "$rc" -eq 0 ]; then pass "$name" $(($(now) - t0)); else fail "$name (exit $rc)" $(($(now) - t0)); fi
    return "$rc"
}

in_fw() { (cd "$fw" && "$@"); }
in_c3() {
    # Dummy settings: CI builds must never embed real credentials.
    (cd "$fw/esp32c3" && env WIFI_SSID=ci-dummy-ssid WIFI_PASSWORD=ci-dummy-password \
        OUTAGE_SERVER_URL=http://192.0.2.1:8080 OUTAGE_API_KEY=ci-dummy-key \
        OUTAGE_INTERVAL_S=30 "$@")
}

echo "firmware: CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

# --- 1. heartbeat-proto -----------------------------------------------------
step "heartbeat-proto host tests" in_fw cargo test -p heartbeat-proto "${jobs[@]}"
step "heartbeat-proto clippy" in_fw cargo clippy -p heartbeat-proto --all-targets "${jobs[@]}" -- -D warnings
if in_fw cargo fmt --version > /dev/null 2>&1; then
    step "firmware rustfmt" in_fw cargo fmt --all --check
else
    skip "rustfmt is not installed for toolchain $toolchain; formatting not checked"
fi

check_example_payload() {
    local bytes
    bytes=$(cd "$fw" && cargo run -q -p heartbeat-proto --example print_example_payload) || return 1
    echo "example payload: $bytes"
    # The contract page shows the same bytes to people writing their own client.
    grep -qF -- "$bytes" "$root/book/src/devices/heartbeat-contract.md" || {
        echo "book/src/devices/heartbeat-contract.md does not show the example payload above"
        return 1
    }
}
step "example payload matches the book" check_example_payload

# --- 2. router script -------------------------------------------------------
script="$fw/scripts/outage-heartbeat.sh"
step "router script: sh -n" sh -n "$script"
if ! command -v shellcheck > /dev/null 2>&1 && [ "$no_install" != 1 ] && command -v apt-get > /dev/null 2>&1; then
    section "installing shellcheck"
    { apt-get install -y -qq shellcheck > /dev/null 2>&1 \
        || { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq shellcheck > /dev/null 2>&1; }; } || true
fi
if command -v shellcheck > /dev/null 2>&1; then
    step "router script: shellcheck" shellcheck -s sh "$script"
    step "script tests: shellcheck" shellcheck "$fw/scripts/test-outage-heartbeat.sh" "$0"
    step "OpenWrt init script: shellcheck" shellcheck -s sh "$fw/scripts/openwrt/outage-heartbeat.init"
else
    skip "shellcheck is not installed and could not be installed; only sh -n checked the script"
fi
if command -v python3 > /dev/null 2>&1 && command -v curl > /dev/null 2>&1; then
    step "router script tests (sh)" "$fw/scripts/test-outage-heartbeat.sh" sh
    if command -v dash > /dev/null 2>&1 && [ "$(readlink -f "$(command -v sh)")" != "$(readlink -f "$(command -v dash)")" ]; then
        step "router script tests (dash)" "$fw/scripts/test-outage-heartbeat.sh" dash
    fi
    if command -v busybox > /dev/null 2>&1; then
        step "router script tests (busybox sh)" "$fw/scripts/test-outage-heartbeat.sh" "busybox sh"
    fi
else
    skip "router script tests need python3 and curl"
fi
if command -v systemd-analyze > /dev/null 2>&1; then
    verify_units() {
        # Point the units at files that exist here, then let systemd check them.
        local dir f rc
        dir=$(mktemp -d)
        for f in "$fw"/scripts/systemd/*.service "$fw"/scripts/systemd/*.timer; do
            sed -e "s|/usr/local/bin/outage-heartbeat.sh|$script|" \
                -e "s|/etc/outage-heartbeat.env|$fw/scripts/systemd/outage-heartbeat.env.example|" \
                "$f" > "$dir/$(basename "$f")"
        done
        systemd-analyze verify "$dir"/*.service "$dir"/*.timer
        rc=$?
        rm -rf "$dir"
        return "$rc"
    }
    step "systemd units: systemd-analyze verify" verify_units
else
    skip "systemd-analyze is not installed; systemd unit files not verified"
fi

# --- 3. ESP32-C3 firmware ---------------------------------------------------
section "rustup target add $target"
if rustup target add "$target" --toolchain "$toolchain"; then
    build_ok=1
    step "esp32c3 clippy" in_c3 cargo clippy --release "${jobs[@]}" -- -D warnings || build_ok=0
    t0=$(now)
    step "esp32c3 release build" in_c3 cargo build --release "${jobs[@]}" || build_ok=0
    echo "esp32c3 build time: $(($(now) - t0))s"
    elf="$CARGO_TARGET_DIR/$target/release/outage-heartbeat-esp32c3"
    image="$CARGO_TARGET_DIR/outage-heartbeat-esp32c3.bin"
    if [ "$build_ok" = 1 ]; then
        echo "ELF: $elf ($(stat -c %s "$elf") bytes)"
        if ! command -v espflash > /dev/null 2>&1 && [ "$no_install" != 1 ]; then
            section "installing espflash (slow the first time: 5-15 min)"
            t0=$(now)
            cargo install espflash --locked "${jobs[@]}" || true
            echo "espflash install: $(($(now) - t0))s"
        fi
        if command -v espflash > /dev/null 2>&1; then
            save_image() {
                espflash save-image --chip esp32c3 "$elf" "$image" || return 1
                local size
                size=$(stat -c %s "$image")
                echo "image: $image ($size bytes)"
                # The default app partition is ~4 MB; warn far below that.
                [ "$size" -lt 2000000 ] || { echo "image larger than 2 MB"; return 1; }
            }
            step "esp32c3 flashable image (espflash save-image)" save_image
        else
            skip "espflash is not installed and could not be installed (cargo install refused, or FIRMWARE_NO_INSTALL=1); no .bin image (build it with: espflash save-image --chip esp32c3 $elf outage-heartbeat-esp32c3.bin)"
        fi
    else
        skip "no image: the firmware did not build"
    fi
else
    skip "rustup could not add the $target target (download refused?); ESP32-C3 firmware clippy, build and image not checked"
fi

# --- 4. ESPHome -------------------------------------------------------------
esphome_bin="$esphome_venv/bin/esphome"
have_esphome() { [ -x "$esphome_bin" ] && [ "$("$esphome_bin" version 2> /dev/null)" = "Version: $esphome_version" ]; }
if ! have_esphome && [ "$no_install" != 1 ]; then
    section "installing ESPHome $esphome_version into $esphome_venv"
    t0=$(now)
    { [ -x "$esphome_venv/bin/pip" ] || python3 -m venv "$esphome_venv"; } \
        && "$esphome_venv/bin/pip" install -q --disable-pip-version-check "esphome==$esphome_version" \
        || echo "pip install of esphome==$esphome_version failed"
    echo "ESPHome install: $(($(now) - t0))s"
fi
if have_esphome; then
    validate_esphome() {
        local dir rc=0 f
        dir=$(mktemp -d)
        cp "$fw"/esphome/*.yaml "$dir/"
        cp "$fw/esphome/secrets.yaml.example" "$dir/secrets.yaml"
        for f in "$fw"/esphome/*.yaml; do
            f=$(basename "$f")
            [ "$f" = secrets.yaml ] && continue
            if (cd "$dir" && "$esphome_bin" config "$f" > "$dir/$f.out" 2>&1); then
                echo "esphome config $f: valid"
            else
                echo "esphome config $f: INVALID"
                tail -n 40 "$dir/$f.out"
                rc=1
            fi
        done
        rm -rf "$dir"
        return "$rc"
    }
    step "ESPHome $esphome_version config validation" validate_esphome
    if command -v g++ > /dev/null 2>&1; then
        step "ESPHome lambdas compile (g++) and behave" "$esphome_venv/bin/python" "$fw/esphome/check_lambdas.py"
    else
        skip "g++ is not installed; the ESPHome lambdas were not compile-checked"
    fi
else
    skip "ESPHome $esphome_version is not installed and could not be installed from PyPI (refused, or FIRMWARE_NO_INSTALL=1); ESPHome YAML not validated"
fi

# --- summary ----------------------------------------------------------------
echo
if [ "$failed" -gt 0 ]; then
    printf 'firmware failures:\n'
    printf '  - %s\n' "${failures[@]}"
fi
echo "firmware: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Nix packaging checks (flake.nix, flake.lock, nix/, nixos-module/), called by .ci/run:
# installs Debian's nix-bin when `nix-instantiate` is missing, then runs nix/eval-test.sh
# (parse every .nix file, evaluate the NixOS module, the package and the flake offline with a
# standalone copy of Nixpkgs' lib, check flake.lock against flake.nix, assert on the JSON).
# Takes a few seconds once nix-bin is there; nothing is downloaded but the Debian package, and
# nothing is built. `nix flake check` and the VM test need a machine with Nix
# and network access and do not run here (see book/src/nixos.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "installing nix-bin (nix-instantiate)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
fi

# Linters for the .nix files (a few minutes to build once; cached in ~/.cargo/bin after that).
if ! command -v deadnix >/dev/null 2>&1 || ! command -v nixfmt >/dev/null 2>&1; then
  echo "installing deadnix and nixfmt (cargo install)"
  cargo install --locked --quiet deadnix nixfmt_rs
fi
export PATH="$HOME/.cargo/bin:$PATH"

# The CI machine keeps a standalone copy of Nixpkgs' lib outside the repository.
if [ -z "${NIXPKGS_LIB:-}" ] && [ -d /work/shared/nixpkgs-lib/lib ]; then
  export NIXPKGS_LIB=/work/shared/nixpkgs-lib/lib
fi
bash nix/eval-test.sh

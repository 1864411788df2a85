# The `outage-monitor` binary, built from this repository with Nixpkgs' Rust tooling.
#
# Used by the flake (`packages.<system>.default`) and, when the NixOS module is imported
# without the flake, as the module's default package (nixos-module/default.nix calls
# `pkgs.callPackage ../nix/package.nix { }`).
{
  lib,
  rustPlatform,
}:

let
  root = ../.;
  workspace = (lib.importTOML ../Cargo.toml).workspace.package;

  # Only what `cargo build` needs. `firmware/` is a workspace of its own (with its own
  # Cargo.lock) and is left out, as are the book, the CI scripts and the Nix files (this
  # directory, nixos-module/, flake.nix, flake.lock), so editing them does not rebuild the binary.
  keep = [
    "Cargo.toml"
    "Cargo.lock"
    "LICENSE"
  ];
  keepDirs = [
    "crates"
    "examples" # workspace members: cargo needs their manifests
    "migrations" # embedded by sqlx::migrate!
  ];
  relative = path: lib.removePrefix (toString root + "/") (toString path);
  wanted =
    path: type:
    let
      rel = relative path;
      topDir = lib.head (lib.splitString "/" rel);
    in
    if type == "directory" then
      lib.elem topDir keepDirs && baseNameOf path != "target"
    else
      lib.elem rel keep || (lib.elem topDir keepDirs && rel != topDir);
in
rustPlatform.buildRustPackage {
  pname = "outage-monitor";
  inherit (workspace) version;

  src = lib.cleanSourceWith {
    name = "outage-monitor-source";
    src = lib.cleanSource root;
    filter = wanted;
  };

  cargoLock.lockFile = ../Cargo.lock;

  # The root workspace also holds examples and test helpers; only the binary is installed.
  cargoBuildFlags = [
    "--package"
    "outage-monitor"
  ];

  # The test suites run in the project's CI (`.ci/run`): some of them read files of the
  # repository (book, CI scripts) that are not part of `src`, and timing-based end-to-end tests
  # do not belong in a sandboxed build. The NixOS VM test in the flake's `checks` exercises the
  # built binary.
  doCheck = false;

  postInstall = ''
    install -Dm444 LICENSE $out/share/licenses/outage-monitor/LICENSE
    # The embedded DejaVu Sans font's licence must ship with the binary.
    install -Dm444 crates/outage-render-plotters/FONT-LICENSE \
      $out/share/licenses/outage-monitor/FONT-LICENSE
  '';

  meta = {
    description = "Self-hosted power-outage monitor: device heartbeats in, Telegram alerts and weekly diagrams out";
    homepage = workspace.repository;
    license = lib.licenses.mit;
    mainProgram = "outage-monitor";
    platforms = lib.platforms.linux;
  };
}

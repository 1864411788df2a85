# outage-monitor as a Nix flake (DESIGN §7). The Nix code lives in nix/:
#   nix/package.nix    the binary (rustPlatform.buildRustPackage over the root Cargo workspace)
#   nix/module.nix     the NixOS module, services.outage-monitor
#   nix/vm-test.nix    the NixOS VM test in `checks`
#   nix/eval-test.nix  offline evaluation of all of the above (run by nix/eval-test.sh in CI)
#
# There is no flake.lock in the repository yet: the project's machines cannot reach GitHub.
# The first `nix flake lock` (or `nix build`, `nix run`, `nix flake check`) on a machine with
# network access creates it; commit it then, so every later build uses the same Nixpkgs.
{
  description = "outage-monitor: a self-hosted power-outage monitor (heartbeats in, Telegram alerts and weekly diagrams out)";

  # The workspace needs Rust 1.95 or newer (rust-version in Cargo.toml); nixos-unstable has it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      packageFor = pkgs: self.packages.${pkgs.stdenv.hostPlatform.system}.default;
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
      });

      # `nix run` starts the monitor (`outage-monitor serve`, SQLite in ./outage-monitor.db);
      # `nix run . -- location add --name Home` runs any other command.
      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe (
            pkgs.writeShellScriptBin "outage-monitor-run" ''
              if [ "$#" -eq 0 ]; then set -- serve; fi
              exec ${lib.getExe (packageFor pkgs)} "$@"
            ''
          );
          meta.description = "Run outage-monitor (`serve` when no command is given)";
        };
      });

      overlays.default = final: _prev: {
        outage-monitor = final.callPackage ./nix/package.nix { };
      };

      # services.outage-monitor, running this flake's package unless `package` is set.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.outage-monitor.package = lib.mkDefault (packageFor pkgs);
        };

      checks = forAllSystems (pkgs: {
        package = packageFor pkgs;
        vm = pkgs.testers.runNixOSTest (
          import ./nix/vm-test.nix { nixosModule = self.nixosModules.default; }
        );
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}

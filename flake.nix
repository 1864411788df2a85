# outage-monitor as a Nix flake (book/src/nixos.md). This file only wires the outputs together:
#   nix/package.nix            the binary (buildRustPackage over the root Cargo workspace)
#   nixos-module/default.nix   the NixOS module, services.outage-monitor (nixosModules.default)
#   nixos-module/vm-test.nix   the NixOS VM test in `checks`
#   nix/eval-test.nix          offline evaluation of all of the above and of flake.lock
#                              (run by nix/eval-test.sh in CI)
#
# flake.lock pins nixpkgs (nixos-unstable); `nix flake update` moves it forward, then commit
# flake.lock (book/src/nixos.md says which revision is locked and where it came from).
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
          imports = [ ./nixos-module/default.nix ];
          services.outage-monitor.package = lib.mkDefault (packageFor pkgs);
        };

      checks = forAllSystems (pkgs: {
        package = packageFor pkgs;
        vm = pkgs.testers.runNixOSTest (
          import ./nixos-module/vm-test.nix { nixosModule = self.nixosModules.default; }
        );
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}

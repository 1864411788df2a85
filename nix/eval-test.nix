# Offline evaluation of the NixOS module, the package expression and the flake, without
# Nixpkgs: only its `lib` (a standalone copy; nix/eval-test.sh says where it is looked for).
#
#   nix-instantiate --store dummy:// --eval --strict --json nix/eval-test.nix \
#     --argstr libPath /abs/path/to/nixpkgs-lib/lib
#
# `lib.evalModules` runs over the NixOS module (nixos-module/default.nix) plus small stubs of
# the NixOS options it writes (systemd.services, networking.firewall, services.postgresql,
# environment, assertions, warnings), so every option is type-checked and the generated unit
# is returned as JSON.
# `pkgs` is a stub too: `formats.toml` renders with a small TOML writer below, `callPackage`
# really evaluates nix/package.nix (with `buildRustPackage` returning its arguments), and
# builders return fake derivations. `flake` also returns flake.nix's inputs, which eval-test.sh
# compares with flake.lock. eval-test.sh asserts on the result.
{ libPath }:

let
  lib = import (/. + libPath);
  inherit (lib) mkOption types;

  root = ../.;

  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${builtins.storeDir}/${
        builtins.substring 0 32 (builtins.hashString "sha256" name)
      }-${name}";
      meta = { };
    }
    // extra;

  # A minimal TOML writer (tables, dotted sub-tables, scalars, arrays of scalars and inline
  # tables), enough to check the rendered file with Python's tomllib. Nixpkgs' real
  # `formats.toml` uses a proper converter.
  tomlKey = k: if builtins.match "[A-Za-z0-9_-]+" k != null then k else builtins.toJSON k;
  tomlValue =
    v:
    if builtins.isAttrs v then
      "{ ${lib.concatStringsSep ", " (lib.mapAttrsToList (k: x: "${tomlKey k} = ${tomlValue x}") v)} }"
    else if builtins.isList v then
      "[ ${lib.concatMapStringsSep ", " tomlValue v} ]"
    else if builtins.isBool v then
      lib.boolToString v
    else if builtins.isInt v || builtins.isFloat v then
      builtins.toJSON v
    else
      builtins.toJSON (toString v);
  tomlTable =
    path: attrs:
    let
      scalars = lib.filterAttrs (_: v: !builtins.isAttrs v) attrs;
      tables = lib.filterAttrs (_: builtins.isAttrs) attrs;
      header =
        lib.optionalString (path != [ ] && (scalars != { } || tables == { }))
          "[${lib.concatMapStringsSep "." tomlKey path}]\n";
      body = lib.concatStrings (lib.mapAttrsToList (k: v: "${tomlKey k} = ${tomlValue v}\n") scalars);
    in
    header
    + body
    + lib.concatStrings (lib.mapAttrsToList (k: v: "\n" + tomlTable (path ++ [ k ]) v) tables);
  toTOML = tomlTable [ ];

  pkgs = {
    formats.toml =
      { }:
      {
        type =
          let
            valueType =
              types.oneOf [
                types.bool
                types.int
                types.float
                types.str
                types.path
                (types.attrsOf valueType)
                (types.listOf valueType)
              ]
              // {
                description = "TOML value";
              };
          in
          valueType;
        generate = name: value: builtins.toFile name (toTOML value);
      };

    callPackage =
      fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) scope // overrides);

    writeShellScriptBin =
      name: text:
      fakeDrv name {
        inherit text;
        meta.mainProgram = name;
      };

    curl = fakeDrv "curl" { };
    jq = fakeDrv "jq" { };
    nixfmt = fakeDrv "nixfmt" { };
    stdenv.hostPlatform.system = "x86_64-linux";

    # The flake's VM check: return the test so the nodes and the script can be inspected.
    testers.runNixOSTest = test: fakeDrv "vm-test-run-${test.name}" { inherit test; };
  };

  scope = pkgs // {
    inherit lib;
    rustPlatform.buildRustPackage =
      args:
      fakeDrv "${args.pname}-${args.version}" {
        inherit (args) pname version meta;
        buildArgs = args;
      };
  };

  # What NixOS's systemd units accept as a value (nixos/lib/systemd-unit-options.nix):
  # lists are concatenated across definitions, anything else must be defined equally.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check =
      v:
      let
        prim = x: builtins.isBool x || builtins.isInt x || builtins.isString x || builtins.isPath x;
      in
      prim v || (builtins.isList v && builtins.all prim v);
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: builtins.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  listOfUnits = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  service = {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      documentation = listOfUnits;
      wantedBy = listOfUnits;
      requiredBy = listOfUnits;
      wants = listOfUnits;
      requires = listOfUnits;
      after = listOfUnits;
      before = listOfUnits;
      bindsTo = listOfUnits;
      partOf = listOfUnits;
      environment = mkOption {
        type = types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.str
              types.path
              types.package
            ]
          )
        );
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
    };
  };

  # The NixOS options the module writes or reads, with NixOS's types.
  nixosStubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      services.postgresql = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        ensureDatabases = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        ensureUsers = mkOption {
          type = types.listOf (
            types.submodule {
              options = {
                name = mkOption { type = types.str; };
                ensureDBOwnership = mkOption {
                  type = types.bool;
                  default = false;
                };
                ensureClauses = mkOption {
                  type = types.attrsOf types.bool;
                  default = { };
                };
              };
            }
          );
          default = [ ];
        };
      };
      systemd.package = mkOption {
        type = types.package;
        default = fakeDrv "systemd-258" { };
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.submodule service);
        default = { };
      };
    };
  };

  evalConfig =
    modules:
    lib.evalModules {
      modules = [
        nixosStubs
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    };

  # Everything the module produced, as plain data.
  summary =
    modules:
    let
      ev = evalConfig modules;
      c = ev.config;
      cfg = c.services.outage-monitor;
      svc = c.systemd.services.outage-monitor or null;
      ctl = lib.findFirst (p: p.name == "outage-monitor-ctl") null c.environment.systemPackages;
      toml = toTOML cfg.settings;
    in
    {
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
      inherit (c) warnings;
      firewallTCPPorts = c.networking.firewall.allowedTCPPorts;
      postgresql = c.services.postgresql;
      service =
        if svc == null then
          null
        else
          {
            inherit (svc)
              description
              wantedBy
              wants
              after
              requires
              environment
              serviceConfig
              ;
          };
      systemPackages = map (p: p.name) c.environment.systemPackages;
      ctlScript = if ctl == null then null else ctl.text;
      settings = cfg.settings;
      inherit toml;
      # The path the module's config file must have: the same renderer, the same name.
      expectedConfigFile = builtins.toFile "outage-monitor.toml" toml;
      package = cfg.package.name;
    };

  module = ../nixos-module/default.nix;
  enable = {
    services.outage-monitor.enable = true;
  };

  configurations = {
    disabled = summary [ module ];

    defaults = summary [
      module
      enable
    ];

    telegram = summary [
      module
      enable
      {
        services.outage-monitor = {
          telegramTokenFile = "/run/secrets/outage-monitor-telegram-token";
          environmentFile = "/run/secrets/outage-monitor.env";
          openFirewall = true;
          settings = {
            server.listen = "0.0.0.0:8080";
            server.public_url = "https://power.example.org";
            monitor.language = "uk";
            monitor.restore_confirm = "2 beats";
            notifiers.telegram.chat_id = -1001234567890;
            diagram.enabled = false;
          };
        };
      }
    ];

    postgres = summary [
      module
      enable
      { services.outage-monitor.database.createLocally = true; }
    ];

    lowPort = summary [
      module
      enable
      {
        services.outage-monitor = {
          openFirewall = true;
          settings.server.listen = "[::]:80";
        };
      }
    ];
  };

  # Secrets put into `settings` are refused; opening the firewall for a loopback listener warns.
  misconfigured =
    let
      s = summary [
        module
        enable
        {
          services.outage-monitor = {
            openFirewall = true;
            settings.notifiers.telegram.bot_token = "123456789:AAE-not-a-real-token";
            settings.store.url = "postgres://outage:hunter2@db.example.org/outage";
          };
        }
      ];
    in
    {
      inherit (s) failedAssertions warnings;
    };

  # Every option is documented.
  optionDocs =
    let
      ev = evalConfig [ module ];
      docs = lib.optionAttrSetToDocList ev.options.services.outage-monitor;
    in
    map (o: {
      inherit (o) name;
      description = o.description or null;
      hasExample = o ? example;
    }) (lib.filter (o: o.visible && !o.internal) docs);

  # nix/package.nix, evaluated through `callPackage` with `buildRustPackage` stubbed.
  packageExpr =
    let
      drv = pkgs.callPackage ../nix/package.nix { };
      a = drv.buildArgs;
      keeps = path: type: a.src.filter (toString root + "/" + path) type;
    in
    {
      inherit (drv) name;
      inherit (a) pname version cargoBuildFlags;
      mainProgram = a.meta.mainProgram;
      lockFile = toString a.cargoLock.lockFile == toString root + "/Cargo.lock";
      srcStorePath = "${a.src}";
      srcKeeps = {
        "Cargo.toml" = keeps "Cargo.toml" "regular";
        "Cargo.lock" = keeps "Cargo.lock" "regular";
        "LICENSE" = keeps "LICENSE" "regular";
        "crates" = keeps "crates" "directory";
        "crates/outage-monitor/Cargo.toml" = keeps "crates/outage-monitor/Cargo.toml" "regular";
        "crates/outage-render-plotters/FONT-LICENSE" =
          keeps "crates/outage-render-plotters/FONT-LICENSE" "regular";
        "migrations" = keeps "migrations" "directory";
        "migrations/sqlite/0001_initial.sql" = keeps "migrations/sqlite/0001_initial.sql" "regular";
        "examples" = keeps "examples" "directory";
        "firmware" = keeps "firmware" "directory";
        "book" = keeps "book" "directory";
        "target" = keeps "target" "directory";
        "nix" = keeps "nix" "directory";
        "nixos-module" = keeps "nixos-module" "directory";
        "flake.nix" = keeps "flake.nix" "regular";
        "flake.lock" = keeps "flake.lock" "regular";
        "README.md" = keeps "README.md" "regular";
      };
    };

  # flake.nix's outputs with a stub `nixpkgs` input; the VM test's machines are evaluated with
  # the same stubs (plus the few options they set) and its Python script is returned.
  flake =
    let
      f = import ../flake.nix;
      nixpkgs = {
        inherit lib;
        legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs);
      };
      self = f.outputs {
        inherit self nixpkgs;
      };
      system = "x86_64-linux";
      test = self.checks.${system}.vm.test;
      node = name: evalConfig [ test.nodes.${name} ];
    in
    {
      inherit (f) description;
      nixpkgsUrl = f.inputs.nixpkgs.url;
      # Every input's URL and the arguments of `outputs`, compared with flake.lock.
      inputs = lib.mapAttrs (_: i: i.url or null) f.inputs;
      outputsArgs = builtins.attrNames (builtins.functionArgs f.outputs);
      systems = builtins.attrNames self.packages;
      package = self.packages.${system}.default.name;
      app = {
        inherit (self.apps.${system}.default) type;
        inherit (self.apps.${system}.default) program;
        description = self.apps.${system}.default.meta.description;
      };
      moduleUsesFlakePackage =
        (evalConfig [
          self.nixosModules.default
          enable
        ]).config.services.outage-monitor.package.name == self.packages.${system}.default.name;
      checks = builtins.attrNames self.checks.${system};
      vmTest = {
        inherit (test) name testScript;
        nodes = lib.mapAttrs (
          name: _:
          let
            c = (node name).config;
          in
          {
            enable = c.services.outage-monitor.enable;
            storeUrl = c.services.outage-monitor.settings.store.url;
            postgresql = c.services.postgresql.enable;
            systemPackages = map (p: p.name) c.environment.systemPackages;
            failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
            unit = c.systemd.services.outage-monitor.serviceConfig.ExecStart;
          }
        ) test.nodes;
      };
      formatter = self.formatter.${system}.name;
    };
in
configurations
// {
  inherit
    misconfigured
    optionDocs
    packageExpr
    flake
    ;
}

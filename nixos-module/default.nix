# NixOS module: `services.outage-monitor` (book/src/nixos.md).
#
# The settings become a TOML file in the Nix store, so it never holds a secret: the Telegram
# token comes in through systemd's `LoadCredential=` and the config names it by a relative
# path that the monitor resolves under `$CREDENTIALS_DIRECTORY`; anything else secret goes in
# `environmentFile` as `OUTAGE_<SECTION>__<KEY>=…` lines.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    optional
    optionalAttrs
    types
    ;

  cfg = config.services.outage-monitor;
  settingsFormat = pkgs.formats.toml { };

  name = "outage-monitor";
  stateDir = "/var/lib/${name}";
  credentialName = "telegram-token";
  postgresUrl = "postgres:///${name}?host=/run/postgresql&user=${name}";

  configFile = settingsFormat.generate "${name}.toml" cfg.settings;
  exe = lib.getExe cfg.package;

  listen = cfg.settings.server.listen;
  port = lib.toInt (lib.last (lib.splitString ":" listen));
  # Binding a port below 1024 needs CAP_NET_BIND_SERVICE (and no private user namespace).
  lowPort = port < 1024;
  loopbackOnly =
    lib.hasPrefix "127." listen || lib.hasPrefix "[::1]:" listen || lib.hasPrefix "localhost:" listen;

  telegram = cfg.settings.notifiers.telegram or { };

  # Also used by the `outage-monitor-ctl` wrapper, so CLI commands see what the service sees.
  credentials = optional (cfg.telegramTokenFile != null) "${credentialName}:${cfg.telegramTokenFile}";

  ctlArgs = [
    "--quiet"
    "--collect"
    "--pipe"
    "--wait"
    "--service-type=exec"
    "--property=DynamicUser=yes"
    "--property=User=${name}"
    "--property=Group=${name}"
    "--property=StateDirectory=${name}"
    "--property=WorkingDirectory=${stateDir}"
    "--property=UMask=0077"
  ]
  ++ map (c: "--property=LoadCredential=${c}") credentials
  ++ optional (cfg.environmentFile != null) "--property=EnvironmentFile=${cfg.environmentFile}"
  ++ [ "--setenv=OUTAGE_CONFIG=${configFile}" ];

  # `sudo outage-monitor-ctl location add --name Home`: runs `outage-monitor <args>` as the
  # service's (dynamic) user with its config, credentials, environment file and state
  # directory, so CLI commands work on the service's database.
  ctl = pkgs.writeShellScriptBin "${name}-ctl" ''
    if [ "$(id -u)" != 0 ]; then
      echo "${name}-ctl: run it as root (sudo); it runs ${name} as the service's user" >&2
      exit 1
    fi
    exec ${config.systemd.package}/bin/systemd-run ${lib.escapeShellArgs ctlArgs} -- ${exe} "$@"
  '';
in
{
  options.services.outage-monitor = {
    enable = mkEnableOption "the outage-monitor power-outage monitor";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { };
      defaultText = lib.literalMD "the flake's `packages.<system>.default` (without the flake: `pkgs.callPackage ./nix/package.nix { }`)";
      description = "The outage-monitor package to run.";
    };

    settings = mkOption {
      description = ''
        Configuration written to `outage-monitor.toml` (see the book's Configuration page for
        every section and key). The file is in the world-readable Nix store: never put a
        secret here. Use {option}`services.outage-monitor.telegramTokenFile` for the bot
        token and {option}`services.outage-monitor.environmentFile` for anything else
        (e.g. `OUTAGE_STORE__URL=postgres://user:password@host/db`).
      '';
      default = { };
      example = literalExpression ''
        {
          server.listen = "0.0.0.0:8080";
          server.public_url = "https://power.example.org";
          monitor.timezone = "Europe/Kyiv";
          monitor.language = "uk";
          notifiers.telegram.chat_id = -1001234567890;
        }
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;

        options.server.listen = mkOption {
          type = types.str;
          default = "127.0.0.1:8080";
          example = "0.0.0.0:8080";
          description = ''
            Address and port the HTTP server (heartbeats, health checks, read API) listens on.
            {option}`services.outage-monitor.openFirewall` opens this port.
          '';
        };

        options.store.url = mkOption {
          type = types.str;
          default = "sqlite://${stateDir}/${name}.db";
          example = "postgres://outage@db.example.org/outage";
          description = ''
            The database. The default SQLite file lives in the service's state directory.
            With {option}`services.outage-monitor.database.createLocally` this is set to the
            local PostgreSQL database over its Unix socket. A URL holding a password does not
            belong here: set `OUTAGE_STORE__URL` in
            {option}`services.outage-monitor.environmentFile` instead.
          '';
        };
      };
    };

    telegramTokenFile = mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      example = "/run/secrets/outage-monitor-telegram-token";
      description = ''
        File holding the Telegram bot token from @BotFather (only the token, a trailing newline
        is fine). It is handed to the service with systemd's `LoadCredential=`, so it can be
        readable by root only, and the config refers to it as
        `notifiers.telegram.bot_token_file = "${credentialName}"`. Set the chat in
        `settings.notifiers.telegram.chat_id`.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      example = "/run/secrets/outage-monitor.env";
      description = ''
        File of `NAME=value` lines added to the service's environment (systemd's
        `EnvironmentFile=`), for secrets and overrides outside the Nix store:
        `OUTAGE_<SECTION>__<KEY>` variables override the settings, e.g.
        `OUTAGE_STORE__URL=postgres://outage:password@db.example.org/outage`.
      '';
    };

    database.createLocally = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Store the data in a local PostgreSQL server: enables
        {option}`services.postgresql`, creates a database and a role both named
        `${name}` (the role logs in by peer authentication as the service's user) and sets
        `settings.store.url` to `${postgresUrl}`.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Open the TCP port of `settings.server.listen` in the firewall (devices send heartbeats
        to it). Usually you also set `settings.server.listen = "0.0.0.0:8080"`.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !(telegram ? bot_token);
        message = ''
          services.outage-monitor.settings.notifiers.telegram.bot_token would put the bot token
          into the world-readable Nix store; use services.outage-monitor.telegramTokenFile.
        '';
      }
      {
        assertion = builtins.match ".*://[^/@]*:[^/@]*@.*" cfg.settings.store.url == null;
        message = ''
          services.outage-monitor.settings.store.url holds a password, which would end up in
          the world-readable Nix store; set OUTAGE_STORE__URL in
          services.outage-monitor.environmentFile instead.
        '';
      }
      {
        assertion = builtins.match ".*:[0-9]+" listen != null;
        message = ''
          services.outage-monitor.settings.server.listen must be an address and a port, like
          "127.0.0.1:8080" or "[::]:8080" (got "${listen}").
        '';
      }
    ];

    warnings = optional (cfg.openFirewall && loopbackOnly) ''
      services.outage-monitor.openFirewall is set, but settings.server.listen (${listen}) only
      accepts local connections; set it to e.g. "0.0.0.0:${toString port}".
    '';

    services.outage-monitor.settings = lib.mkMerge [
      (mkIf (cfg.telegramTokenFile != null) {
        notifiers.telegram.bot_token_file = credentialName;
      })
      (mkIf cfg.database.createLocally {
        store.url = postgresUrl;
      })
    ];

    services.postgresql = mkIf cfg.database.createLocally {
      enable = true;
      ensureDatabases = [ name ];
      ensureUsers = [
        {
          inherit name;
          ensureDBOwnership = true;
        }
      ];
    };

    networking.firewall.allowedTCPPorts = optional cfg.openFirewall port;

    environment.systemPackages = [ ctl ];

    systemd.services.${name} = {
      description = "outage-monitor power-outage monitor";
      documentation = [ "https://github.com/outage-monitor/outage-monitor" ];
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network.target"
        "network-online.target"
      ]
      ++ optional cfg.database.createLocally "postgresql.target";
      requires = optional cfg.database.createLocally "postgresql.target";

      serviceConfig = {
        Type = "exec";
        ExecStartPre = "${exe} --config ${configFile} migrate";
        ExecStart = "${exe} --config ${configFile} serve";
        Restart = "on-failure";
        RestartSec = "5s";

        DynamicUser = true;
        User = name;
        Group = name;
        StateDirectory = name;
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        UMask = "0077";

        # Hardening (`systemd-analyze security outage-monitor` scores it).
        NoNewPrivileges = true;
        CapabilityBoundingSet = if lowPort then [ "CAP_NET_BIND_SERVICE" ] else "";
        PrivateUsers = !lowPort; # a private user namespace cannot bind ports below 1024
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateMounts = true;
        DevicePolicy = "closed";
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
      }
      // optionalAttrs (credentials != [ ]) { LoadCredential = credentials; }
      // optionalAttrs lowPort { AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ]; }
      // optionalAttrs (cfg.environmentFile != null) { EnvironmentFile = cfg.environmentFile; };
    };
  };
}

# NixOS VM test, run by `nix flake check` (or `nix build .#checks.x86_64-linux.vm -L`) on a
# machine with Nix, KVM and network access; `nix/eval-test.sh` only evaluates it.
#
# Two machines with the module enabled: `sqlite` (the defaults) and `postgres`
# (`database.createLocally`). On each: the unit starts (after `outage-monitor migrate`),
# /healthz and /readyz answer, `outage-monitor-ctl location add` registers a location as the
# service's user, a heartbeat with its key is accepted, and the location shows as up.
{ nixosModule }:

{
  name = "outage-monitor";

  nodes = {
    sqlite =
      { pkgs, ... }:
      {
        imports = [ nixosModule ];
        services.outage-monitor.enable = true;
        environment.systemPackages = [
          pkgs.curl
          pkgs.jq
        ];
      };

    postgres =
      { pkgs, ... }:
      {
        imports = [ nixosModule ];
        services.outage-monitor = {
          enable = true;
          database.createLocally = true;
          settings.monitor.default_timeout = "1m";
        };
        environment.systemPackages = [
          pkgs.curl
          pkgs.jq
        ];
      };
  };

  testScript = ''
    import json

    start_all()


    def check(machine):
        machine.wait_for_unit("outage-monitor.service")
        machine.wait_for_open_port(8080, addr="127.0.0.1")
        machine.succeed("curl --fail --silent --show-error http://127.0.0.1:8080/healthz")
        machine.wait_until_succeeds(
            "curl --fail --silent --show-error http://127.0.0.1:8080/readyz", timeout=60
        )

        # The unit runs as a dynamic user, hardened.
        for prop, value in [
            ("DynamicUser", "yes"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
        ]:
            got = machine.succeed(
                f"systemctl show --property={prop} --value outage-monitor.service"
            ).strip()
            assert got == value, f"{prop}={got}, expected {value}"
        machine.log(machine.succeed("systemd-analyze security outage-monitor.service | tail -n 1"))

        added = json.loads(
            machine.succeed("outage-monitor-ctl location add --name Home --json")
        )
        key = added["api_key"]

        # A running `serve` picks up locations added by the CLI within a few seconds.
        reply = json.loads(
            machine.wait_until_succeeds(
                "curl --fail --silent --show-error -X POST"
                f" -H 'Authorization: Bearer {key}'"
                " -H 'Content-Type: application/json' -d '{\"uptime_s\": 5}'"
                " http://127.0.0.1:8080/api/v1/heartbeat",
                timeout=60,
            )
        )
        assert reply["status"] == "up", reply

        machine.wait_until_succeeds(
            "outage-monitor-ctl location list --json"
            " | jq -e 'any(.[]; .name == \"Home\" and .status == \"up\")'",
            timeout=30,
        )

        # An unknown key is refused.
        machine.fail(
            "curl --fail --silent -X POST -H 'Authorization: Bearer nope'"
            " http://127.0.0.1:8080/api/v1/heartbeat"
        )


    with subtest("SQLite in the state directory"):
        check(sqlite)
        sqlite.succeed("test -s /var/lib/outage-monitor/outage-monitor.db")

    with subtest("SQLite data survive a restart"):
        sqlite.systemctl("restart outage-monitor.service")
        sqlite.wait_for_unit("outage-monitor.service")
        sqlite.wait_for_open_port(8080, addr="127.0.0.1")
        sqlite.succeed(
            "outage-monitor-ctl location list --json | jq -e 'any(.[]; .name == \"Home\")'"
        )

    with subtest("local PostgreSQL over the Unix socket"):
        check(postgres)
        postgres.succeed(
            "runuser -u postgres -- psql -d outage-monitor -tAc 'SELECT name FROM locations'"
            " | grep -qx Home"
        )
  '';
}

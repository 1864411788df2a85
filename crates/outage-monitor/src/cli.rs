//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A self-hosted power outage monitor: devices send heartbeats, you get Telegram alerts when
/// the power goes out and comes back, and weekly availability diagrams.
#[derive(Debug, Parser)]
#[command(name = "outage-monitor", version, about, long_about = None)]
#[command(
    after_help = "Start here:\n  outage-monitor serve                       run the monitor (SQLite in ./outage-monitor.db)\n  outage-monitor location add --name Home    register a location and get its device key\n  outage-monitor demo                        watch a simulated power cut and network drop\n  outage-monitor config example > om.toml    every setting, commented (Telegram, diagrams...)\n  outage-monitor --config om.toml check-config --online   check it, and that Telegram answers"
)]
pub struct Cli {
    /// Config file (TOML). Environment variables OUTAGE_<SECTION>__<KEY> override it.
    #[arg(long, global = true, env = "OUTAGE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Environment file read before the real environment (which wins over it). Without it,
    /// `./.env` is read when present.
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitor: HTTP heartbeat endpoint, detection, notifications.
    ///
    /// Without a config file it stores everything in ./outage-monitor.db (SQLite, created if
    /// missing), listens on 127.0.0.1:8080 and prints alerts on the console. See
    /// `outage-monitor config example` for every setting. SIGTERM or Ctrl-C stops it cleanly.
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Check the configuration (and with --online, that notifiers can be reached).
    CheckConfig {
        /// Also contact external services (e.g. Telegram getMe).
        #[arg(long)]
        online: bool,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Compiled-in plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Manage monitored locations.
    #[command(subcommand)]
    Location(LocationCommand),
    /// Past and current outages.
    #[command(subcommand)]
    Outage(OutageCommand),
    /// Weekly availability diagrams.
    #[command(subcommand)]
    Diagram(DiagramCommand),
    /// Tokens for the read API (GET /api/v1/locations/...).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users of the admin panel (/admin/): add, change the password, remove, list.
    ///
    /// Passwords are never given on the command line: `add` and `passwd` ask for them on the
    /// terminal (twice, not echoed) or, when standard input is not a terminal, read the first
    /// line of standard input, e.g. `outage-monitor user add anna < password.txt`.
    #[command(subcommand)]
    User(UserCommand),
    /// Availability per day, week or month: minutes without power, outages, longest outage.
    Report {
        /// First local date (YYYY-MM-DD, in monitor.timezone).
        #[arg(long, value_parser = parse_date)]
        from: chrono::NaiveDate,
        /// Last local date, inclusive.
        #[arg(long, value_parser = parse_date)]
        to: chrono::NaiveDate,
        /// Only this location (id or name); default: all.
        #[arg(long)]
        location: Option<String>,
        /// Period length.
        #[arg(long, value_enum, default_value = "day")]
        by: ReportBy,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: ReportFormat,
    },
    /// Write a consistent copy of the database (SQLite) to a file.
    Backup {
        /// Destination file (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Put a backup (from `backup --out`) back in place of the SQLite database. Stop `serve`
    /// first; the database it replaces is kept next to it as `<db>.before-restore-<time>`.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Ask a running `serve` whether it is ready (GET /readyz): exit 0 when it is, 1 with the
    /// reason when not. For container health checks, where there is no shell or curl:
    /// `HEALTHCHECK CMD ["/outage-monitor", "healthcheck"]`.
    ///
    /// Checks the address of server.listen from the configuration (0.0.0.0 and [::] mean the
    /// loopback), or --url.
    Healthcheck {
        /// Base URL of the monitor to check, e.g. http://127.0.0.1:8080 (default: from
        /// server.listen).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Give up after this long.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// A one-minute demonstration with three simulated devices on a temporary database.
    Demo {
        /// Heartbeat timeout used in the demo.
        #[arg(long, default_value = "4s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

/// `diagram …`
#[derive(Debug, Subcommand)]
pub enum DiagramCommand {
    /// Draw one location's week as PNG or SVG (chosen by the file extension).
    Render {
        /// Id or name.
        #[arg(long)]
        location: String,
        /// ISO week, e.g. 2026-W48; default: the current week.
        #[arg(long)]
        week: Option<String>,
        /// Output file ending in .png or .svg.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a read-API token; prints it (shown only this once).
    Create {
        /// Unique name saying who uses it, e.g. "grafana" or "home-assistant".
        #[arg(long)]
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (names and dates; the tokens themselves are not stored).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: requests with it are refused from then on.
    Revoke {
        /// Id or name.
        token: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Where `user add` and `user passwd` get the password, for their help texts.
const PASSWORD_SOURCE: &str = "\
Password: asked twice on the terminal, without echo. When standard input is not a terminal,
its first line is the password (the line break is dropped), e.g.
  outage-monitor user add anna --role admin < password.txt
  printf '%s\\n' \"$PW\" | outage-monitor user passwd anna
At least 8 characters. There is no --password option: passwords stay out of the shell history
and the process list.";

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an admin-panel user (the password is asked for, see below).
    #[command(after_help = PASSWORD_SOURCE)]
    Add {
        /// Login name: 1 to 64 characters, no spaces.
        name: String,
        /// What the user may do: `admin` changes everything and manages users, `viewer` only
        /// looks (and never sees API keys).
        #[arg(long, value_enum, default_value = "viewer")]
        role: RoleArg,
    },
    /// Set a new password for a user; it ends the user's logged-in panel sessions.
    #[command(after_help = PASSWORD_SOURCE)]
    Passwd {
        /// Login name.
        name: String,
    },
    /// Remove a user; it ends the user's logged-in panel sessions.
    Remove {
        /// Login name.
        name: String,
    },
    /// List users: name, role and when each was added (never the password hashes).
    List {
        /// Print `[{"id", "name", "role", "created_at"}]`.
        #[arg(long)]
        json: bool,
    },
}

/// A panel user's role on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Sees and changes everything, manages users.
    Admin,
    /// Sees everything but API keys; changes nothing.
    Viewer,
}

impl From<RoleArg> for outage_core::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => outage_core::Role::Admin,
            RoleArg::Viewer => outage_core::Role::Viewer,
        }
    }
}

/// Report period length.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportBy {
    /// Local days.
    Day,
    /// ISO weeks.
    Week,
    /// Calendar months.
    Month,
}

/// Report format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array.
    Json,
}

/// `config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration with every section.
    Example,
}

/// `plugins …`
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List plugins with their kind and description.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `location …`
#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    /// Register a location; prints its API key (shown only this once).
    Add {
        /// Name shown in alerts, e.g. "Home" or "Мама".
        #[arg(long)]
        name: String,
        /// No heartbeat for this long = outage (e.g. 30s, 2m). Default: monitor.default_timeout.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Telegram chat for this location (overrides the notifier's chat); group ids are
        /// negative, e.g. -1001234567890.
        #[arg(long, value_name = "ID", allow_negative_numbers = true)]
        chat_id: Option<String>,
        #[command(flatten)]
        notify: NotifyArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List locations with their status.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one location.
    Show {
        /// Id or name.
        location: String,
        /// Print ready-to-use device settings instead.
        #[arg(long, value_enum, value_name = "KIND")]
        device_config: Option<DeviceKind>,
        /// With --device-config: make a new API key now and fill it in (the old key stops
        /// working). Without it the key appears as <API_KEY>, since only its hash is stored.
        #[arg(long, requires = "device_config")]
        new_key: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Register many locations from a CSV file, keeping the API keys they already have
    /// (e.g. exported from the classic Django monitor, so flashed devices need no change).
    ///
    /// The first row names the columns: `name` and `api_key` are required; `timeout` (30s, 2m
    /// or plain seconds; default monitor.default_timeout) and `chat_id` are optional; other
    /// columns are ignored. The whole file is checked before anything is written: one bad row
    /// and nothing is imported. A row whose name already exists is skipped with a note.
    Import {
        /// The CSV file (UTF-8, comma-separated, quoted fields allowed); `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Check the file and say what would be imported, without writing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Change a location.
    Edit(EditArgs),
    /// Delete a location and its history.
    Remove {
        /// Id or name.
        location: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Replace a location's API key (the old one stops working; a running monitor notices
    /// within 5 s).
    RotateKey {
        /// Id or name.
        location: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Pause alerts for a location (maintenance) until a time.
    Pause {
        /// Id or name.
        location: String,
        /// RFC 3339 time (2026-12-01T18:00:00Z) or a duration from now (2h, 1day).
        #[arg(long, value_name = "WHEN")]
        until: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send a test message for a location through every configured notifier, to its own chat
    /// if it has one, right now (no running monitor needed). Fails if any notifier fails.
    TestAlert {
        /// Id or name.
        location: String,
        /// Print `[{"notifier", "chat", "ok", "message_id", "error"}]`.
        #[arg(long)]
        json: bool,
    },
    /// End a pause now.
    Resume {
        /// Id or name.
        location: String,
        /// Print `{"id", "name", "was_paused"}`.
        #[arg(long)]
        json: bool,
    },
}

/// Device kinds for `location show --device-config`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeviceKind {
    /// ESP32-C3 Rust firmware build settings.
    Esp32,
    /// ESPHome YAML substitutions.
    Esphome,
    /// POSIX shell loop for routers.
    Sh,
    /// A single curl command.
    Curl,
}

/// `--notify`: where a location's alerts go.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Send the alerts to a notifier instance (`[notifiers.<instance>]`), optionally to one
    /// chat of it: `--notify family --notify me:123456789` (repeat for several targets).
    /// `--notify` alone (or `--notify=`): every configured notifier, the default.
    #[arg(
        long,
        value_name = "INSTANCE[:CHAT]",
        num_args = 0..=1,
        default_missing_value = "",
        action = clap::ArgAction::Append
    )]
    pub notify: Vec<String>,
}

/// `location edit` arguments.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Id or name.
    pub location: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New timeout (e.g. 45s).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// New chat override.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "no_chat_id",
        allow_negative_numbers = true
    )]
    pub chat_id: Option<String>,
    /// Remove the chat override.
    #[arg(long)]
    pub no_chat_id: bool,
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// Enable the location.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the location (heartbeats refused, no alerts).
    #[arg(long)]
    pub disable: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `outage …`
#[derive(Debug, Subcommand)]
pub enum OutageCommand {
    /// List outages, newest first.
    List {
        /// Only this location (id or name).
        #[arg(long)]
        location: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Parses humantime durations ("30s", "2m", "1h 30m").
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 30s, 2m or 1h30m ({e})"))
}

/// A local date `YYYY-MM-DD`, with an error that says so (chrono alone says "trailing input").
fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date; write it as YYYY-MM-DD, e.g. 2026-11-01"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_are_humantime() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").unwrap_err().contains("30s"));
    }
}

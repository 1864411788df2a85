//! The monitor's configuration: defaults < TOML file < `OUTAGE_…` environment variables
//! (`__` separates nesting levels, e.g. `OUTAGE_STORE__URL`).
//!
//! Every section rejects unknown keys, naming the key and the valid ones. Plugin sections
//! (`[notifiers.<name>]`) are kept as raw values here and validated by the plugin's factory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::render::Language;
use crate::secret::Secret;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` / `OUTAGE_CONFIG` does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// Parsing or type errors, with the key and source named.
    #[error("{0}")]
    Invalid(String),
    /// A value has the right type but is not allowed.
    #[error("invalid value for `{key}`: {reason}")]
    Value {
        /// Dotted key, e.g. `diagram.post`.
        key: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The `.env` file (or `--env-file`) could not be read or parsed.
    #[error("cannot read the environment file {path}")]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: dotenvy::Error,
    },
    /// A secret file could not be read.
    #[error("cannot read secret file {path} (for `{key}`)")]
    SecretFile {
        /// Dotted key of the `*_file` setting.
        key: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: HTTP listener.
    pub server: ServerConfig,
    /// `[store]`: database.
    pub store: StoreConfig,
    /// `[monitor]`: detection and presentation.
    pub monitor: MonitorConfig,
    /// `[notifiers.<name>]`: one table per enabled notifier.
    pub notifiers: BTreeMap<String, serde_json::Value>,
    /// `[diagram]`: weekly diagram schedule.
    pub diagram: DiagramConfig,
    /// `[renderer.<name>]`: settings of a diagram renderer plugin (optional).
    pub renderer: BTreeMap<String, serde_json::Value>,
    /// `[admin]`: web admin panel.
    pub admin: AdminConfig,
    /// `[retention]`: how long raw data is kept.
    pub retention: RetentionConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Public base URL (for links and device settings), e.g. `https://power.example.org`.
    pub public_url: Option<String>,
    /// Time allowed for reading a request and writing its answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// The base URL devices should use: `public_url`, or derived from `listen`.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// `[store]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path` (default `sqlite://outage-monitor.db`) or `postgres://…`.
    pub url: Secret,
    /// Read the URL (it may hold a password) from this file instead.
    pub url_file: Option<PathBuf>,
    /// Maximum pooled connections.
    pub pool: u32,
    /// How long to wait for a connection or a locked database.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://outage-monitor.db"),
            url_file: None,
            pool: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(self.url.expose()))
            .field("url_file", &self.url_file)
            .field("pool", &self.pool)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

/// A URL with any password replaced by `***` (for logs).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// When a restore counts as confirmed (against flapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreConfirm {
    /// After this many heartbeats in a row.
    Beats(u32),
    /// After heartbeats kept arriving for this long.
    For(Duration),
}

impl Serialize for RestoreConfirm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RestoreConfirm::Beats(n) => s.serialize_str(&format!("{n} beats")),
            RestoreConfirm::For(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for RestoreConfirm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RestoreConfirm::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl RestoreConfirm {
    /// Parses `"2 beats"` or a duration like `"20s"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(n) = t
            .strip_suffix("beats")
            .or_else(|| t.strip_suffix("beat"))
            .map(str::trim)
        {
            return n
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(RestoreConfirm::Beats)
                .ok_or_else(|| format!("`{s}`: expected a count of at least 1, like \"2 beats\""));
        }
        humantime::parse_duration(t)
            .map(RestoreConfirm::For)
            .map_err(|e| format!("`{s}`: expected \"N beats\" or a duration like \"20s\" ({e})"))
    }
}

/// `[monitor]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Timeout of new locations.
    #[serde(with = "humantime_serde")]
    pub default_timeout: Duration,
    /// After start-up no location is declared down before this has passed (default: each
    /// location's own timeout).
    #[serde(with = "humantime_serde")]
    pub startup_grace: Option<Duration>,
    /// Time zone of alerts and diagrams (IANA name).
    pub timezone: chrono_tz::Tz,
    /// Language of alerts and diagrams: `en` or `uk`.
    pub language: Language,
    /// Wait before declaring a restore, e.g. `"2 beats"` or `"20s"`; gaps shorter than it are
    /// merged into one outage.
    pub restore_confirm: Option<RestoreConfirm>,
    /// How often the running duration of an outage message is refreshed (0 disables).
    #[serde(with = "humantime_serde")]
    pub live_update_every: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            default_timeout: crate::domain::DEFAULT_TIMEOUT,
            startup_grace: None,
            timezone: chrono_tz::Europe::Kyiv,
            language: Language::En,
            restore_confirm: None,
            live_update_every: Duration::from_secs(300),
        }
    }
}

/// `[diagram]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagramConfig {
    /// Post and refresh weekly diagrams at all.
    pub enabled: bool,
    /// When to post a new diagram message (cron with seconds, in `monitor.timezone`).
    pub post: String,
    /// When to refresh the posted message (cron with seconds).
    pub update: String,
    /// Add the previous day's summary to each caption ("Yesterday: 3 h 20 min without power
    /// in 2 outages" / "Yesterday: always on").
    pub yesterday: bool,
}

impl Default for DiagramConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            post: "0 0 8 * * *".into(),
            update: "0 0 * * * *".into(),
            yesterday: true,
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin panel under `/admin`.
    pub enabled: bool,
    /// How long a login lasts.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (set when served over HTTPS). They are `Secure` anyway when
    /// `server.public_url` starts with `https://`.
    pub secure_cookies: bool,
    /// A file whose first line is the password of a first user `admin` (role admin), made at
    /// start only while there is no user at all. Without it (and without `outage-monitor user
    /// add`) the panel only shows how to make the first user: there is no default password.
    pub initial_password_file: Option<std::path::PathBuf>,
    /// Serve the panel on its own address (e.g. `127.0.0.1:8081`, reachable only from the
    /// machine or a VPN) instead of under `/admin/` on `server.listen`.
    pub listen: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl: Duration::from_secs(7 * 86_400),
            secure_cookies: false,
            initial_password_file: None,
            listen: None,
        }
    }
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Keep raw heartbeats this long (intervals and outages are kept forever).
    #[serde(with = "humantime_serde")]
    pub heartbeats: Duration,
    /// Keep delivered notifications this long.
    #[serde(with = "humantime_serde")]
    pub outbox: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            heartbeats: Duration::from_secs(30 * 86_400),
            outbox: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Environment variables with the `OUTAGE_` prefix that are not config keys.
const NON_CONFIG_ENV: &[&str] = &["config"];

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then the environment: `./.env`
    /// when present, with real environment variables winning over it (see
    /// [`Environment::read`]).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, &Environment::read(None)?)
    }

    /// Loads defaults, then `file` (if given; it must exist), then `env`.
    pub fn load_from(file: Option<&Path>, env: &Environment) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::NotFound(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        Self::finish(fig.merge(env.provider()))
    }

    /// Loads from a TOML string alone (for tests and `check-config`).
    pub fn from_toml_str(toml: &str) -> Result<Self, ConfigError> {
        let fig = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml));
        Self::finish(fig)
    }

    fn finish(fig: Figment) -> Result<Self, ConfigError> {
        let mut cfg: Config = fig.extract().map_err(|e| {
            ConfigError::Invalid(e.into_iter().map(describe).collect::<Vec<_>>().join("; "))
        })?;
        if let Some(path) = cfg.store.url_file.take() {
            cfg.store.url = read_secret_file("store.url_file", &path)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values whose type alone does not make them valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Value {
            key: key.into(),
            reason,
        };
        if self.monitor.default_timeout < Duration::from_secs(1) {
            return Err(bad(
                "monitor.default_timeout",
                "must be at least 1s (e.g. \"30s\")".into(),
            ));
        }
        if self.store.pool == 0 {
            return Err(bad("store.pool", "must be at least 1".into()));
        }
        let url = self.store.url.expose();
        if !url.contains(':') {
            return Err(bad(
                "store.url",
                format!(
                    "`{}` has no scheme; use sqlite://path or postgres://host/db",
                    redact_url(url)
                ),
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "server.listen",
                format!(
                    "`{}` is not an address:port like 127.0.0.1:8080 or [::]:8080",
                    self.server.listen
                ),
            ));
        }
        if let Some(l) = &self.admin.listen {
            if l.parse::<std::net::SocketAddr>().is_err() {
                return Err(bad(
                    "admin.listen",
                    format!("`{l}` is not an address:port like 127.0.0.1:8081 or [::]:8081"),
                ));
            }
            if *l == self.server.listen {
                return Err(bad(
                    "admin.listen",
                    format!(
                        "`{l}` is server.listen too; leave admin.listen out to serve the panel \
                         under /admin/ there, or give another port"
                    ),
                ));
            }
        }
        if let Some(u) = &self.server.public_url {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"));
            if rest.is_none_or(|r| {
                r.is_empty() || r.starts_with('/') || r.contains(char::is_whitespace)
            }) {
                return Err(bad(
                    "server.public_url",
                    format!(
                        "`{u}` is not an http(s) URL; write how devices reach this monitor, e.g. \
                         \"https://power.example.org\""
                    ),
                ));
            }
        }
        for (key, expr) in [
            ("diagram.post", &self.diagram.post),
            ("diagram.update", &self.diagram.update),
        ] {
            validate_cron(expr).map_err(|reason| bad(key, reason))?;
        }
        Ok(())
    }

    /// Store options from `[store]`.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            url: self.store.url.expose().to_string(),
            pool: self.store.pool,
            busy_timeout: self.store.busy_timeout,
        }
    }
}

/// One figment error as a person would like to read it: the dotted key as written in the file,
/// where it came from and, for an unknown key, the valid ones.
/// The variables the configuration reads besides the file: `OUTAGE_<SECTION>__<KEY>` (and
/// `DATABASE_URL`), from a `.env` file and the real environment, the real environment winning.
///
/// - `./.env` is read when it exists (or the file given to [`Environment::read`], which must
///   exist); its lines are `NAME=value` (`#` comments, optional quotes, `export` allowed).
/// - `DATABASE_URL` sets `store.url` when `OUTAGE_STORE__URL` is not set (the convention of
///   hosting platforms).
/// - `OUTAGE_*` names without `__` are not config keys: they are ignored and listed in
///   [`Environment::ignored`] (Kubernetes, for one, injects `OUTAGE_PORT=tcp://…` for a service
///   named `outage`). `OUTAGE_CONFIG` names the file and `OUTAGE_TEST_*` belong to the tests.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `(dotted key, raw value, variable name)` in the order they apply.
    vars: Vec<(String, String, String)>,
    ignored: Vec<String>,
    dotenv: Option<PathBuf>,
}

impl std::fmt::Debug for Environment {
    // Values may be secrets (a bot token, a database password): only names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field(
                "vars",
                &self.vars.iter().map(|(_, _, n)| n).collect::<Vec<_>>(),
            )
            .field("ignored", &self.ignored)
            .field("dotenv", &self.dotenv)
            .finish()
    }
}

impl Environment {
    /// Reads `env_file` (which must exist) or else `./.env` when present, then the process
    /// environment.
    pub fn read(env_file: Option<&Path>) -> Result<Self, ConfigError> {
        let dotenv = match env_file {
            Some(p) if !p.exists() => return Err(ConfigError::NotFound(p.to_path_buf())),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(".env")).filter(|p| p.is_file()),
        };
        let mut from_file = Vec::new();
        if let Some(path) = &dotenv {
            let bad = |source| ConfigError::EnvFile {
                path: path.clone(),
                source,
            };
            for item in dotenvy::from_path_iter(path).map_err(bad)? {
                from_file.push(item.map_err(bad)?);
            }
        }
        let mut env = Self::from_pairs(from_file.into_iter().chain(std::env::vars()));
        env.dotenv = dotenv;
        Ok(env)
    }

    /// Builds from `(name, value)` pairs in increasing priority (a later pair with the same
    /// name wins). For tests and embedders that do not want the process environment.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in pairs {
            merged.insert(k, v);
        }
        let mut env = Environment::default();
        let has_store_url = merged.contains_key("OUTAGE_STORE__URL");
        for (name, value) in &merged {
            if name == "DATABASE_URL" {
                if !has_store_url {
                    env.vars
                        .push(("store.url".into(), value.clone(), name.clone()));
                }
                continue;
            }
            let Some(rest) = name.strip_prefix("OUTAGE_") else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            if NON_CONFIG_ENV.contains(&lower.as_str()) || lower.starts_with("test_") {
                continue;
            }
            if !lower.contains("__") {
                env.ignored.push(name.clone());
                continue;
            }
            let key = lower.split("__").collect::<Vec<_>>().join(".");
            env.vars.push((key, value.clone(), name.clone()));
        }
        env
    }

    /// `OUTAGE_*` variables that were ignored because they name no config key.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// The `.env` file that was read, if any.
    pub fn dotenv_file(&self) -> Option<&Path> {
        self.dotenv.as_deref()
    }

    fn provider(&self) -> EnvProvider {
        let mut dict = figment::value::Dict::new();
        for (key, value, _) in &self.vars {
            let v: figment::value::Value = match value.parse() {
                Ok(v) => v,
                Err(never) => match never {},
            };
            if let Some(nested) = figment::util::nest(key, v).into_dict() {
                merge_dict(&mut dict, nested);
            }
        }
        EnvProvider(dict)
    }
}

/// Merges `from` into `into`, `from` winning, tables merged key by key.
fn merge_dict(into: &mut figment::value::Dict, from: figment::value::Dict) {
    use figment::value::Value;
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, new)) => merge_dict(existing, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// The environment as one figment provider, named so that errors point at the variable.
struct EnvProvider(figment::value::Dict);

impl figment::Provider for EnvProvider {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

fn describe(e: figment::Error) -> String {
    use figment::error::Kind;
    let key = e.path.join(".").to_lowercase();
    let source = match &e.metadata {
        Some(m) => match &m.source {
            Some(figment::Source::File(p)) => format!(" in {}", p.display()),
            _ if m.name.contains("environment") => {
                format!(
                    " (from the environment: OUTAGE_{})",
                    e.path.join("__").to_uppercase()
                )
            }
            _ => format!(" ({})", m.name),
        },
        None => String::new(),
    };
    match &e.kind {
        Kind::UnknownField(field, valid) => {
            let key = if key.is_empty() { field.clone() } else { key };
            let valid = valid.join(", ");
            match key.rsplit_once('.') {
                Some((section, _)) => {
                    format!("unknown key `{key}`{source}; valid keys in [{section}]: {valid}")
                }
                None => {
                    format!("unknown key `{key}`{source}; valid keys at the top level: {valid}")
                }
            }
        }
        _ if !key.is_empty() => format!("`{key}`{source}: {}", one_line(&e.kind.to_string())),
        _ => format!("{}{source}", one_line(&e.kind.to_string())),
    }
}

/// A parser's multi-line message (with a source snippet and a caret) as one line:
/// "TOML parse error at line 1, column 8: invalid table header; expected `.`, `]`".
fn one_line(msg: &str) -> String {
    let mut parts = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        // Snippet lines: "|", "1 | [server", "|        ^".
        .filter(|l| {
            !l.starts_with('|')
                && l.split_once(" |")
                    .is_none_or(|(n, _)| n.trim().parse::<u32>().is_err())
        });
    let Some(first) = parts.next() else {
        return String::new();
    };
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}: {}", rest.join("; "))
    }
}

/// Cron expressions have 6 or 7 fields (seconds first); a 5-field one is a common mistake.
fn validate_cron(expr: &str) -> Result<(), String> {
    let n = expr.split_whitespace().count();
    if !(6..=7).contains(&n) {
        return Err(format!(
            "`{expr}` has {n} fields; use 6 (sec min hour day month weekday), e.g. \"0 0 8 * * *\""
        ));
    }
    <cron::Schedule as std::str::FromStr>::from_str(expr)
        .map(|_| ())
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

/// Reads a secret from a file, trimming the trailing newline. A relative path is looked up in
/// systemd's `$CREDENTIALS_DIRECTORY` first when that is set.
pub fn read_secret_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let resolved = match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if path.is_relative() && Path::new(&dir).join(path).exists() => {
            Path::new(&dir).join(path)
        }
        _ => path.to_path_buf(),
    };
    let text = std::fs::read_to_string(&resolved).map_err(|e| ConfigError::SecretFile {
        key: key.into(),
        path: resolved.clone(),
        source: e,
    })?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// Resolves a secret given either directly or as a `*_file` twin; both at once is an error.
pub fn secret_or_file(
    key: &str,
    value: Option<Secret>,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::Value {
            key: key.into(),
            reason: format!("set either `{key}` or `{key}_file`, not both"),
        }),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => read_secret_file(&format!("{key}_file"), path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The commented example printed by `outage-monitor config example` (without plugin sections,
/// which the binary appends from the registry).
pub const EXAMPLE_TOML: &str = r#"# outage-monitor configuration. Every key is optional; shown values are the defaults.
# Environment variables override the file: OUTAGE_<SECTION>__<KEY>, e.g. OUTAGE_STORE__URL.

[server]
listen = "127.0.0.1:8080"          # where devices and the admin panel connect
# public_url = "https://power.example.org"   # how devices reach you (for device settings)
request_timeout = "10s"

[store]
url = "sqlite://outage-monitor.db"  # or postgres://user@host/db ; url_file = "/run/secrets/db-url"
pool = 8
busy_timeout = "5s"

[monitor]
default_timeout = "30s"            # no heartbeat for this long = outage
# startup_grace = "30s"            # default: each location's timeout
timezone = "Europe/Kyiv"
language = "en"                    # "en" or "uk"
# restore_confirm = "2 beats"      # or "20s": against flapping power
live_update_every = "5m"           # refresh the running duration of an outage message

[diagram]
enabled = true
post = "0 0 8 * * *"               # cron with seconds, in monitor.timezone
update = "0 0 * * * *"
yesterday = true                   # a line about the previous day in each caption

[admin]
enabled = true
session_ttl = "7days"
secure_cookies = false
# First admin (user `admin`) when there is no user yet; the file's first line is the password.
# initial_password_file = "/run/credentials/outage-monitor/admin-password"
# Own address for the panel instead of /admin/ on server.listen (e.g. only on a VPN address).
# listen = "127.0.0.1:8081"

[retention]
heartbeats = "30days"
outbox = "30days"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.store.url.expose(), "sqlite://outage-monitor.db");
        assert_eq!(c.monitor.default_timeout, Duration::from_secs(30));
        assert_eq!(c.monitor.timezone, chrono_tz::Europe::Kyiv);
        c.validate().unwrap();
    }

    #[test]
    fn the_example_parses_to_the_defaults() {
        let c = Config::from_toml_str(EXAMPLE_TOML).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_keys_are_named_with_the_valid_ones() {
        let err = Config::from_toml_str("[monitor]\ndefault_timeot = \"30s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default_timeot"), "{err}");
        assert!(err.contains("default_timeout"), "{err}");
        let err = Config::from_toml_str("[sever]\nlisten = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sever") && err.contains("server"), "{err}");
        assert!(
            err.starts_with("unknown key `sever` (TOML source string); valid keys at the top level: server, store,"),
            "{err}"
        );
        let err = Config::from_toml_str("[monitor]\ntimezon = \"UTC\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "unknown key `monitor.timezon` (TOML source string); valid keys in [monitor]: "
            ),
            "{err}"
        );
        assert!(!err.contains("``") && !err.contains("default."), "{err}");
        let err = Config::from_toml_str("[server\nlisten = 1\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(
            err.contains("line 1") && err.contains("invalid table header"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let err = Config::from_toml_str("[monitor]\ndefault_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default_timeout"), "{err}");
        let err = Config::from_toml_str("[monitor]\ntimezone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("timezone"), "{err}");
        let err = Config::from_toml_str("[diagram]\npost = \"0 8 * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("diagram.post") && err.contains("6"), "{err}");
        let err = Config::from_toml_str("[diagram]\nupdate = \"0 0 25 * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("diagram.update") && err.contains("cron"),
            "{err}"
        );
        let err = Config::from_toml_str("[server]\npublic_url = \"not a url\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.public_url"), "{err}");
        assert!(Config::from_toml_str("[server]\npublic_url = \"http://10.0.0.2:8080\"\n").is_ok());
        let err = Config::from_toml_str("[server]\nlisten = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
        let err = Config::from_toml_str("[admin]\nlisten = \"8081\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin.listen"), "{err}");
        let err = Config::from_toml_str("[admin]\nlisten = \"127.0.0.1:8080\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.listen") && err.contains("server.listen"),
            "{err}"
        );
        assert!(Config::from_toml_str("[admin]\nlisten = \"127.0.0.1:8081\"\n").is_ok());
        let err = Config::from_toml_str("[monitor]\nrestore_confirm = \"0 beats\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("restore_confirm"), "{err}");
    }

    #[test]
    fn restore_confirm_parses_beats_and_durations() {
        assert_eq!(
            RestoreConfirm::parse("2 beats"),
            Ok(RestoreConfirm::Beats(2))
        );
        assert_eq!(
            RestoreConfirm::parse("20s"),
            Ok(RestoreConfirm::For(Duration::from_secs(20)))
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn environment_overrides_file_with_double_underscore_nesting() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "[store]\nurl = \"sqlite://a.db\"\n")?;
            jail.set_env("OUTAGE_STORE__URL", "sqlite://b.db");
            jail.set_env("OUTAGE_MONITOR__LANGUAGE", "uk");
            jail.set_env("OUTAGE_CONFIG", "m.toml");
            let c = Config::load(Some(Path::new("m.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.store.url.expose(), "sqlite://b.db");
            assert_eq!(c.monitor.language, Language::Uk);
            Ok(())
        });
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn outage_variables_without_double_underscore_are_ignored_and_named() {
        // What Kubernetes injects for a service named `outage`.
        let e = env(&[
            ("OUTAGE_PORT", "tcp://10.0.0.1:8080"),
            ("OUTAGE_SERVICE_HOST", "10.0.0.1"),
            ("OUTAGE_MONITOR__LANGUAGE", "uk"),
            ("OUTAGE_CONFIG", "x.toml"),
            ("OUTAGE_TEST_POSTGRES_URL", "postgres://x"),
        ]);
        assert_eq!(e.ignored(), ["OUTAGE_PORT", "OUTAGE_SERVICE_HOST"]);
        let c = Config::load_from(None, &e).unwrap();
        assert_eq!(c.monitor.language, Language::Uk);
    }

    #[test]
    fn database_url_is_the_store_unless_outage_store_url_is_set() {
        let c = Config::load_from(None, &env(&[("DATABASE_URL", "postgres://db/om")])).unwrap();
        assert_eq!(c.store.url.expose(), "postgres://db/om");
        let c = Config::load_from(
            None,
            &env(&[
                ("DATABASE_URL", "postgres://db/om"),
                ("OUTAGE_STORE__URL", "sqlite://here.db"),
            ]),
        )
        .unwrap();
        assert_eq!(c.store.url.expose(), "sqlite://here.db");
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let err = Config::load_from(None, &env(&[("OUTAGE_SERVER__LISTN", "0.0.0.0:80")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listn"), "{err}");
        assert!(err.contains("OUTAGE_SERVER__LISTN"), "{err}");
        assert!(
            !format!(
                "{:?}",
                env(&[("OUTAGE_STORE__URL", "postgres://u:hunter2@db/x")])
            )
            .contains("hunter2")
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn dot_env_in_the_working_directory_is_read_and_the_real_environment_wins() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                ".env",
                "# from the compose example\nOUTAGE_STORE__URL=sqlite://from-dotenv.db\nexport OUTAGE_MONITOR__LANGUAGE=\"uk\"\nOUTAGE_PORT=tcp://x\n",
            )?;
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.store.url.expose(), "sqlite://from-dotenv.db");
            assert_eq!(c.monitor.language, Language::Uk);
            jail.set_env("OUTAGE_MONITOR__LANGUAGE", "en");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                c.monitor.language,
                Language::En,
                "the real environment wins"
            );
            let e = Environment::read(None).map_err(|e| e.to_string())?;
            assert_eq!(e.dotenv_file(), Some(Path::new(".env")));
            assert_eq!(e.ignored(), ["OUTAGE_PORT"]);
            jail.create_file("broken.env", "OUTAGE_STORE__URL='unterminated\n")?;
            let err = Environment::read(Some(Path::new("broken.env")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("broken.env"), "{err}");
            let err = Environment::read(Some(Path::new("missing.env")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.env"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Config::load(Some(Path::new("/nonexistent/outage.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/outage.toml"));
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = std::env::temp_dir().join(format!("om-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("url");
        std::fs::write(&f, "postgres://u:hunter2@db/x\n").unwrap();
        let c = Config::from_toml_str(&format!("[store]\nurl_file = {:?}\n", f)).unwrap();
        assert_eq!(c.store.url.expose(), "postgres://u:hunter2@db/x");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(
            secret_or_file("bot_token", Some(Secret::new("a")), Some(&f))
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

//! The plugin registry: every plugin crate submits a const [`PluginDescriptor`] with
//! `inventory::submit!`, and the binary finds them here by kind and name.
//!
//! A plugin crate the binary never references is dropped by the linker, so the binary keeps one
//! `plugins.rs` with `use plugin_crate as _;` per plugin and a test that they all registered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::Config;
use crate::notify::Notifier;
use crate::render::DiagramRenderer;
use crate::source::HeartbeatSource;
use crate::store::{StatusStore, StoreError, StoreOptions};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a plugin provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    /// A [`HeartbeatSource`].
    Source,
    /// A [`StatusStore`], chosen by URL scheme.
    Store,
    /// A [`Notifier`], enabled by a `[notifiers.<name>]` table.
    Notifier,
    /// A [`DiagramRenderer`].
    Renderer,
    /// A web panel mounted by `serve` (the admin panel). Its routes are built by the binary,
    /// which alone may name plugin crates; the factory only checks its configuration.
    Panel,
}

impl PluginKind {
    /// Lowercase name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Source => "source",
            PluginKind::Store => "store",
            PluginKind::Notifier => "notifier",
            PluginKind::Renderer => "renderer",
            PluginKind::Panel => "panel",
        }
    }
}

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin's config section is invalid.
    #[error("invalid [{section}] config: {reason}")]
    Config {
        /// The section, e.g. `notifiers.telegram`.
        section: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The plugin's config section could not be read; the cause is the error's source.
    #[error("invalid [{section}] config")]
    ConfigSource {
        /// The section, e.g. `notifiers.telegram`.
        section: String,
        /// Why it could not be read (a deserialisation error, an unreadable secret file).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No plugin of that kind has that name.
    #[error("unknown {kind} plugin `{name}`; available: {available}")]
    Unknown {
        /// Kind looked up.
        kind: &'static str,
        /// Name asked for.
        name: String,
        /// Comma-separated names that exist.
        available: String,
    },
    /// The store failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What a plugin factory is given.
#[derive(Debug, Clone, Copy)]
pub struct PluginContext<'a> {
    /// The whole monitor config (time zone, language, server address...).
    pub config: &'a Config,
    /// The plugin's own table (`[notifiers.<name>]`), or `Null` when it has none.
    pub table: &'a serde_json::Value,
}

/// Opens a store from its options.
pub type StoreFactory =
    fn(StoreOptions) -> BoxFuture<'static, Result<Arc<dyn StatusStore>, StoreError>>;

/// Builds a plugin.
#[derive(Clone, Copy)]
pub enum Factory {
    /// Opens a store from its options.
    Store(StoreFactory),
    /// Builds a notifier from its table.
    Notifier(fn(&PluginContext<'_>) -> Result<Arc<dyn Notifier>, PluginError>),
    /// Builds a renderer.
    Renderer(fn(&PluginContext<'_>) -> Result<Arc<dyn DiagramRenderer>, PluginError>),
    /// Builds a heartbeat source.
    Source(fn(&PluginContext<'_>) -> Result<Box<dyn HeartbeatSource>, PluginError>),
    /// Checks a web panel's configuration (the panel's routes need an HTTP framework, which
    /// this crate never depends on, so the binary builds them).
    Panel(fn(&PluginContext<'_>) -> Result<(), PluginError>),
}

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Factory(..)")
    }
}

/// Static description of a plugin, submitted with `inventory::submit!`.
#[derive(Debug)]
pub struct PluginDescriptor {
    /// What it provides.
    pub kind: PluginKind,
    /// Its name: the URL scheme for stores, the table name for notifiers.
    pub name: &'static str,
    /// One line saying what it does.
    pub description: &'static str,
    /// An example config snippet (TOML); tested to parse and build.
    pub example_config: &'static str,
    /// How to build it.
    pub factory: Factory,
}

inventory::collect!(PluginDescriptor);

/// Every registered plugin, sorted by kind then name.
pub fn all() -> Vec<&'static PluginDescriptor> {
    let mut v: Vec<_> = inventory::iter::<PluginDescriptor>.into_iter().collect();
    v.sort_by_key(|d| (d.kind, d.name));
    v
}

/// The plugin of `kind` named `name`, or an error listing the available ones.
pub fn find(kind: PluginKind, name: &str) -> Result<&'static PluginDescriptor, PluginError> {
    let of_kind: Vec<_> = all().into_iter().filter(|d| d.kind == kind).collect();
    of_kind
        .iter()
        .find(|d| d.name == name)
        .copied()
        .ok_or_else(|| PluginError::Unknown {
            kind: kind.as_str(),
            name: name.to_string(),
            available: if of_kind.is_empty() {
                "(none compiled in)".into()
            } else {
                of_kind
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

/// Opens the store named by the URL scheme of `opts.url`.
pub async fn open_store(opts: StoreOptions) -> Result<Arc<dyn StatusStore>, PluginError> {
    let scheme = opts
        .url
        .split_once(':')
        .map(|(s, _)| s)
        .unwrap_or_default()
        .to_string();
    let scheme = match scheme.as_str() {
        "postgresql" => "postgres".to_string(),
        _ => scheme,
    };
    let d = find(PluginKind::Store, &scheme)?;
    match d.factory {
        Factory::Store(f) => Ok(f(opts).await?),
        _ => Err(PluginError::Other(format!(
            "plugin {} is not a store",
            d.name
        ))),
    }
}

/// Builds every notifier configured under `[notifiers.*]`.
pub fn build_notifiers(config: &Config) -> Result<Vec<Arc<dyn Notifier>>, PluginError> {
    let mut out = Vec::new();
    for (name, table) in &config.notifiers {
        let d = find(PluginKind::Notifier, name)?;
        let ctx = PluginContext { config, table };
        match d.factory {
            Factory::Notifier(f) => out.push(f(&ctx)?),
            _ => {
                return Err(PluginError::Other(format!(
                    "plugin {name} is not a notifier"
                )));
            }
        }
    }
    Ok(out)
}

/// The renderer used when the config names none (no `[renderer.<name>]` table).
pub const DEFAULT_RENDERER: &str = "plotters";

/// Builds the diagram renderer the config names: the one `[renderer.<name>]` table, or
/// [`DEFAULT_RENDERER`] (with no settings) when there is none. A table naming a renderer that
/// does not exist is an error listing the available ones.
pub fn build_renderer(config: &Config) -> Result<Arc<dyn DiagramRenderer>, PluginError> {
    for name in config.renderer.keys() {
        find(PluginKind::Renderer, name)?;
    }
    let mut tables = config.renderer.iter();
    let (name, table) = match (tables.next(), tables.next()) {
        (Some((name, table)), None) => (name.as_str(), table.clone()),
        (None, _) => (DEFAULT_RENDERER, serde_json::Value::Null),
        (Some(_), Some(_)) => {
            return Err(PluginError::Other(format!(
                "only one [renderer.<name>] table may be given; found {}",
                config
                    .renderer
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let d = find(PluginKind::Renderer, name)?;
    match d.factory {
        Factory::Renderer(f) => f(&PluginContext {
            config,
            table: &table,
        }),
        _ => Err(PluginError::Other(format!(
            "plugin {} is not a renderer",
            d.name
        ))),
    }
}

fn console_factory(ctx: &PluginContext<'_>) -> Result<Arc<dyn Notifier>, PluginError> {
    /// The console notifier has no settings; an empty table enables it.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ConsoleConfig {}
    if !ctx.table.is_null() {
        let _: ConsoleConfig =
            serde_json::from_value(ctx.table.clone()).map_err(|e| PluginError::ConfigSource {
                section: "notifiers.console".into(),
                source: Box::new(e),
            })?;
    }
    Ok(Arc::new(crate::notify::ConsoleNotifier::new(
        ctx.config.monitor.timezone,
    )))
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Notifier,
        name: "console",
        description: "Prints alerts as readable lines on standard output (built in).",
        example_config: "[notifiers.console]\n",
        factory: Factory::Notifier(console_factory),
    }
}

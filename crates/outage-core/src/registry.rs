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
    /// A [`Notifier`], enabled by a `[notifiers.<instance>]` table (`kind = "<name>"`, or the
    /// instance is named after the kind).
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

impl PluginError {
    /// [`PluginError::Config`] for section `section` (e.g. `notifiers.family`): what is wrong
    /// and what would be right.
    pub fn config(section: &str, reason: impl Into<String>) -> Self {
        PluginError::Config {
            section: section.into(),
            reason: reason.into(),
        }
    }
}

/// What a plugin factory is given.
#[derive(Debug, Clone, Copy)]
pub struct PluginContext<'a> {
    /// The whole monitor config (time zone, language, server address...).
    pub config: &'a Config,
    /// The plugin's own table (`[notifiers.<instance>]`), or `Null` when it has none. For a
    /// notifier, `kind` is already taken out.
    pub table: &'a serde_json::Value,
    /// The instance's name: the `<instance>` of `[notifiers.<instance>]`, which a notifier
    /// returns from [`Notifier::name`] (its outbox queue); for other plugins their own name.
    pub instance: &'a str,
}

impl PluginContext<'_> {
    /// The config section, e.g. `notifiers.family`, for error messages.
    pub fn section(&self, group: &str) -> String {
        format!("{group}.{}", self.instance)
    }
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

/// Builds every notifier instance configured under `[notifiers.<instance>]`. The table's
/// `kind` names the plugin; without one the instance name is the kind (`[notifiers.telegram]`),
/// so several instances of one kind can live side by side (`[notifiers.family]` with
/// `kind = "telegram"`).
pub fn build_notifiers(config: &Config) -> Result<Vec<Arc<dyn Notifier>>, PluginError> {
    let mut out = Vec::new();
    for (instance, table) in &config.notifiers {
        let (d, table) = notifier_kind(instance, table)?;
        let ctx = PluginContext {
            config,
            table: &table,
            instance,
        };
        match d.factory {
            Factory::Notifier(f) => out.push(f(&ctx)?),
            _ => {
                return Err(PluginError::Other(format!(
                    "plugin {} is not a notifier",
                    d.name
                )));
            }
        }
    }
    Ok(out)
}

/// Whether `name` may name a notifier instance: letters, digits, `-` and `_` (a route writes
/// `instance:chat`, so no colon).
pub fn valid_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The notifier plugin a `[notifiers.<instance>]` table names (its `kind`, or the instance name)
/// and the table without its `kind` key.
pub fn notifier_kind(
    instance: &str,
    table: &serde_json::Value,
) -> Result<(&'static PluginDescriptor, serde_json::Value), PluginError> {
    let section = format!("notifiers.{instance}");
    if !valid_instance_name(instance) {
        return Err(PluginError::Config {
            section,
            reason: "an instance name may hold only letters, digits, `-` and `_`".into(),
        });
    }
    let mut table = table.clone();
    let kind = match table.as_object_mut().and_then(|t| t.remove("kind")) {
        None => instance.to_string(),
        Some(serde_json::Value::String(k)) => k,
        Some(other) => {
            return Err(PluginError::Config {
                section,
                reason: format!(
                    "`kind` = {other} is not a string; write the notifier's name, e.g. kind = \"telegram\""
                ),
            });
        }
    };
    match find(PluginKind::Notifier, &kind) {
        Ok(d) => Ok((d, table)),
        Err(PluginError::Unknown { available, .. }) => Err(PluginError::Config {
            section,
            reason: format!("no notifier kind `{kind}`; set `kind` to one of: {available}"),
        }),
        Err(e) => Err(e),
    }
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
            instance: name,
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
                section: ctx.section("notifiers"),
                source: Box::new(e),
            })?;
    }
    Ok(Arc::new(
        crate::notify::ConsoleNotifier::new(ctx.config.monitor.timezone).named(ctx.instance),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorChain;

    fn config(toml: &str) -> Config {
        Config::from_toml_str(toml).unwrap()
    }

    #[test]
    fn notifier_instances_have_a_kind_that_defaults_to_their_name() {
        let built = build_notifiers(&config(
            "[notifiers.console]\n[notifiers.screen]\nkind = \"console\"\n",
        ))
        .unwrap();
        let names: Vec<&str> = built.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["console", "screen"], "two instances of one kind");
    }

    #[test]
    fn a_bad_instance_or_kind_is_named_with_what_is_accepted() {
        let err = |toml: &str| ErrorChain(&build_notifiers(&config(toml)).unwrap_err()).to_string();
        let e = err("[notifiers.family]\n");
        assert!(
            e.contains("notifiers.family")
                && e.contains("set `kind` to one of")
                && e.contains("console"),
            "{e}"
        );
        let e = err("[notifiers.family]\nkind = \"pigeon\"\n");
        assert!(e.contains("no notifier kind `pigeon`"), "{e}");
        let e = err("[notifiers.family]\nkind = 3\n");
        assert!(e.contains("`kind` = 3 is not a string"), "{e}");
        let e = err("[notifiers.\"my family\"]\nkind = \"console\"\n");
        assert!(e.contains("letters, digits"), "{e}");
    }
}

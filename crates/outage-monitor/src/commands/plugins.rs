//! `plugins list` and `config example`: what the registry holds.

use outage_core::registry;

use super::json::plugin_json;
use crate::context::{print_json, print_table};

/// `plugins list [--json]`.
pub fn list(json: bool) {
    let all = registry::all();
    if json {
        let v: Vec<_> = all.iter().map(|d| plugin_json(d)).collect();
        print_json(&v);
        return;
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|d| vec![d.kind.as_str().into(), d.name.into(), d.description.into()])
        .collect();
    print_table(&["KIND", "NAME", "DESCRIPTION"], &rows);
}

/// `config example`: the commented default config, with each notifier's and renderer's
/// example table.
pub fn example_config() -> String {
    let mut out = outage_core::config::EXAMPLE_TOML.to_string();
    for d in registry::all() {
        let shown = matches!(
            d.kind,
            registry::PluginKind::Notifier | registry::PluginKind::Renderer
        );
        if shown && !d.example_config.trim().is_empty() {
            out.push_str(&format!(
                "\n# {} {}: {}\n",
                d.name,
                d.kind.as_str(),
                d.description
            ));
            for line in d.example_config.lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
    }
    out
}

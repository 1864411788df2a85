//! Every plugin crate compiled into the binary. A plugin crate that nothing references is
//! dropped by the linker together with its `inventory` registration, so each is named here.

use outage_notify_telegram as _;
use outage_render_plotters as _;
use outage_source_http as _;
use outage_store_postgres as _;
use outage_store_sqlite as _;

/// Names of the plugins this binary must offer, checked by a test.
#[cfg(test)]
pub const EXPECTED: &[(&str, &str)] = &[
    ("notifier", "console"),
    ("notifier", "telegram"),
    ("renderer", "plotters"),
    ("source", "http"),
    ("store", "postgres"),
    ("store", "sqlite"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_plugin_crate_registered_its_descriptor() {
        let have: Vec<_> = outage_core::registry::all()
            .into_iter()
            .map(|d| (d.kind.as_str(), d.name))
            .collect();
        for want in super::EXPECTED {
            assert!(have.contains(want), "{want:?} missing from {have:?}");
        }
    }

    #[test]
    fn every_example_config_parses_as_part_of_a_config() {
        for d in outage_core::registry::all() {
            outage_core::config::Config::from_toml_str(d.example_config).unwrap_or_else(|e| {
                panic!(
                    "example config of {} {} does not parse: {e}",
                    d.kind.as_str(),
                    d.name
                )
            });
        }
    }
}

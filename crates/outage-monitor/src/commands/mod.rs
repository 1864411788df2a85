//! Every subcommand, one module per command group. Each module depends on `crate::context`
//! (configuration, store, output helpers) and `json` for its JSON shapes; only `demo` runs a
//! monitor through `crate::serve`. Nothing outside `main` depends on this module.

mod backup;
mod config;
mod demo;
mod healthcheck;
mod import;
mod json;
mod location;
mod location_show;
mod outage;
mod plugins;
mod report;
mod token;
mod user;

use anyhow::Result;

use crate::cli::{Cli, Command, ConfigCommand, DiagramCommand, OutageCommand, PluginsCommand};
use crate::context::ConfigSource;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let config = ConfigSource::read(cli.config.as_deref(), cli.env_file.as_deref())?;
    let load = || config.load();
    match cli.command {
        Command::Serve => {
            let cfg = load()?;
            crate::serve::init_tracing();
            crate::serve::serve(cfg, None).await
        }
        Command::Demo { timeout } => demo::run(timeout).await,
        // With --url the configuration is not needed, so a broken one does not fail the check.
        Command::Healthcheck { url, timeout } => match url {
            Some(u) => healthcheck::run(None, Some(&u), timeout).await,
            None => healthcheck::run(Some(&load()?), None, timeout).await,
        },
        Command::Migrate => config::migrate(&load()?).await,
        Command::CheckConfig { online } => config::check_config(load()?, online).await,
        Command::Config(ConfigCommand::Example) => {
            print!("{}", plugins::example_config());
            Ok(())
        }
        Command::Plugins(PluginsCommand::List { json }) => {
            plugins::list(json);
            Ok(())
        }
        Command::Location(cmd) => location::run(load()?, cmd).await,
        Command::Outage(OutageCommand::List {
            location,
            limit,
            json,
        }) => outage::list(load()?, location, limit, json).await,
        Command::Diagram(DiagramCommand::Render {
            location,
            week,
            out,
        }) => report::render_diagram(&load()?, &location, week.as_deref(), &out).await,
        Command::Token(cmd) => token::run(load()?, cmd).await,
        Command::User(cmd) => user::user(load()?, cmd).await,
        Command::Report {
            from,
            to,
            location,
            by,
            format,
        } => report::report(&load()?, from, to, location.as_deref(), by, format).await,
        Command::Backup { out } => backup::backup(&load()?, &out).await,
        Command::Restore { from } => backup::restore(&load()?, &from).await,
    }
}

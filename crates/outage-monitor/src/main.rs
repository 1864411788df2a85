//! `outage-monitor`: the binary that composes the outage-monitor library and its plugins from a
//! config file. The only crate of the workspace that uses `anyhow`.

mod cli;
mod commands;
mod demo;
mod plugins;
mod reports;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain: "error: cannot open ...: permission denied".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `outage-monitor`: the binary that composes the outage-monitor library and its plugins from a
//! config file. The only crate of the workspace that uses `anyhow`.

// The doc comments of `cli.rs` are the `--help` text (clap), written for a terminal: words
// like OUTAGE_<SECTION>__<KEY> and [::] are not HTML or links there.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod cli;
mod commands;
mod context;
mod plugins;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
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

/// `outage-monitor … | head`: when the reader goes away, printing fails with "Broken pipe".
/// End quietly with the status a process killed by SIGPIPE would have (141), as other command
/// line tools do, instead of a panic message and a backtrace.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

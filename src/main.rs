//! The `safehouse` command line: a thin binary over `safehouse-learner`.
//!
//! This crate is the only place that spawns processes (`sandbox-exec`, `/usr/bin/log`, `strace`,
//! the agent) or talks to a terminal. Each subcommand lives in `cmd/<name>.rs`.

mod capture;
mod overlay;
mod review;
mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Learn least-privilege macOS Seatbelt profiles for coding agents from what they actually do.
#[derive(Parser)]
#[command(name = "safehouse", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read profiles in order as one policy and print a one-line summary.
    Check(cmd::check::Args),
    /// Would this policy allow OPERATION on TARGET, and which rule decides?
    Explain(cmd::explain::Args),
    /// Read Sandbox reports from `log` output or session archives and print normalized events.
    Events(cmd::events::Args),
    /// Run an agent (or replay sessions), propose grants, review them and write the overlay.
    Learn(cmd::learn::Args),
    /// Find grants that sessions never used and broad grants that could be narrowed.
    Tighten(cmd::tighten::Args),
    /// A session's access report: reads, writes, execs, lookups, contacts, denials, gaps.
    Audit(cmd::audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Events(args) => cmd::events::run(args),
        Command::Learn(args) => cmd::learn::run(args),
        Command::Tighten(args) => cmd::tighten::run(args),
        Command::Audit(args) => cmd::audit::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

//! `safehouse tighten` (not written yet).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`safehouse tighten` is not implemented yet")
}

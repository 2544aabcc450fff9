//! One module per subcommand. Each has `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub mod audit;
pub mod check;
pub mod events;
pub mod explain;
pub mod learn;
pub mod tighten;

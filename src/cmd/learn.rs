//! `safehouse learn`: capture a session (or replay recorded ones), propose grants, review them
//! against a diff, and write the overlay.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::capture;

/// `safehouse learn [OPTIONS] -- <agent> [args]` or `safehouse learn --replay FILE...`
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  safehouse learn -- claude\n  safehouse learn --replay samples/sessions/node-npm-1.ndjson --json")]
pub struct Args {
    /// Review recorded sessions instead of running an agent: session archives or `log show`/`log
    /// stream` output in any style (several files are merged).
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with = "command")]
    pub replay: Vec<PathBuf>,

    /// The current profile, in order (repeatable). Default: `--policy-cmd`, else the embedded base profile.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,

    /// A profile parameter `NAME=VALUE` (like `sandbox-exec -D`).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// A command that prints the current policy (e.g. the Safehouse generator).
    #[arg(long, value_name = "COMMAND", env = "SAFEHOUSE_POLICY_CMD")]
    pub policy_cmd: Option<String>,

    /// Print the current profile that would be used (and the reporting variant for live capture) and exit.
    #[arg(long)]
    pub print_profile: bool,

    /// Keep the reporting profile file after a live capture and print its path.
    #[arg(long)]
    pub keep_profile: bool,

    /// Do not ask: accept only the proposals marked safe and write the overlay.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the proposals as JSON and exit (nothing is written).
    #[arg(long)]
    pub json: bool,

    /// The overlay file to write (default: a per-agent file under the XDG config dir).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// After writing, run the command again under the enforcing policy plus the overlay and report new denials.
    #[arg(long)]
    pub verify: bool,

    /// The session's home directory (default: $HOME) and workdir (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub home: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// The agent to run and its arguments.
    #[arg(last = true, value_name = "AGENT")]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.replay.is_empty() && args.command.is_empty() && !args.print_profile {
        anyhow::bail!("nothing to learn from: give `-- <agent> [args]` to run an agent, or `--replay FILE...`");
    }
    if args.replay.is_empty() && !args.print_profile {
        if let Err(message) = capture::platform_backend() {
            eprintln!("safehouse learn: {message}");
            return Ok(ExitCode::from(2));
        }
    }
    anyhow::bail!("`safehouse learn` review is being written")
}

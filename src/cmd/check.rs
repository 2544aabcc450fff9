//! `safehouse check`: read profiles in order as one policy and print a one-line summary.
//!
//! Exit status: 0 when the policy compiles, 1 when it does not (the error, with position, line
//! and caret, goes to stderr), 2 for usage errors (unreadable files, bad `-D`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use safehouse_learner::sbpl::{compile, Params, SourceFile};

#[derive(clap::Args)]
pub struct Args {
    /// Define a parameter for `(param "NAME")`, as `sandbox-exec -D NAME=VALUE`. Repeatable.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    pub define: Vec<(String, String)>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Profiles, read in order as one policy.
    #[arg(required = true, value_name = "PROFILE")]
    pub profiles: Vec<PathBuf>,
}

/// `-D NAME=VALUE` for clap.
pub fn parse_define(text: &str) -> Result<(String, String), String> {
    Params::parse_definition(text)
}

/// Read profile files as [`SourceFile`]s named by their paths as given.
pub fn read_sources(paths: &[PathBuf]) -> anyhow::Result<Vec<SourceFile>> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read profile {}", p.display()))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = read_sources(&args.profiles)?;
    let params: Params = args.define.iter().cloned().collect();
    let policy = match compile(&sources, &params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    for w in policy.warnings() {
        eprintln!("{w}");
    }
    let written = policy.rules().iter().filter(|r| !r.implicit).count();
    let implicit = policy.rules().len() - written;
    let operations = policy.operations();
    let params_used: Vec<(&str, bool)> = policy.params_used().iter().map(|(k, v)| (k.as_str(), *v)).collect();
    if args.json {
        let obj = serde_json::json!({
            "ok": true,
            "files": sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "rules": written,
            "implicit_rules": implicit,
            "operations": operations,
            "params_used": params_used.iter().map(|(k, set)| serde_json::json!({"name": k, "set": set})).collect::<Vec<_>>(),
            "unresolved_imports": policy.unknown_effects(),
            "warnings": policy.warnings(),
        });
        println!("{obj}");
    } else {
        let params_text = if params_used.is_empty() {
            "none".to_string()
        } else {
            params_used.iter().map(|(k, set)| if *set { k.to_string() } else { format!("{k} (unset)") }).collect::<Vec<_>>().join(", ")
        };
        println!(
            "ok: {} file(s), {} rules (+{} implicit), {} operations, params used: {}{}",
            sources.len(),
            written,
            implicit,
            operations.len(),
            params_text,
            match policy.warnings().len() {
                0 => String::new(),
                n => format!(", {n} warning(s)"),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

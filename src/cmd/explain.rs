//! `safehouse explain`: would this policy allow OPERATION on TARGET, and which rule decides?
//!
//! Exit status: 0 whatever the decision (allow, deny or indeterminate: read it from the output),
//! 2 for usage or input errors (unreadable or invalid profile, malformed batch line).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use safehouse_learner::sbpl::{compile, Decision, Fallthrough, Params, Policy, Uncertainty, Verdict};
use safehouse_learner::Target;
use serde_json::{json, Value};

use super::check::{parse_define, read_sources};

#[derive(clap::Args)]
pub struct Args {
    /// A profile; repeat to read several in order as one policy.
    #[arg(long = "profile", short = 'p', required = true, value_name = "PROFILE")]
    pub profiles: Vec<PathBuf>,
    /// Define a parameter for `(param "NAME")`, as `sandbox-exec -D NAME=VALUE`. Repeatable.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    pub define: Vec<(String, String)>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Read `OPERATION<TAB>TARGET` lines from FILE (`-` for stdin); print one JSON object per line.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["operation", "target"])]
    pub batch: Option<PathBuf>,
    /// The operation as a log line names it (`file-read-data`, `mach-lookup`, `network-outbound`).
    #[arg(required_unless_present = "batch")]
    pub operation: Option<String>,
    /// Its target: a path, `remote-ip:HOST:PORT`, `local-ip:HOST:PORT`, a Mach name, `-` for none.
    #[arg(required_unless_present = "batch", allow_hyphen_values = true)]
    pub target: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = read_sources(&args.profiles)?;
    let params: Params = args.define.iter().cloned().collect();
    let policy = compile(&sources, &params).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in policy.warnings() {
        eprintln!("{w}");
    }
    if let Some(batch) = &args.batch {
        return run_batch(&policy, batch);
    }
    let (Some(operation), Some(target_text)) = (&args.operation, &args.target) else {
        bail!("expected OPERATION and TARGET (or --batch FILE)");
    };
    let target = Target::parse(operation, target_text);
    let decision = policy.decide(operation, &target);
    if args.json {
        println!("{}", decision_json(&policy, operation, &target, &decision));
    } else {
        print!("{}", decision_text(&policy, operation, &target, &decision));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_batch(policy: &Policy, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read batch file {}", path.display()))?,
        ))
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut bad_lines = 0;
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.context("reading the batch input")?;
        let line = String::from_utf8_lossy(&line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        let (operation, target_text) = line.split_once('\t').unwrap_or((line, "-"));
        if operation.is_empty() || operation.contains(' ') {
            bad_lines += 1;
            let name = path.display();
            eprintln!("{name}:{}: expected OPERATION<TAB>TARGET, found {:?}", i + 1, line);
            writeln!(out, "{}", json!({"line": i + 1, "error": "expected OPERATION<TAB>TARGET"}))?;
            continue;
        }
        let target = Target::parse(operation, target_text);
        let decision = policy.decide(operation, &target);
        writeln!(out, "{}", decision_json(policy, operation, &target, &decision))?;
    }
    out.flush()?;
    Ok(if bad_lines > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// Paths that are symlinks on macOS: the kernel checks the resolved `/private/...` form.
const SYMLINKED_ROOTS: &[(&str, &str)] = &[("/tmp", "/private/tmp"), ("/var", "/private/var"), ("/etc", "/private/etc")];

/// Remarks about the request itself: a symlinked path, an operation name the engine does not know.
fn notes(policy: &Policy, operation: &str, target: &Target) -> Vec<String> {
    let mut out: Vec<String> = symlink_note(target).into_iter().collect();
    if !policy.is_known_operation(operation) {
        let chain = policy.operation_chain(operation);
        out.push(format!(
            "`{operation}` is not an operation this engine knows (a typo, or newer than its table): decided as {}",
            chain.join(" -> ")
        ));
    }
    out
}

fn symlink_note(target: &Target) -> Option<String> {
    let path = target.path_str()?;
    for (link, real) in SYMLINKED_ROOTS {
        if let Some(rest) = path.strip_prefix(link) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some(format!(
                    "{link} is a symlink to {real} on macOS: the kernel checks {real}{rest} for accesses through it (decided on the path as given)"
                ));
            }
        }
    }
    None
}

fn rule_json(policy: &Policy, id: usize, operation: &str, target: &Target) -> Value {
    let r = policy.rule(id);
    json!({
        "file": r.origin.file,
        "line": r.origin.line,
        "col": r.origin.col,
        "text": r.origin.text,
        "layer": r.origin.layer,
        "action": r.action,
        "filter": policy.matching_filter(id, operation, target),
        "implicit": r.implicit,
    })
}

/// The `--json` object (schema in README, "SBPL engine").
pub fn decision_json(policy: &Policy, operation: &str, target: &Target, d: &Decision) -> Value {
    let rule = d.rule.map(|id| rule_json(policy, id, operation, target));
    let fallthrough = d.fallthrough.as_ref().map(|f| match f {
        Fallthrough::Default { rule } => json!({
            "kind": "default",
            "rule": rule.map(|id| rule_json(policy, id, operation, target)),
        }),
        Fallthrough::BuiltIn { operation } => json!({"kind": "built-in", "operation": operation}),
    });
    let uncertain: Vec<Value> = d
        .uncertain
        .iter()
        .map(|u| match u {
            Uncertainty::Rule { rule } => {
                let mut v = rule_json(policy, *rule, operation, target);
                v["kind"] = json!("rule");
                v
            }
            Uncertainty::Import { effect } => {
                let e = &policy.unknown_effects()[*effect];
                json!({"kind": "import", "what": e.what, "file": e.file, "line": e.line})
            }
        })
        .collect();
    let notes = notes(policy, operation, target);
    json!({
        "decision": d.verdict,
        "operation": operation,
        "target": target,
        "rule": rule,
        "decided_by": d.operation,
        "default": fallthrough,
        "uncertain": uncertain,
        "notes": notes,
    })
}

fn decision_text(policy: &Policy, operation: &str, target: &Target, d: &Decision) -> String {
    let mut s = format!("{} {} {}\n", d.verdict, operation, if target.raw.is_empty() { "-" } else { &target.raw });
    let describe = |id: usize| -> String {
        let r = policy.rule(id);
        let layer = r.origin.layer.as_deref().map(|l| format!(" [layer {l}]")).unwrap_or_default();
        let mut text = format!("  rule {}:{}:{}{}\n", r.origin.file, r.origin.line, r.origin.col, layer);
        for line in r.origin.text.lines().take(12) {
            text.push_str(&format!("    {line}\n"));
        }
        if r.origin.text.lines().count() > 12 {
            text.push_str("    ...\n");
        }
        if let Some(f) = policy.matching_filter(id, operation, target) {
            text.push_str(&format!("  matched {f}\n"));
        }
        text
    };
    match (&d.rule, &d.fallthrough) {
        (Some(id), _) => {
            s.push_str(&format!("  decided by a rule for {}\n", d.operation));
            s.push_str(&describe(*id));
        }
        (None, Some(Fallthrough::Default { rule })) => {
            s.push_str("  no rule matched: the default applies\n");
            if let Some(id) = rule {
                s.push_str(&describe(*id));
            } else {
                s.push_str("  (no `default` rule: built-in deny)\n");
            }
        }
        (None, Some(Fallthrough::BuiltIn { operation: op })) => {
            s.push_str(&format!("  no rule matched: {op} is decided by a built-in default of the sandbox\n"));
        }
        (None, None) => {}
    }
    if !d.uncertain.is_empty() {
        s.push_str(if d.verdict == Verdict::Indeterminate {
            "  indeterminate: these come first and could decide otherwise (their conditions are unknown for this request):\n"
        } else {
            "  these come first with conditions unknown for this request, but could only decide the same way:\n"
        });
        for u in &d.uncertain {
            match u {
                Uncertainty::Rule { rule } => {
                    let r = policy.rule(*rule);
                    let first = r.origin.text.lines().next().unwrap_or("");
                    s.push_str(&format!("    {} {}:{}: {}\n", r.action, r.origin.file, r.origin.line, first));
                }
                Uncertainty::Import { effect } => {
                    let e = &policy.unknown_effects()[*effect];
                    s.push_str(&format!("    {} at {}:{} (not available here)\n", e.what, e.file, e.line));
                }
            }
        }
    }
    for note in notes(policy, operation, target) {
        s.push_str(&format!("  note: {note}\n"));
    }
    s
}

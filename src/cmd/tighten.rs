//! `safehouse tighten`: find grants that sessions never used, broad grants only a small part of
//! which was used, and rules that can never decide (shadowed) or change nothing (redundant);
//! propose removing or narrowing them, review, and edit only the files the user owns.
//!
//! Usage evidence comes from sessions in which allowed accesses were reported and can be tied to
//! the rule that allowed them: a usage capture (`tighten --capture -- <agent>`: every allow rule
//! reports and carries a per-rule `(with message ...)` tag), a Linux trace (every access decided by
//! our engine), or any archive / `log` output (each report attributed by the engine). Per-rule hit
//! counts go into a small ledger under the XDG state dir, so evidence accumulates across sessions;
//! a session is counted once however often it is replayed.
//!
//! `--profile` files are the policy the user does not own (never edited); `--overlay` files come
//! after them and are the user's (the only files written: atomically, with a backup, refusing if
//! they changed since read). Exit status: 0 done (findings or not), 2 bad input.

use std::collections::BTreeMap;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use safehouse_learner::event::Action;
use safehouse_learner::learn::{
    Anchor, Decide, Filter as GrantFilter, Grant, LearnOptions, Learner, PolicyVerdict, SessionContext,
};
use safehouse_learner::logs;
use safehouse_learner::report::edit::{self, RuleEdit};
use safehouse_learner::report::tighten::{self, Change, Covers, Finding, FindingKind, Inputs, RuleView, TightenReport};
use safehouse_learner::report::usage::{Attributor, Ledger, RuleKey, SessionRecord, SessionUsage};
use safehouse_learner::report::RuleRef;
use safehouse_learner::sbpl::{compile, Filter, Matcher, Params, Policy, SourceFile, Verdict};
use safehouse_learner::{Event, Target};

use super::audit::{read_options, use_color};
use super::check::{parse_define, read_sources};
use crate::capture;
use crate::overlay::OverlayFile;
use crate::review::{self, Choice, Decision, EditChecker, Item, Risk};

/// `safehouse tighten [SESSION...] --profile P... --overlay O... [--json] [--yes]`
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  safehouse tighten --profile samples/tighten/base.sb --overlay samples/tighten/overlay.sb samples/tighten/usage-1.log samples/tighten/usage-2.log --min-sessions 2\n  safehouse tighten --profile base.sb --overlay ~/.config/safehouse/claude.sb --json")]
pub struct Args {
    /// Sessions to count: archives, Linux traces or `log` output (any style) of runs in which
    /// allowed accesses were reported. None: report from the ledger alone.
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<PathBuf>,
    /// Profiles you do not own, in order (repeatable): analysed, never edited.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
    /// Profiles you own (overlays), read after the profiles (repeatable): the only files edited.
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// Define a parameter for `(param "NAME")`, as `sandbox-exec -D NAME=VALUE`. Repeatable.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    pub define: Vec<(String, String)>,
    /// The usage ledger [default: one per set of profiles under $XDG_STATE_HOME/safehouse/usage/].
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Do not add the sessions to the ledger (findings still use them).
    #[arg(long)]
    pub no_record: bool,
    /// A rule (or optional module) is unused after this many sessions without a hit.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub min_sessions: u64,
    /// Print the findings as JSON and exit (nothing is written).
    #[arg(long)]
    pub json: bool,
    /// Do not ask: apply every change to owned files.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the findings and the diff, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The sessions' home and workdir (default: from archive headers), for narrowed grants.
    #[arg(long, value_name = "DIR")]
    pub home: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run the agent under the current policy with every allow rule reporting, count its usage,
    /// then tighten: `safehouse tighten --capture --profile P --overlay O -- <agent> [args]`.
    #[arg(long, requires = "command")]
    pub capture: bool,
    /// The agent to run with `--capture`.
    #[arg(last = true, value_name = "AGENT")]
    pub command: Vec<String>,
}

/// A reader that hashes what passes through it (FNV-1a): the session's identity in the ledger.
struct Hashing<R> {
    inner: R,
    hash: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &buf[..n] {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(n)
    }
}

/// The policy, its rules' keys and who owns which file.
struct Loaded {
    policy: Policy,
    keys: Vec<RuleKey>,
    refs: Vec<RuleRef>,
    owned: Vec<bool>,
    owned_files: Vec<PathBuf>,
}

fn load(args: &Args) -> anyhow::Result<Loaded> {
    if args.profiles.is_empty() && args.overlays.is_empty() {
        anyhow::bail!("no policy: give the profiles you do not own with --profile and your overlays with --overlay");
    }
    let mut sources = read_sources(&args.profiles)?;
    let overlays = read_sources(&args.overlays)?;
    let owned_names: Vec<String> = overlays.iter().map(|s| s.name.clone()).collect();
    sources.extend(overlays);
    let params: Params = args.define.iter().cloned().collect();
    let policy = compile(&sources, &params).map_err(|e| anyhow::anyhow!("{e}"))?;
    let refs: Vec<RuleRef> = policy
        .rules()
        .iter()
        .map(|r| RuleRef::from(&r.origin))
        .collect();
    let keys = RuleKey::for_rules(&refs);
    let owned = policy.rules().iter().map(|r| !r.implicit && owned_names.contains(&r.origin.file)).collect();
    Ok(Loaded { policy, keys, refs, owned, owned_files: args.overlays.clone() })
}

/// The default ledger: one file per set of policy files (by name), under the state dir.
fn default_ledger(args: &Args) -> anyhow::Result<PathBuf> {
    let mut names: Vec<String> = args.profiles.iter().chain(&args.overlays).map(|p| {
        std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string()
    }).collect();
    names.sort();
    let key = RuleKey::new("ledger", &names.join("\n"), 0);
    Ok(crate::overlay::state_dir()?.join("usage").join(format!("{}.json", key.0)))
}

/// Count one session's attributed accesses.
fn count_session(loaded: &Loaded, path: &Path, ctx: &mut SessionContext) -> anyhow::Result<(SessionRecord, SessionUsage)> {
    let name = path.display().to_string();
    let raw: Box<dyn Read> = if name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot read session {name}"))?)
    };
    let mut hashing = Hashing { inner: raw, hash: 0xcbf2_9ce4_8422_2325 };
    let mut usage = SessionUsage::default();
    let mut attributed = 0u64;
    let mut attributor = Attributor::new(&loaded.policy, &loaded.keys);
    {
        let input = BufReader::with_capacity(256 * 1024, &mut hashing);
        let mut stream = logs::open_events_with(input, &name, read_options()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut header_seen = false;
        while let Some(item) = stream.next() {
            let event = item.map_err(|e| anyhow::anyhow!("{e}"))?;
            if !header_seen {
                header_seen = true;
                if let Some(h) = stream.archive_header() {
                    ctx.home = ctx.home.take().or_else(|| h.context.home.clone());
                    ctx.workdir = ctx.workdir.take().or_else(|| h.context.workdir.clone());
                }
            }
            if attributor.count(&event, &mut usage) {
                attributed += 1;
            }
        }
        eprintln!("{name}: {}", stream.stats());
    }
    let record = SessionRecord {
        id: format!("{:016x}", hashing.hash),
        name,
        attributed,
        unattributed: usage.unattributed,
    };
    Ok((record, usage))
}

/// The policy with one rule taken out of the decision: what `learn` would see without it.
struct Without<'a> {
    policy: &'a Policy,
    rule: usize,
}

impl Decide for Without<'_> {
    fn verdict(&self, operation: &str, target: &Target) -> PolicyVerdict {
        if self.policy.decide(operation, target).rule == Some(self.rule) {
            return PolicyVerdict::Deny { rule: None };
        }
        self.policy.verdict(operation, target)
    }
}

/// Does the filter open a whole area (subpath / prefix / regex on paths)?
fn is_broad(filter: &Filter) -> bool {
    match filter {
        Filter::Any(fs) | Filter::All(fs) => fs.iter().any(is_broad),
        Filter::Path(Matcher::Subpath(_) | Matcher::Prefix(_) | Matcher::Regex(_)) => true,
        _ => false,
    }
}

/// A grant spelled with absolute paths, so it compiles in any file (no helper needed).
fn absolute(grant: &Grant, ctx: &SessionContext) -> Grant {
    let filters = grant
        .filters
        .iter()
        .map(|f| match f {
            GrantFilter::Path { anchor, matching, .. } if *anchor != Anchor::Absolute => match f.absolute_path(ctx) {
                Some(path) => GrantFilter::Path { anchor: Anchor::Absolute, matching: *matching, path },
                None => f.clone(),
            },
            _ => f.clone(),
        })
        .collect();
    Grant::new(grant.operations.clone(), filters)
}

/// The narrower replacement of a broad rule from what was used under it, generalised by the
/// learner exactly as `learn` would (same cost model, tiers, volatile names). `None` when it would
/// not be strictly narrower, or when the evidence touches a location the learner never proposes.
fn narrowed(loaded: &Loaded, id: usize, ledger: &Ledger, ctx: &SessionContext) -> Option<Vec<String>> {
    let rule = loaded.policy.rule(id);
    let filter = rule.filter.as_ref()?;
    let usage = ledger.rules.get(&loaded.keys[id])?;
    if usage.truncated || usage.hits == 0 {
        return None;
    }
    let mut learner = Learner::new();
    learner.begin_session("usage");
    for (op, targets) in &usage.targets {
        for (raw, n) in targets {
            let mut e = Event::new("-", None, Action::Allow, op.clone(), Target::parse(op, raw));
            e.count = *n;
            learner.observe(&e);
        }
    }
    let learned = learner.learn(&Without { policy: &loaded.policy, rule: id }, ctx, &LearnOptions::default());
    if !learned.secrets.is_empty() || learned.proposals.is_empty() || !learned.indeterminate.is_empty() {
        return None;
    }
    let texts: Vec<String> = learned.proposals.iter().map(|p| absolute(&p.grant, ctx).sbpl).collect();
    // Prove the replacement lies within the rule, and that the rule does not lie within it.
    let compiled = compile(&[SourceFile::new("<narrowed>", format!("(version 1)\n{}\n", texts.join("\n")))], &Params::new()).ok()?;
    let mut new_filters = Vec::new();
    for r in compiled.rules().iter().filter(|r| !r.implicit) {
        let f = r.filter.as_ref()?;
        let ops_inside = r.operations.iter().all(|op| {
            rule.operations.iter().any(|mine| safehouse_learner::learn::grant::operation_covers(mine, op))
        });
        if r.action != Action::Allow || !ops_inside || !f.covered_by(filter) {
            return None;
        }
        new_filters.push(f.clone());
    }
    if filter.covered_by(&Filter::Any(new_filters)) {
        return None;
    }
    Some(texts)
}

/// The findings, narrowing included.
fn analyse(loaded: &Loaded, ledger: &Ledger, min_sessions: u64, ctx: &SessionContext) -> TightenReport {
    let views: Vec<RuleView<'_, Filter>> = loaded
        .policy
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| RuleView {
            action: r.action,
            operations: &r.operations,
            filter: r.filter.as_ref(),
            rule: loaded.refs[i].clone(),
            key: loaded.keys[i].clone(),
            owned: loaded.owned[i],
        })
        .collect();
    let mut report = tighten::findings(&Inputs { rules: &views, ledger, min_sessions });
    let flagged: Vec<&RuleRef> = report.findings.iter().filter_map(|f| f.rule.as_ref()).collect();
    let mut narrow: Vec<(usize, Finding)> = Vec::new();
    for (i, r) in loaded.policy.rules().iter().enumerate() {
        if !loaded.owned[i] || r.action != Action::Allow || !r.filter.as_ref().is_some_and(is_broad) {
            continue;
        }
        if flagged.contains(&&loaded.refs[i]) {
            continue;
        }
        let Some(rules) = narrowed(loaded, i, ledger, ctx) else { continue };
        let evidence = tighten::evidence(ledger, &loaded.keys[i]);
        let reason = format!(
            "only {} distinct target{} under it {} used in {} session{}: narrowed the way `learn` generalises",
            evidence.distinct_targets,
            if evidence.distinct_targets == 1 { "" } else { "s" },
            if evidence.distinct_targets == 1 { "was" } else { "were" },
            evidence.sessions,
            if evidence.sessions == 1 { "" } else { "s" },
        );
        narrow.push((
            i,
            Finding {
                kind: FindingKind::Narrowable,
                rule: Some(loaded.refs[i].clone()),
                by: None,
                module: None,
                editable: true,
                change: Change::Replace { rules },
                evidence,
                reason,
            },
        ));
    }
    // Merge in source order.
    let position = |f: &Finding| -> (usize, FindingKind) {
        let i = f
            .rule
            .as_ref()
            .and_then(|r| loaded.refs.iter().position(|x| x == r))
            .or_else(|| f.module.as_ref().and_then(|m| loaded.refs.iter().position(|x| x.layer.as_deref() == Some(m))))
            .unwrap_or(usize::MAX);
        (i, f.kind)
    };
    report.findings.extend(narrow.into_iter().map(|(_, f)| f));
    // A finding that relies on a rule another finding changes (redundant because of a rule that
    // is being narrowed) no longer holds once both apply: keep the change, drop the dependant; the
    // next run judges it against the new policy.
    let changed: Vec<RuleRef> = report.findings.iter().filter_map(|f| f.rule.clone()).collect();
    report.findings.retain(|f| f.by.as_ref().map_or(true, |by| !changed.contains(by)));
    report.findings.sort_by_key(|f| position(f));
    report
}

/// Edits for the accepted findings, grouped by owned file. A rule whose text occurs more than
/// once in its file (a loop or helper generated it) is not edited.
fn plan_edits(loaded: &Loaded, chosen: &[(&Finding, Option<Vec<String>>)]) -> BTreeMap<String, Vec<RuleEdit>> {
    let mut per_file: BTreeMap<String, Vec<RuleEdit>> = BTreeMap::new();
    for (finding, replacement) in chosen {
        let Some(rule) = &finding.rule else { continue };
        let Some(i) = loaded.refs.iter().position(|r| r == rule) else { continue };
        let same = loaded.refs.iter().filter(|r| r.file == rule.file && r.text == rule.text).count();
        if same != 1 || !loaded.owned[i] {
            eprintln!("note: {}:{}: not edited (the rule is generated more than once)", rule.file, rule.line);
            continue;
        }
        let origin = &loaded.policy.rule(i).origin;
        per_file.entry(rule.file.clone()).or_default().push(RuleEdit {
            line: origin.line,
            col: origin.col,
            text: origin.text.clone(),
            replacement: replacement.clone(),
        });
    }
    per_file
}

fn change_of(f: &Finding) -> Option<Vec<String>> {
    match &f.change {
        Change::Replace { rules } => Some(rules.clone()),
        _ => None,
    }
}

fn print_findings(report: &TightenReport) {
    println!(
        "{} finding{} over {} session{} (unused after {} sessions without a hit)",
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        report.sessions,
        if report.sessions == 1 { "" } else { "s" },
        report.min_sessions
    );
    for f in &report.findings {
        let place = match (&f.rule, &f.module) {
            (Some(r), _) => format!("{}:{}", r.file, r.line),
            (None, Some(m)) => format!("module {m}"),
            _ => String::new(),
        };
        println!("\n{} {place}", kind_label(f.kind));
        if let Some(r) = &f.rule {
            println!("  rule:   {}", r.text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        println!("  why:    {}", f.reason);
        match &f.change {
            Change::Remove => println!("  change: remove it"),
            Change::Replace { rules } => {
                for (n, r) in rules.iter().enumerate() {
                    println!("  {} {r}", if n == 0 { "change: replace with" } else { "                     " });
                }
            }
            Change::DropModule { flag, .. } => println!("  change: stop passing {flag} to safehouse"),
        }
        if f.evidence.sessions > 0 {
            println!("  usage:  {} hits in {} of {} sessions", f.evidence.hits, f.evidence.used_in, f.evidence.sessions);
        }
        for s in &f.evidence.samples {
            println!("          {s}");
        }
    }
    for (kind, n) in &report.not_owned {
        println!("\n({n} more {} in files you do not own: not edited)", kind_label(*kind));
    }
}

fn kind_label(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Shadowed => "shadowed",
        FindingKind::Redundant => "redundant",
        FindingKind::Unused => "unused",
        FindingKind::Narrowable => "narrowable",
        FindingKind::UnusedModule => "unused-module",
    }
}

/// Checks a rule typed during review: it must parse and still allow what the rule was used for.
struct UsageChecker<'a> {
    ledger: &'a Ledger,
    keys: Vec<RuleKey>,
}

impl EditChecker for UsageChecker<'_> {
    fn check(&self, item: usize, rule: &str) -> Result<(), String> {
        let policy = compile(&[SourceFile::new("<typed>", format!("(version 1)\n(deny default)\n{rule}\n"))], &Params::new())
            .map_err(|e| e.to_string())?;
        let Some(usage) = self.ledger.rules.get(&self.keys[item]) else { return Ok(()) };
        let mut missing = Vec::new();
        for (op, targets) in &usage.targets {
            for raw in targets.keys() {
                if policy.decide(op, &Target::parse(op, raw)).verdict != Verdict::Allow {
                    missing.push(format!("{op} {raw}"));
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("the rule does not allow what was used:\n{}", missing.iter().take(5).cloned().collect::<Vec<_>>().join("\n")))
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match load(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    for w in loaded.policy.warnings() {
        eprintln!("{w}");
    }
    let ledger_path = match &args.ledger {
        Some(p) => p.clone(),
        None => default_ledger(&args)?,
    };
    let mut ledger = match std::fs::read_to_string(&ledger_path) {
        Ok(text) => match Ledger::from_json(&text) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}:{e}", ledger_path.display());
                return Ok(ExitCode::from(2));
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ledger::default(),
        Err(e) => {
            eprintln!("error: cannot read ledger {}: {e}", ledger_path.display());
            return Ok(ExitCode::from(2));
        }
    };

    let mut ctx = SessionContext { home: args.home.clone(), workdir: args.workdir.clone(), ..Default::default() };
    let table: Vec<(RuleKey, RuleRef, Action)> = loaded
        .policy
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| (loaded.keys[i].clone(), loaded.refs[i].clone(), r.action))
        .collect();
    let mut sessions = args.sessions.clone();
    if args.capture {
        match capture_usage(&args, &loaded)? {
            Ok(archive) => sessions.push(archive),
            Err(code) => return Ok(code),
        }
    }
    let mut added = 0;
    for path in &sessions {
        let (record, usage) = match count_session(&loaded, path, &mut ctx) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let name = record.name.clone();
        if ledger.record(record, &table, &usage) {
            added += 1;
        } else {
            eprintln!("{name}: already counted in the ledger (same content)");
        }
    }
    if added > 0 && !args.no_record {
        write_atomic(&ledger_path, &ledger.to_json())?;
        eprintln!("ledger: {} ({} sessions)", ledger_path.display(), ledger.sessions.len());
    }

    let report = analyse(&loaded, &ledger, args.min_sessions, &ctx);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_findings(&report);

    let editable: Vec<&Finding> = report.findings.iter().filter(|f| f.editable).collect();
    if editable.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let interactive = !args.yes && !args.dry_run && io::stdin().is_terminal() && io::stdout().is_terminal();
    let color = use_color();
    let chosen: Vec<(&Finding, Option<Vec<String>>)> = if interactive {
        let items: Vec<Item> = editable
            .iter()
            .map(|f| Item {
                id: kind_label(f.kind).to_string(),
                purpose: format!("{} rules", kind_label(f.kind)),
                class: kind_label(f.kind).to_string(),
                choices: vec![Choice {
                    rule: match &f.change {
                        Change::Replace { rules } => rules.join("\n"),
                        _ => format!("(remove) {}", f.rule.as_ref().map(|r| r.text.as_str()).unwrap_or("")),
                    },
                    note: String::new(),
                    sensitive: false,
                }],
                proposed: 0,
                reason: f.reason.clone(),
                evidence: f.evidence.samples.clone(),
                risk: Risk::Low,
                safe: true,
                sensitive: false,
            })
            .collect();
        let keys = editable
            .iter()
            .map(|f| f.rule.as_ref().and_then(|r| loaded.refs.iter().position(|x| x == r)).map(|i| loaded.keys[i].clone()).unwrap_or(RuleKey(String::new())))
            .collect();
        let checker = UsageChecker { ledger: &ledger, keys };
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut output = io::stdout();
        let mut terminal = review::Terminal { input: &mut input, output: &mut output, color };
        let outcome = terminal.review(&items, &checker)?;
        if outcome.aborted {
            return Ok(ExitCode::SUCCESS);
        }
        editable
            .iter()
            .zip(outcome.decisions)
            .filter_map(|(f, d)| match d {
                Decision::Accepted(_) => Some((*f, change_of(f))),
                Decision::Edited(text) => Some((*f, Some(vec![text]))),
                _ => None,
            })
            .collect()
    } else {
        editable.iter().map(|f| (*f, change_of(f))).collect()
    };

    let plan = plan_edits(&loaded, &chosen);
    for path in &loaded.owned_files {
        let name = path.display().to_string();
        let Some(edits) = plan.get(&name) else { continue };
        let file = OverlayFile::read(path)?;
        let new_text = match edit::apply(file.text(), edits) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {name}:{e}");
                return Ok(ExitCode::from(2));
            }
        };
        let diff = safehouse_learner::diff::unified(&name, file.text(), &new_text, color);
        let write = if args.dry_run {
            print!("\n{diff}");
            false
        } else if interactive {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            let mut output = io::stdout();
            let mut terminal = review::Terminal { input: &mut input, output: &mut output, color };
            terminal.confirm_write(&diff, &name)?
        } else if args.yes {
            print!("\n{diff}");
            true
        } else {
            print!("\n{diff}");
            println!("(not written: run with --yes to apply, or on a terminal to review)");
            false
        };
        if write {
            match file.write(&new_text) {
                Ok(backup) => {
                    let kept = backup.map(|b| format!(" (previous version: {})", b.display())).unwrap_or_default();
                    println!("wrote {name}{kept}");
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a usage capture's events go: the session archive, written as they come.
struct ArchiveSink {
    archive: logs::ArchiveWriter<std::fs::File>,
}

impl capture::Sink for ArchiveSink {
    fn event(&mut self, event: Event) -> anyhow::Result<()> {
        self.archive.write_event(&event)?;
        Ok(())
    }
    fn note(&mut self, message: &str) {
        eprintln!("safehouse: {message}");
    }
}

/// `--capture`: run the agent under the current policy with every allow rule reporting and
/// tagged with its rule key (macOS), or traced with every access decided by our engine (Linux);
/// the session is archived under the state dir and returned for counting. `Err(code)` when no
/// capture could be made (the reason is printed).
fn capture_usage(args: &Args, loaded: &Loaded) -> anyhow::Result<Result<PathBuf, ExitCode>> {
    let backend = match capture::platform_backend() {
        Ok(b) => b,
        Err(message) => {
            eprintln!("safehouse tighten: {message}");
            return Ok(Err(ExitCode::from(2)));
        }
    };
    eprintln!("safehouse: capturing usage with {}", backend.name());
    let mut sources = read_sources(&args.profiles)?;
    sources.extend(read_sources(&args.overlays)?);
    let rules = loaded.policy.rules();
    let tag_of = |file: &str, line: u32, col: u32| -> Option<String> {
        rules
            .iter()
            .position(|r| !r.implicit && r.origin.file == file && r.origin.line == line && r.origin.col == col)
            .map(|i| loaded.keys[i].tag())
    };
    let profile = safehouse_learner::reporting::usage_profile(&sources, &tag_of).map_err(|e| anyhow::anyhow!("{e}"))?;
    let classify = |operation: &str, target: &Target| -> Action {
        // Undecidable filters are usually satisfied at run time: count them as allowed.
        if loaded.policy.decide(operation, target).verdict == Verdict::Deny {
            Action::Deny
        } else {
            Action::Allow
        }
    };
    let workdir = match &args.workdir {
        Some(w) => PathBuf::from(w),
        None => std::env::current_dir()?,
    };
    let context = SessionContext {
        home: args.home.clone().or_else(|| std::env::var("HOME").ok()),
        workdir: Some(workdir.display().to_string()),
        command: args.command.clone(),
        platform: Some(std::env::consts::OS.to_string()),
        ..Default::default()
    };
    let state = crate::overlay::state_dir()?.join("sessions");
    std::fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
    let agent = args.command.first().map(|c| c.rsplit('/').next().unwrap_or(c).to_string()).unwrap_or_default();
    let archive_path = state.join(format!(
        "{}-tighten-{}.ndjson",
        chrono::Local::now().format("%Y%m%dT%H%M%S"),
        crate::overlay::file_safe(&agent)
    ));
    let header = logs::ArchiveHeader::new(Some(chrono::Local::now().fixed_offset()), context);
    let file = std::fs::File::create(&archive_path).with_context(|| format!("cannot create {}", archive_path.display()))?;
    let mut sink = ArchiveSink { archive: logs::ArchiveWriter::new(file, &header)? };
    eprintln!("safehouse: session archive: {}", archive_path.display());
    let interrupts = capture::Interrupts::install()?;
    let request = capture::Request {
        command: &args.command,
        workdir,
        reporting_profile: &profile,
        params: &args.define,
        session_tag: "safehouse-usage",
        keep_profile: false,
        classify: &classify,
        interrupts: interrupts.clone(),
    };
    let outcome = backend.capture(&request, &mut sink);
    interrupts.capture_done();
    let outcome = outcome?;
    if let Err(e) = capture::complete_archive_header(&archive_path, &header, &outcome.facts) {
        eprintln!("safehouse: warning: the archive header lacks the capture facts: {e:#}");
    }
    for problem in &outcome.problems {
        eprintln!("safehouse: warning: {problem}");
    }
    if outcome.status == capture::AgentStatus::Stopped || interrupts.stop_now() {
        eprintln!("safehouse: stopped; count it later with: safehouse tighten ... {}", archive_path.display());
        return Ok(Err(ExitCode::from(130)));
    }
    Ok(Ok(archive_path))
}

/// Write `text` to `path` atomically (temp file beside it, then rename).
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new().prefix(".safehouse-usage-").tempfile_in(dir)?;
    io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.persist(path).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

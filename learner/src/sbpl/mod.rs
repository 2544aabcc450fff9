//! The SBPL engine: read Seatbelt profiles, evaluate them as libsandbox does, and decide
//! (operation, target) requests naming the rule that decided. See
//! `../shared/docs/sbpl-reference.md` for the semantics implemented here.
//!
//! ```
//! use safehouse_learner::sbpl::{compile, Params, SourceFile, Verdict};
//! use safehouse_learner::Target;
//!
//! let profile = SourceFile::new("p.sb", r#"(version 1) (deny default)
//!     (allow file-read* (subpath "/usr"))"#);
//! let policy = compile(&[profile], &Params::new()).unwrap();
//! let d = policy.decide("file-read-data", &Target::path("/usr/bin/true"));
//! assert_eq!(d.verdict, Verdict::Allow);
//! assert_eq!(policy.rules()[d.rule.unwrap()].origin.line, 2);
//! ```
//!
//! Pipeline: [`reader`] (text to spanned S-expressions) → [`eval`] (the Scheme subset and SBPL
//! vocabulary, producing rules) → [`policy`] (per-operation lists, fallbacks, index, decisions)
//! with [`filter`] (three-valued filter evaluation), [`pattern`] (SBPL regexes), [`ops`] (the
//! operation tree) and [`render`] (escaping and printing SBPL).

pub mod error;
mod eval;
pub mod filter;
pub mod ops;
pub mod pattern;
pub mod policy;
pub mod reader;
pub mod render;

use indexmap::IndexMap;
use serde::Serialize;

use crate::event::Action;

pub use error::SbplError;
pub use filter::{Filter, Matcher, Tri};
pub use policy::{Decision, Fallthrough, Policy, Rule, RuleId, RuleOrigin, Uncertainty, UnknownEffect, Verdict, Warning};

use error::{LineIndex, Span};
use policy::Built;

/// One profile text and the name used for it in errors and attribution (usually its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }
}

/// Compile-time parameters (`sandbox-exec -D NAME=VALUE`), read by `(param "NAME")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(IndexMap<String, String>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// Set `name` (a later value for the same name replaces the earlier one).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse a `NAME=VALUE` definition as given to `-D`.
    pub fn parse_definition(text: &str) -> Result<(String, String), String> {
        match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => Err(format!("expected NAME=VALUE, found `{text}`")),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Params {
        Params(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// A rule's modifiers (`(with ...)`). They never change the decision itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Modifiers {
    /// `(with report)`: an allowed access is logged too.
    pub report: bool,
    /// `(with no-report)` / `(with no-log)`: a denial is not logged.
    pub no_report: bool,
    /// `(with message "...")`: text attached to the report.
    pub message: Option<String>,
    /// `(with send-signal SIG)` / `(with termination)`.
    pub send_signal: Option<String>,
    /// `(with no-sandbox)`: an allowed exec runs unsandboxed.
    pub no_sandbox: bool,
    /// Other accepted modifiers (Apple-internal ones), by name.
    pub other: Vec<String>,
}

/// The name [`RuleOrigin::file`] has for rules libsandbox adds itself.
pub const IMPLICIT_FILE: &str = "<implicit>";

/// Read and evaluate `files` in order as one policy (as Safehouse assembles its modules).
pub fn compile(files: &[SourceFile], params: &Params) -> Result<Policy, SbplError> {
    let Some(first) = files.first() else {
        return Err(SbplError::whole("<no input>", "expected at least one profile"));
    };
    let at = |span: Span, message: String| -> SbplError {
        let f = &files[span.file as usize];
        SbplError::at(&f.name, &f.text, span, message)
    };
    // Profiles loop by recursion (named `let`). Evaluate on this stack with a modest nesting
    // limit; a profile that needs more is evaluated again on a thread with a deep stack.
    let evaluate = |max_depth: usize| -> Result<(ops::Operations, eval::Evaluated), (SbplError, bool)> {
        let mut parsed = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let forms = reader::read_all(i as u32, &f.text).map_err(|e| (at(e.span, e.message), false))?;
            parsed.push(forms);
        }
        let mut ev = eval::Evaluator::new(&params.0, max_depth);
        for forms in &parsed {
            for form in forms {
                ev.eval_top(form).map_err(|e| (at(e.span, e.message), e.too_deep))?;
            }
        }
        let ops = ev.ops.clone();
        let evaluated = ev.finish().map_err(|e| (at(e.span, e.message), e.too_deep))?;
        Ok((ops, evaluated))
    };
    let (ops, evaluated) = match evaluate(eval::MAX_EVAL_DEPTH_SMALL_STACK) {
        Ok(r) => r,
        Err((e, false)) => return Err(e),
        Err((e, true)) => {
            let deep = std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("sbpl-eval".into())
                    .stack_size(eval::EVAL_STACK_BYTES)
                    .spawn_scoped(scope, || evaluate(eval::MAX_EVAL_DEPTH_BIG_STACK))
                    .ok()
                    .map(|handle| handle.join())
            });
            match deep {
                Some(Ok(r)) => r.map_err(|(e, _)| e)?,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => return Err(e),
            }
        }
    };
    if evaluated.version.is_none() {
        return Err(SbplError::whole(&first.name, "no version specified: expected `(version 1)` before the rules"));
    }

    let indexes: Vec<LineIndex> = files.iter().map(|f| LineIndex::new(&f.text)).collect();
    let layers: Vec<Vec<(u32, String)>> = files.iter().map(|f| layer_markers(&f.text)).collect();
    let origin = |span: Span| -> RuleOrigin {
        let f = &files[span.file as usize];
        let text = f.text.get(span.start as usize..span.end as usize).unwrap_or("").to_string();
        let (line, col) = indexes[span.file as usize].line_col(&f.text, span.start as usize);
        let markers = &layers[span.file as usize];
        let layer = markers.iter().take_while(|(l, _)| *l < line).last().map(|(_, m)| m.clone());
        RuleOrigin { file: f.name.clone(), line, col, text, layer }
    };

    let mut built: Vec<Built> = evaluated
        .rules
        .iter()
        .map(|r| Built {
            rule: Rule {
                action: r.action,
                operations: r.ops.iter().map(|&o| ops.name(o).to_string()).collect(),
                filter: r.filter.clone(),
                modifiers: r.modifiers.clone(),
                origin: origin(r.span),
                implicit: false,
            },
            ops: r.ops.clone(),
        })
        .collect();
    if params.get("NO_IMPLICIT_RULES").is_none() {
        built.extend(implicit_rules(&ops, &built));
    }
    let effects = evaluated
        .unknown_effects
        .iter()
        .map(|e| {
            let o = origin(e.span);
            (e.position, UnknownEffect { what: e.what.clone(), file: o.file, line: o.line, col: o.col })
        })
        .collect();
    let warnings = evaluated
        .warnings
        .iter()
        .map(|w| {
            let o = origin(w.span);
            Warning { file: o.file, line: o.line, col: o.col, message: w.message.clone() }
        })
        .collect();
    Ok(Policy::build(ops, built, effects, warnings, evaluated.params_used))
}

/// `;; Source: <module>` marker lines of a file: (line, module).
fn layer_markers(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if !t.starts_with(';') {
            continue;
        }
        let body = t.trim_start_matches(';').trim();
        if let Some(module) = body.strip_prefix("Source:") {
            let module = module.trim();
            if !module.is_empty() {
                out.push((i as u32 + 1, module.to_string()));
            }
        }
    }
    out
}

/// The rules libsandbox's finalizer appends (reference §7), unless `NO_IMPLICIT_RULES` is set.
fn implicit_rules(ops: &ops::Operations, user: &[Built]) -> Vec<Built> {
    use filter::Filter as F;
    use filter::Matcher as M;
    let mut out = Vec::new();
    let mut push = |action: Action, op_names: Vec<&str>, filter: Option<F>| {
        let ids: Vec<usize> = op_names.iter().filter_map(|n| ops.resolve(n)).collect();
        let names: Vec<String> = ids.iter().map(|&i| ops.name(i).to_string()).collect();
        let names_ref: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let text = render::rule(action, &names_ref, &filter.iter().map(render::filter).collect::<Vec<_>>());
        out.push(Built {
            rule: Rule {
                action,
                operations: names,
                filter,
                modifiers: Modifiers::default(),
                origin: RuleOrigin { file: IMPLICIT_FILE.into(), line: 0, col: 0, text, layer: None },
                implicit: true,
            },
            ops: ids,
        });
    };
    push(Action::Allow, vec!["signal"], Some(F::Target("self".into())));
    let lookup_allowed = user.iter().any(|b| {
        b.rule.action == Action::Allow && b.rule.operations.iter().any(|o| matches!(o.as_str(), "mach-lookup" | "mach*" | "default"))
    });
    if lookup_allowed {
        push(Action::Allow, vec!["mach-bootstrap"], None);
    }
    let regex = |s: &str| pattern::Pattern::new(s).map(M::Regex).ok();
    if let Some(launchd) = regex(r"^/private/tmp/launchd-[0-9]+\.[^/]+/sock$") {
        push(
            Action::Deny,
            vec!["network-outbound"],
            Some(F::Any(vec![F::Path(M::Literal("/private/var/tmp/launchd/sock".into())), F::Path(launchd)])),
        );
    }
    if let Some(sandbox_dir) = regex(r"/com\.apple\.sandbox($|/)") {
        let path_ops: Vec<&str> = ops
            .names()
            .filter(|n| (n.starts_with("file-") && !n.starts_with("file-read")) || *n == "process-exec*")
            .collect();
        push(Action::Deny, path_ops, Some(F::Path(sandbox_dir)));
    }
    out
}

#[cfg(test)]
mod tests;

//! The one representation of an observed access: [`Event`].
//!
//! Every source of evidence (macOS unified-log reports in any `log` style, session archives, the
//! Linux tracer) produces `Event`s; the learner, `tighten`, `audit` and `events` consume them.
//! Field names are a public interface (JSON in archives and `--json` output): `time`, `process`,
//! `pid`, `action`, `operation`, `target` (with `target.raw`), `count`, `tag`,
//! `platform_policy`, `file`, `line`.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::target::Target;

/// What happened to the access: the kernel allowed it (and reported it, `(with report)`) or denied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observed access (possibly standing for several folded identical reports, see `count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it was logged, with the zone offset the log printed. `None` for bare messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<FixedOffset>>,
    /// The process short name as the kernel printed it (may contain spaces and parentheses).
    pub process: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub action: Action,
    /// The SBPL operation name as printed (`file-read-data`, `process-exec*`, `mach-lookup`).
    pub operation: String,
    pub target: Target,
    /// 1 + the number of identical reports folded into this one (`N duplicate reports for ...`).
    pub count: u64,
    /// The text of the deciding rule's `(with message "...")`, if the report carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Denied by the platform policy (`System Policy:`): no rule of ours can change it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub platform_policy: bool,
    /// Where the evidence came from: input file name (or `-`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// ... and 1-based line number in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl Event {
    /// A minimal event: `count` 1, no time, tag or source. Handy for tracers and tests.
    pub fn new(process: impl Into<String>, pid: Option<u32>, action: Action, operation: impl Into<String>, target: Target) -> Event {
        Event {
            time: None,
            process: process.into(),
            pid,
            action,
            operation: operation.into(),
            target,
            count: 1,
            tag: None,
            platform_policy: false,
            file: None,
            line: None,
        }
    }
}

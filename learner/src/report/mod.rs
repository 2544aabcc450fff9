//! Reports over sessions: `tighten` findings (unused, narrowable, shadowed, redundant rules, unused
//! optional modules) and the `audit` session report.
//!
//! - [`area`]: access classes and areas (how accesses are grouped for a reader).
//! - [`audit`]: the streaming aggregation behind `safehouse audit`.
//! - [`render`]: the audit report as text (fits a terminal), Markdown and one self-contained HTML file.
//! - [`usage`]: per-rule hit counts across sessions (the ledger `tighten` keeps in the state dir).
//! - [`tighten`]: findings: shadowed and redundant rules (SBPL precedence), unused rules and modules.
//! - [`edit`]: applying a finding's change to the text of a profile the user owns.

pub mod area;
pub mod edit;
pub mod audit;
pub mod render;
pub mod tighten;
pub mod usage;

use serde::{Deserialize, Serialize};

/// A rule as reports name it: where it is written and what it says. Serialised as the public
/// `rule` object (`file`, `line`, `text`, `layer`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleRef {
    pub file: String,
    pub line: u32,
    pub text: String,
    /// The `;; Source:` module of a generated Safehouse policy the rule comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

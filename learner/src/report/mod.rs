//! Reports over sessions: `tighten` findings (unused, narrowable, shadowed, redundant rules, unused
//! optional modules) and the `audit` session report.
//!
//! - [`area`]: access classes and areas (how accesses are grouped for a reader).
//! - [`audit`]: the streaming aggregation behind `safehouse audit`.
//! - [`judge`]: denial causes (engine, learning floor) and sensitivity (learner tiers) per event.
//! - [`render`]: the audit report as text (fits a terminal), Markdown and one self-contained HTML file.
//! - [`usage`]: per-rule hit counts across sessions (the ledger `tighten` keeps in the state dir).
//! - [`cover`]: provable containment between the engine's filters (for shadowed/redundant rules).
//! - [`tighten`]: findings: shadowed and redundant rules (SBPL precedence), unused rules and modules.
//! - [`edit`]: applying a finding's change to the text of a profile the user owns.

pub mod area;
pub mod cover;
pub mod edit;
pub mod judge;
pub mod audit;
pub mod render;
pub mod tighten;
pub mod usage;

/// A rule as reports name it (the public `rule` object: `file`, `line`, `text`, `layer`): the
/// learner's type, so every report names rules the same way.
pub use crate::learn::RuleRef;

/// A `HashMap` with rustc's Fx hash, for the per-event lookups of reports (operation and target
/// strings), where SipHash's flooding resistance buys nothing and costs most of the time.
/// Iteration order of these maps never reaches output.
pub(crate) type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

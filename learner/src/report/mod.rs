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

/// A fast, deterministic hasher for the per-event lookups of reports (operation and target
/// strings), where SipHash's DoS resistance buys nothing and costs most of the time. Iteration
/// order of these maps never reaches output.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

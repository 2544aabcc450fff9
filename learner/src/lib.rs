//! `safehouse-learner`: the pure core of safehouse.
//!
//! Everything here is platform-free and does no I/O beyond the readers and writers it is handed:
//!
//! - [`target`] and [`event`]: the one representation of an observed access.
//! - [`context`]: [`SessionContext`], where a session ran (archive header, learner, reports, CLI).
//! - [`sbpl`]: the SBPL (Seatbelt profile language) engine: reader, evaluator, decisions with
//!   attribution, and rendering of rules with every string escaped.
//! - [`logs`]: readers for every style `/usr/bin/log` prints, and the session archive format.
//! - [`strace`]: the Linux tracer's output mapped to Seatbelt operations.
//! - [`learn`]: clustering observed accesses into the smallest set of safe grants; the overlay.
//! - [`report`]: `tighten` and `audit` findings.
//! - [`diff`]: unified diffs of profile text.

pub mod context;
pub mod diff;
pub mod event;
pub mod learn;
pub mod logs;
pub mod report;
pub mod reporting;
pub mod sbpl;
pub mod strace;
pub mod target;

pub use context::SessionContext;
pub use event::{Action, Event};
pub use target::{Target, TargetKind};

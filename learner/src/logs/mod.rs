//! Unified-log ingestion: every style `log stream` / `log show` prints, streamed into [`crate::Event`]s,
//! and the versioned session archive. See `../shared/docs/unified-log-format.md`.

//! Unified diffs of profile text (old → new), as shown before an overlay is written.

//! Reports over sessions: `tighten` findings (unused, narrowable, shadowed, redundant rules) and `audit`.

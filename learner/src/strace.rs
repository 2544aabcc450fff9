//! The Linux tracer: `strace` output mapped to the Seatbelt operations macOS would check.

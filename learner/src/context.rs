//! [`SessionContext`]: what is known about where a session ran — the one type the archive header
//! records, the learner writes grants relative to, the reports judge places by, and the CLI fills
//! from flags, archives and the environment.
//!
//! Its serde shape is the archive header's `context` object: every field is optional, empty
//! fields are left out, and unknown fields are kept in [`SessionContext::extra`] (forward
//! compatible). Archives written before the learner's fields existed read unchanged.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Where a session ran: the roots grants are written relative to, and how it was captured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionContext {
    /// HOME (absolute, canonical). Rules under it use `home-*` helpers / `(param "HOME")`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// The agent's working directory (the project). Rules under it use `workdir-*` helpers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The agent command line (empty when unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `macos` (unified log) or `linux` (strace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The `(with message ...)` tag the session's profile carried, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Per-user temp roots (`/private/var/folders/xx/yyyy/T`, ...), canonical.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temp_roots: Vec<String>,
    /// Directories on the user's PATH: a write there is review-tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_dirs: Vec<String>,
    /// Fields written by newer versions or other tools, kept as they were.
    #[serde(flatten)]
    pub extra: IndexMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_original_archive_context_and_keeps_unknown_fields() {
        let text = r#"{"home":"/Users/a","workdir":"/Users/a/p","command":["claude","-p"],"platform":"macos","tag":"t1","future":{"x":1}}"#;
        let ctx: SessionContext = serde_json::from_str(text).unwrap();
        assert_eq!(ctx.home.as_deref(), Some("/Users/a"));
        assert_eq!(ctx.command, vec!["claude".to_string(), "-p".to_string()]);
        assert_eq!(ctx.tag.as_deref(), Some("t1"));
        assert!(ctx.temp_roots.is_empty() && ctx.path_dirs.is_empty());
        assert_eq!(ctx.extra["future"], serde_json::json!({"x": 1}));
        assert_eq!(serde_json::to_string(&ctx).unwrap(), text);
    }

    #[test]
    fn empty_context_serialises_to_an_empty_object() {
        assert_eq!(serde_json::to_string(&SessionContext::default()).unwrap(), "{}");
        let ctx: SessionContext = serde_json::from_str("{}").unwrap();
        assert_eq!(ctx, SessionContext::default());
    }
}

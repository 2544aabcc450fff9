//! The overlay file on disk: where it lives (XDG), reading it once, and writing it back safely.
//!
//! An overlay is the profile `learn` writes and Safehouse appends last (`--append-profile`). It is
//! the only file `learn` ever writes besides session archives: the user's base profiles are never
//! touched. Writing is atomic (temp file in the same directory + rename), keeps the previous
//! version as `<file>.bak`, and refuses when the file changed after we read it (another `learn`,
//! an editor), so a concurrent edit is never silently lost.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The overlay as it was when `learn` read it.
#[derive(Debug)]
pub struct OverlayFile {
    pub path: PathBuf,
    /// The text read, or `None` when the file did not exist yet.
    pub original: Option<String>,
}

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// Someone changed (or created, or removed) the file after we read it.
    ChangedSinceRead(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::ChangedSinceRead(path) => write!(
                f,
                "{} changed since it was read; nothing was written (run learn again to review against the new content)",
                path.display()
            ),
            WriteError::Io(path, err) => write!(f, "cannot write {}: {err}", path.display()),
        }
    }
}

impl std::error::Error for WriteError {}

impl OverlayFile {
    /// Read the overlay at `path` (a missing file is an empty overlay, not an error).
    pub fn read(path: &Path) -> anyhow::Result<OverlayFile> {
        let original = match std::fs::read(path) {
            Ok(bytes) => Some(
                String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("{}: the overlay is not UTF-8 text", path.display()))?,
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
        };
        Ok(OverlayFile { path: path.to_path_buf(), original })
    }

    /// The text read (empty when the file did not exist).
    pub fn text(&self) -> &str {
        self.original.as_deref().unwrap_or("")
    }

    /// Replace the file with `new_text`: refuse if it changed since [`OverlayFile::read`], back up
    /// the previous version to `<file>.bak`, write a temp file beside it and rename it over.
    /// Returns the backup path when there was a previous version.
    pub fn write(&self, new_text: &str) -> Result<Option<PathBuf>, WriteError> {
        let io = |err| WriteError::Io(self.path.clone(), err);
        let now = match std::fs::read(&self.path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(io(err)),
        };
        if now.as_deref() != self.original.as_deref().map(str::as_bytes) {
            return Err(WriteError::ChangedSinceRead(self.path.clone()));
        }
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let backup = match &self.original {
            Some(old) => {
                let backup = backup_path(&self.path);
                std::fs::write(&backup, old).map_err(io)?;
                Some(backup)
            }
            None => None,
        };
        let mut temp = tempfile::Builder::new().prefix(".safehouse-overlay-").tempfile_in(&dir).map_err(io)?;
        temp.write_all(new_text.as_bytes()).map_err(io)?;
        temp.as_file().sync_all().map_err(io)?;
        temp.persist(&self.path).map_err(|err| io(err.error))?;
        Ok(backup)
    }
}

/// `<file>.bak` beside the overlay.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".bak");
    path.with_file_name(name)
}

/// `$XDG_CONFIG_HOME/safehouse` (default `~/.config/safehouse`).
pub fn config_dir() -> anyhow::Result<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_STATE_HOME/safehouse` (default `~/.local/state/safehouse`).
pub fn state_dir() -> anyhow::Result<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

fn xdg_dir(var: &str, fallback: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(dir).join("safehouse"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("neither {var} nor HOME is set: pass --output"))?;
    Ok(PathBuf::from(home).join(fallback).join("safehouse"))
}

/// The default overlay for an agent: `<config>/overlays/<agent>.sb`, meant for
/// `safehouse --append-profile`.
pub fn default_overlay_path(agent: &str) -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("overlays").join(format!("{}.sb", file_safe(agent))))
}

/// A name usable as one path component.
pub fn file_safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "agent".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/overlay.sb");
        let first = OverlayFile::read(&path).unwrap();
        assert_eq!(first.original, None);
        assert_eq!(first.write("(version 1)\n").unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "(version 1)\n");

        let second = OverlayFile::read(&path).unwrap();
        let backup = second.write("(version 1)\n(allow file-read-data (literal \"/a\"))\n").unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "(version 1)\n");
        assert!(std::fs::read_to_string(&path).unwrap().contains("/a"));
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn refuses_when_changed_since_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlay.sb");
        std::fs::write(&path, "old\n").unwrap();
        let read = OverlayFile::read(&path).unwrap();
        std::fs::write(&path, "edited meanwhile\n").unwrap();
        assert!(matches!(read.write("new\n"), Err(WriteError::ChangedSinceRead(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited meanwhile\n");
        assert!(!backup_path(&path).exists());

        // Created by someone else after we saw it missing: also refused.
        let fresh = dir.path().join("fresh.sb");
        let read = OverlayFile::read(&fresh).unwrap();
        std::fs::write(&fresh, "theirs\n").unwrap();
        assert!(matches!(read.write("ours\n"), Err(WriteError::ChangedSinceRead(_))));
    }

    #[test]
    fn agent_names_become_one_component() {
        assert_eq!(file_safe("claude"), "claude");
        assert_eq!(file_safe("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_safe(""), "agent");
    }
}

//! The desktop app's own small files, next to the index in the data directory:
//! `desktop/settings.json`, `desktop/watched.json` and `desktop/chat.json`.
//! Each is written like the index's own files (`cairn_engine::write_atomic`:
//! temporary file, fsync, rename), so a crash or power loss leaves either the
//! old or the new version, never half of one.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("desktop")
}

/// Reads `name` from the app's folder; a missing file gives the default, an
/// unreadable one is reported (and the default used) rather than failing start-up.
pub fn load<T: DeserializeOwned + Default>(data_dir: &Path, name: &str) -> T {
    let path = dir(data_dir).join(name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("ignoring {}: {e}", path.display());
            T::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", path.display());
            T::default()
        }
    }
}

pub fn save<T: Serialize>(data_dir: &Path, name: &str, value: &T) -> Result<()> {
    let dir = dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = serde_json::to_vec_pretty(value)?;
    cairn_engine::write_atomic(&dir.join(name), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_files_fall_back_to_default() {
        let tmp = tempfile::tempdir().unwrap();
        let v: Vec<String> = load(tmp.path(), "watched.json");
        assert!(v.is_empty());
        save(tmp.path(), "watched.json", &vec!["/a".to_string()]).unwrap();
        let v: Vec<String> = load(tmp.path(), "watched.json");
        assert_eq!(v, vec!["/a".to_string()]);
        std::fs::write(dir(tmp.path()).join("watched.json"), b"{not json").unwrap();
        let v: Vec<String> = load(tmp.path(), "watched.json");
        assert!(v.is_empty());
    }
}

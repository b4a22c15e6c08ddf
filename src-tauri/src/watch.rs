//! Watched folders: file-system notifications (the `notify` crate) trigger a sync
//! of the folder they happened in, after a quiet period so that a burst of
//! changes (a copy of many files, an editor's save dance) becomes one ingest.
//! The sync itself is the engine's folder sync: new and changed files are
//! indexed, deleted ones removed, unchanged ones skipped by size and time.

use crate::jobs::Jobs;
use crate::state::{lock, AppState};
use notify::{RecursiveMode, Watcher as _};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Manager};
use tokio::sync::mpsc;

/// How long the folder must be quiet before it is synced.
const QUIET: Duration = Duration::from_millis(1500);

pub struct Watcher {
    inner: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Watcher {
    /// Starts watching the saved folders and queues a sync of each, to pick up
    /// what changed while the app was closed.
    pub fn start(app: &AppHandle) -> Watcher {
        let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                if event.kind.is_access() {
                    return;
                }
                for p in event.paths {
                    let _ = tx.send(p);
                }
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("watched folders are off: {e}");
                None
            }
        };
        let this = Watcher {
            inner: Mutex::new(watcher),
        };
        let st = app.state::<AppState>();
        let folders = lock(&st.watched).clone();
        for folder in &folders {
            if let Err(e) = this.add(folder) {
                tracing::warn!("{e}");
            }
        }
        if !folders.is_empty() {
            if let Err(e) = app.state::<Jobs>().ingest(app, folders) {
                tracing::warn!("{e}");
            }
        }
        tauri::async_runtime::spawn(debounce(app.clone(), rx));
        this
    }

    pub fn add(&self, folder: &Path) -> Result<(), String> {
        match lock(&self.inner).as_mut() {
            Some(w) => w
                .watch(folder, RecursiveMode::Recursive)
                .map_err(|e| format!("cannot watch {}: {e}", folder.display())),
            None => Err("watching folders is not available on this system".into()),
        }
    }

    pub fn remove(&self, folder: &Path) {
        if let Some(w) = lock(&self.inner).as_mut() {
            let _ = w.unwatch(folder);
        }
    }
}

/// The watched folders that contain `path`, ignoring the app's own data folder
/// (indexing writes there; syncing on those writes would never end).
fn affected(path: &Path, watched: &[PathBuf], data_dir: &Path) -> Vec<PathBuf> {
    if path.starts_with(data_dir) {
        return Vec::new();
    }
    watched
        .iter()
        .filter(|w| path.starts_with(w))
        .cloned()
        .collect()
}

async fn debounce(app: AppHandle, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(first) = rx.recv().await {
        let mut changed = vec![first];
        // Gather until the folder has been quiet for QUIET.
        while let Ok(Some(p)) = tokio::time::timeout(QUIET, rx.recv()).await {
            changed.push(p);
        }
        let st = app.state::<AppState>();
        let watched = lock(&st.watched).clone();
        let folders: BTreeSet<PathBuf> = changed
            .iter()
            .flat_map(|p| affected(p, &watched, &st.data_dir))
            .collect();
        if folders.is_empty() {
            continue;
        }
        tracing::info!("syncing watched folders: {folders:?}");
        if let Err(e) = app
            .state::<Jobs>()
            .ingest(&app, folders.into_iter().collect())
        {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::affected;
    use std::path::{Path, PathBuf};

    #[test]
    fn changes_map_to_their_watched_folders_but_never_the_data_dir() {
        let watched = vec![PathBuf::from("/home/a/docs"), PathBuf::from("/home/a")];
        let data = Path::new("/home/a/.local/share/cairn");
        assert_eq!(
            affected(Path::new("/home/a/docs/x.pdf"), &watched, data),
            watched
        );
        assert_eq!(
            affected(Path::new("/home/a/y.txt"), &watched, data),
            vec![PathBuf::from("/home/a")]
        );
        assert!(affected(
            Path::new("/home/a/.local/share/cairn/lance/x"),
            &watched,
            data
        )
        .is_empty());
        assert!(affected(Path::new("/home/ab/z.txt"), &watched, data).is_empty());
    }
}

//! Finding the files to index under a set of roots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect;

/// Folders that never hold a person's documents but can hold millions of
/// files; they are pruned even when hidden files are included.
const ALWAYS_EXCLUDED: &[&str] = &[".git", "node_modules", "target"];

/// How [`walk`] treats hidden and ignored files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkOptions {
    /// Include dot-files and dot-folders. Default: `false`.
    pub include_hidden: bool,
    /// Honour `.gitignore`, `.ignore` and `.git/info/exclude` files, also in
    /// folders that are not git repositories. Default: `true`.
    pub respect_gitignore: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            include_hidden: false,
            respect_gitignore: true,
        }
    }
}

/// A file or folder that [`walk`] did not return, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What [`walk`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkResult {
    /// Loadable files, sorted, without duplicates.
    pub files: Vec<PathBuf>,
    /// Entries that looked like candidates but were left out, sorted by path:
    /// unsupported or binary files, unreadable entries, symlink loops, missing
    /// roots. Hidden, ignored and always-excluded entries (`.git`,
    /// `node_modules`, `target`) are left out silently, as the user asked.
    pub skipped: Vec<Skipped>,
}

/// Collects the loadable files under `roots` (files or folders).
///
/// Symbolic links are followed; a link that leads back into its own ancestry
/// is reported in `skipped` instead of being walked again. The output is
/// sorted so that repeated scans of an unchanged tree are identical.
pub fn walk(roots: &[PathBuf], opts: &WalkOptions) -> WalkResult {
    let mut files = std::collections::BTreeSet::new();
    let mut skipped: BTreeMap<PathBuf, String> = BTreeMap::new();

    for root in roots {
        if let Err(e) = std::fs::metadata(root) {
            skipped.insert(root.clone(), format!("cannot read: {e}"));
            continue;
        }
        let mut builder = ignore::WalkBuilder::new(root);
        builder
            .hidden(!opts.include_hidden)
            .parents(opts.respect_gitignore)
            .ignore(opts.respect_gitignore)
            .git_ignore(opts.respect_gitignore)
            .git_exclude(opts.respect_gitignore)
            // A person's global git excludes are about their code, not about
            // which of their documents they want to search.
            .git_global(false)
            .require_git(false)
            .follow_links(true)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| {
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                !(is_dir
                    && entry.depth() > 0
                    && entry
                        .file_name()
                        .to_str()
                        .is_some_and(|n| ALWAYS_EXCLUDED.contains(&n)))
            });

        for result in builder.build() {
            let entry = match result {
                Ok(entry) => entry,
                Err(err) => {
                    let path = error_path(&err).unwrap_or_else(|| root.clone());
                    skipped.insert(path, describe(&err));
                    continue;
                }
            };
            let Some(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if file_type.is_dir() {
                continue;
            }
            if !file_type.is_file() && !is_file_behind_link(path) {
                skipped.insert(path.to_path_buf(), "not a regular file".to_string());
                continue;
            }
            match detect::classify(path) {
                Ok(_) => {
                    files.insert(path.to_path_buf());
                }
                Err(e) => {
                    skipped.insert(path.to_path_buf(), reason_of(&e));
                }
            }
        }
    }

    WalkResult {
        files: files.into_iter().collect(),
        skipped: skipped
            .into_iter()
            .map(|(path, reason)| Skipped { path, reason })
            .collect(),
    }
}

/// With `follow_links` the entry's type is already the target's type, so this
/// only matters for links that `ignore` reports without resolving.
fn is_file_behind_link(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// The reason part of a load error, without the path that `Skipped` already holds.
fn reason_of(e: &crate::LoadError) -> String {
    match e {
        crate::LoadError::Unsupported { ext, .. } if ext.is_empty() => {
            "unsupported file type (no extension)".to_string()
        }
        crate::LoadError::Unsupported { ext, .. } => format!("unsupported file type (.{ext})"),
        crate::LoadError::Binary { .. } => "binary content, not text".to_string(),
        crate::LoadError::Io { source, .. } => format!("cannot read: {source}"),
        other => other.to_string(),
    }
}

fn describe(err: &ignore::Error) -> String {
    match err {
        ignore::Error::Loop { ancestor, .. } => {
            format!("symbolic link loop (leads back to {})", ancestor.display())
        }
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => describe(err),
        ignore::Error::Io(e) => format!("cannot read: {e}"),
        other => other.to_string(),
    }
}

/// The path an `ignore` error is about, digging through its wrappers.
fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

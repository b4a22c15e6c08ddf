//! Index consistency check: do the catalogue, LanceDB and tantivy agree?
//!
//! [`Engine::verify`] never writes, so it is safe beside a running ingest and on a
//! data directory a crash left behind. Its report separates two promises:
//! - [`VerifyReport::visible_consistent`]: every document readers can see (`indexed`)
//!   has exactly its chunks in both stores, once. This must hold at every moment.
//! - [`VerifyReport::consistent`]: additionally nothing is left from an interrupted
//!   write (marker, pending entries, orphan chunks). [`Engine::repair`], which every
//!   writer runs when it opens the index, restores this.
//!
//! `cairn verify --json` prints the report; the crash and concurrency tests of the
//! `cairn` binary are built on it. [`Engine::open_for_repair`] (`cairn repair`) goes
//! further and rebuilds parts that no longer open.

use crate::{Engine, EngineConfig, Result};
use cairn_core::Embedder;
pub use cairn_store::{DocCheck, OrphanCheck, VerifyReport};
use cairn_store::{RepairReport, Store};
use std::sync::Arc;

impl Engine {
    /// Compares the three stores document by document (see the module docs).
    pub async fn verify(&self) -> Result<VerifyReport> {
        Ok(self.store.verify().await?)
    }

    /// Opens the index for writing after a deep check that rebuilds unreadable parts
    /// (see [`Store::open_for_repair`]): what `cairn repair` runs. Unlike
    /// [`Engine::repair`] it also copes with a catalogue, table or index that no longer
    /// opens, for example after a power loss or a full disk.
    ///
    /// An index built with another embedding model is checked and mended with
    /// that model first, then re-embedded with `embedder` (see [`crate::upgrade`]).
    pub async fn open_for_repair(
        cfg: EngineConfig,
        embedder: Arc<dyn Embedder>,
    ) -> Result<(Self, RepairReport)> {
        // A damaged meta.json is rebuilt first, from the vector folders' own
        // record of their model, so that vectors of another model get re-embedded
        // rather than relabelled.
        let mut recovered = None;
        if let Err(e) = cairn_store::read_meta(&cfg.data_dir) {
            if e.kind() != cairn_store::ErrorKind::Corrupt {
                return Err(e.into());
            }
            let moved = cairn_store::recover_meta(&cfg.data_dir, embedder.dimension())?;
            recovered = Some(moved);
        }
        let mark = |mut report: RepairReport| {
            if let Some(moved) = &recovered {
                report.quarantined.splice(0..0, moved.iter().cloned());
                report.meta_rewritten = true;
            }
            report
        };
        let other_model = cairn_store::read_meta(&cfg.data_dir)
            .ok()
            .flatten()
            .filter(|meta| !crate::upgrade::built_with(meta, embedder.as_ref()))
            .map(|meta| (meta.embed_model, meta.dimension));
        if let Some((model, dim)) = other_model {
            let (store, report) = Store::open_for_repair(&cfg.data_dir, &model, dim).await?;
            crate::upgrade::reembed_store(store, &cfg, &embedder, &|_| {}).await?;
            let store = Store::open(
                &cfg.data_dir,
                embedder.model_id(),
                embedder.dimension(),
                cairn_store::OpenMode::Write,
            )
            .await?;
            return Ok((
                Engine {
                    cfg,
                    embedder,
                    store,
                },
                mark(report),
            ));
        }
        let (store, report) =
            Store::open_for_repair(&cfg.data_dir, embedder.model_id(), embedder.dimension())
                .await?;
        Ok((
            Engine {
                cfg,
                embedder,
                store,
            },
            mark(report),
        ))
    }
}

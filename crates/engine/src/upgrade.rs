//! Moving an index to the configured embedding model when it was built with
//! another one: after an upgrade of Cairn that changes the embedder (the int8
//! graph replaced the fp32 one), or a models folder with another embedder.
//!
//! Every [`Engine`] open checks `meta.json` first. When its model differs from
//! the embedder's, the passages' stored text is embedded again with the
//! configured model (see `cairn_store::Reembedding` for the crash-safe order):
//! nothing is read from the original files, which may have moved, and a kill
//! midway resumes where it stopped at the next open. The catalogue and the
//! keyword index are untouched. The process that re-embeds holds the writer
//! lock meanwhile; any other open of the same index (even a read-only one, which
//! would otherwise find vectors of the wrong model) waits for it by failing
//! with `StoreError::Busy`.

use crate::{Embedder, Engine, EngineConfig, Result};
use cairn_store::{read_meta, IndexMeta, OpenMode, Store};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Progress of a re-embedding, reported after every batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradeProgress {
    /// The model the index was built with.
    pub from_model: String,
    /// The model it is moving to.
    pub to_model: String,
    /// Passages embedded again so far.
    pub done: usize,
    /// Passages to embed in all.
    pub total: usize,
}

/// A callback for [`UpgradeProgress`].
pub type OnUpgrade<'a> = &'a (dyn Fn(&UpgradeProgress) + Send + Sync);

/// Whether the index in `cfg.data_dir` was built with another embedding model
/// than `embedder` (and so the next open re-embeds it). A folder with no index,
/// or one whose `meta.json` cannot be read, needs nothing here (opening reports
/// or repairs the latter).
pub fn needs_reembedding(cfg: &EngineConfig, embedder: &dyn Embedder) -> bool {
    matches!(read_meta(&cfg.data_dir), Ok(Some(meta)) if !built_with(&meta, embedder))
}

/// Whether the index `meta` describes was built with `embedder`'s model.
pub(crate) fn built_with(meta: &IndexMeta, embedder: &dyn Embedder) -> bool {
    meta.embed_model == embedder.model_id() && meta.dimension == embedder.dimension()
}

/// Re-embeds the index if it was built with another model; returns whether it did.
pub(crate) async fn reembed_if_needed(
    cfg: &EngineConfig,
    embedder: &Arc<dyn Embedder>,
    on_progress: OnUpgrade<'_>,
) -> Result<bool> {
    let meta = match read_meta(&cfg.data_dir) {
        Ok(Some(meta)) => meta,
        Ok(None) => return Ok(false),
        // Damage is for the open (or `cairn repair`) to report and mend.
        Err(e) if e.is_damage() => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if built_with(&meta, embedder.as_ref()) {
        return Ok(false);
    }
    let started = Instant::now();
    // Opening with the model the index was built with also repairs an
    // interrupted write first, so only consistent rows are carried over.
    let store = match Store::open(
        &cfg.data_dir,
        &meta.embed_model,
        meta.dimension,
        OpenMode::Write,
    )
    .await
    {
        Ok(store) => store,
        // Another process finished a re-embedding between the read above and
        // taking the lock.
        Err(cairn_store::StoreError::ModelMismatch { .. })
            if read_meta(&cfg.data_dir)?.is_some_and(|m| built_with(&m, embedder.as_ref())) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    reembed_store(store, cfg, embedder, on_progress).await?;
    tracing::info!(
        from = %meta.embed_model,
        to = %embedder.model_id(),
        seconds = started.elapsed().as_secs_f32(),
        "re-embedded the index"
    );
    Ok(true)
}

/// Re-embeds every passage of `store` (open for writing with its own model) with
/// `embedder`, then switches the index to it.
pub(crate) async fn reembed_store(
    store: Store,
    cfg: &EngineConfig,
    embedder: &Arc<dyn Embedder>,
    on_progress: OnUpgrade<'_>,
) -> Result<()> {
    let mut job = store
        .reembed(embedder.model_id(), embedder.dimension())
        .await?;
    let mut progress = UpgradeProgress {
        from_model: job.from_model().to_owned(),
        to_model: embedder.model_id().to_owned(),
        done: 0,
        total: job.total(),
    };
    tracing::info!(
        from = %progress.from_model,
        to = %progress.to_model,
        passages = progress.total,
        "re-embedding the index with the configured model"
    );
    on_progress(&progress);
    loop {
        let batch = job.next_batch(cfg.batch_chunks).await?;
        if batch.is_empty() {
            break;
        }
        let texts: Vec<String> = batch.iter().map(|c| c.text.clone()).collect();
        let e = embedder.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            e.embed_passages(&refs)
        })
        .await??;
        job.write(&batch, &vectors).await?;
        progress.done = job.done();
        on_progress(&progress);
    }
    job.finish().await?;
    Ok(())
}

impl Engine {
    /// Like [`Engine::open`], and when the index was built with another embedding
    /// model, first re-embeds it with `embedder` (see the module docs), calling
    /// `on_progress` after every batch. A read-only open takes the writer lock
    /// for that time, so it fails with `StoreError::Busy` while another process
    /// writes; the process that holds the lock does the re-embedding when it opens.
    pub async fn open_with_progress(
        cfg: EngineConfig,
        embedder: Arc<dyn Embedder>,
        mode: OpenMode,
        on_progress: OnUpgrade<'_>,
    ) -> Result<Self> {
        let reembedded = reembed_if_needed(&cfg, &embedder, on_progress).await?;
        let engine = Self::open_store(cfg, embedder, mode).await?;
        if reembedded && mode == OpenMode::Write {
            // A large index gets its approximate vector index back now rather than
            // at the next ingest.
            engine.optimize().await?;
        }
        Ok(engine)
    }

    /// [`Engine::open_with_progress`] with the embedder installed in `models`.
    pub async fn open_with_models_and_progress(
        cfg: EngineConfig,
        models: &crate::ModelsDir,
        mode: OpenMode,
        on_progress: OnUpgrade<'_>,
    ) -> Result<Self> {
        let embedder = models.embedder()?;
        Self::open_with_progress(cfg, embedder, mode, on_progress).await
    }
}

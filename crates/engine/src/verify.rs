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
//! `cairn` binary are built on it.

use crate::{Engine, Result};
pub use cairn_store::{DocCheck, OrphanCheck, VerifyReport};

impl Engine {
    /// Compares the three stores document by document (see the module docs).
    pub async fn verify(&self) -> Result<VerifyReport> {
        Ok(self.store.verify().await?)
    }
}

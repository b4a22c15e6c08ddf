//! placeholder
pub struct ChunkConfig;
pub fn chunk_document() {}

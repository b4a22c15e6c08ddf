//! Synthetic data for benchmarks: fills an index with generated chunks so that
//! search latency can be measured at sizes no test corpus reaches.
//!
//! Texts are drawn from a Zipf-like vocabulary (so BM25 posting lists have realistic
//! skew) and vectors from a mixture of random topic centroids plus noise (so the
//! vector index sees clustered, embedding-like data rather than uniform noise).

use crate::Result;
use cairn_engine::ingest::EmbeddedDocument;
use cairn_engine::{Chunk, Engine};

/// A small deterministic PRNG (xorshift64*), enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (sum of uniforms).
    pub fn normal(&mut self) -> f32 {
        ((0..6).map(|_| self.unit()).sum::<f64>() - 3.0) as f32
    }
}

/// A generated vocabulary word for rank `i` (pronounceable, unique).
pub fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "be", "do", "fu", "ga", "hi", "ja", "pe",
        "zu",
    ];
    let mut n = i + 16;
    let mut s = String::new();
    while n > 0 {
        s.push_str(SYL[n % 16]);
        n /= 16;
    }
    s
}

/// Draws a word rank with a Zipf-like distribution over `vocab` words.
pub fn zipf(rng: &mut Rng, vocab: usize) -> usize {
    // Inverse-transform sampling of a 1/x density over [1, vocab].
    let u = rng.unit();
    ((vocab as f64).powf(u) as usize)
        .saturating_sub(1)
        .min(vocab - 1)
}

fn unit_vec(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// Parameters of a synthetic corpus.
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    pub chunks: usize,
    pub chunks_per_doc: usize,
    pub words_per_chunk: usize,
    pub vocab: usize,
    pub topics: usize,
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Synthetic {
            chunks: 100_000,
            chunks_per_doc: 50,
            words_per_chunk: 150,
            vocab: 50_000,
            topics: 256,
            seed: 7,
        }
    }
}

/// Writes `spec.chunks` synthetic chunks through the engine's normal write path.
pub async fn populate(
    engine: &Engine,
    spec: &Synthetic,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<()> {
    let dim = engine.embedder().dimension();
    let mut rng = Rng::new(spec.seed);
    let centroids: Vec<Vec<f32>> = (0..spec.topics)
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
            unit_vec(&mut c);
            c
        })
        .collect();
    let mut written = 0usize;
    let mut doc_no = 0usize;
    while written < spec.chunks {
        let mut docs = Vec::new();
        let mut batch = 0usize;
        while batch < 5_000 && written + batch < spec.chunks {
            let n = spec.chunks_per_doc.min(spec.chunks - written - batch);
            let mut chunks = Vec::with_capacity(n);
            let mut vectors = Vec::with_capacity(n);
            for o in 0..n {
                let text: Vec<String> = (0..spec.words_per_chunk)
                    .map(|_| word(zipf(&mut rng, spec.vocab)))
                    .collect();
                let text = text.join(" ");
                let topic = &centroids[(rng.next_u64() as usize) % spec.topics];
                let mut v: Vec<f32> = topic.iter().map(|c| c + 0.08 * rng.normal()).collect();
                unit_vec(&mut v);
                chunks.push(Chunk {
                    ordinal: o as u32,
                    page: None,
                    start: 0,
                    end: text.chars().count(),
                    heading_path: Vec::new(),
                    tokens: spec.words_per_chunk,
                    text,
                });
                vectors.push(v);
            }
            docs.push(EmbeddedDocument {
                path: format!("/synthetic/doc-{doc_no:06}.txt"),
                format: cairn_engine::Format::Text,
                pages: 1,
                content_hash: format!("synthetic-{doc_no}"),
                chunks,
                vectors,
            });
            batch += n;
            doc_no += 1;
        }
        engine.write_embedded(docs).await?;
        written += batch;
        progress(written);
    }
    engine.optimize().await?;
    Ok(())
}

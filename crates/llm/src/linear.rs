//! Linear layers over quantized weights.
//!
//! Weights in a format Cairn's own kernels run (`cairn-kernels`: Q4_0, Q4_1,
//! Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) are repacked into panels at load and
//! multiplied there: int8 activations quantized once per input, SIMD chosen
//! at run time, the panels split between the kernels' threads. Anything else
//! (F16, Q2_K, Q3_K…, or a GPU device) stays with candle's `QMatMul`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, OnceLock};

use cairn_kernels::{Activations, Format, Isa, Packed, Pool};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

/// The kernels' thread pool, shared by every model of the process. Its size is
/// candle's thread count (`RAYON_NUM_THREADS`, else the physical cores).
pub(crate) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(candle_core::utils::get_num_threads()))
}

/// Runs `f` (a forward pass) on a thread of a rayon pool of the decoder's own.
///
/// candle splits softmax and the norms over rayon's current pool. Called from a
/// thread outside any pool, each such op hands its rows to a pool thread and
/// sleeps until they are done: about a hundred hand-offs (futex wakes and
/// context switches) per token, 5 % of a decode step at one thread. On a pool
/// thread they run in place, and the pass pays one hand-off. The pool is not
/// rayon's global one, which other libraries (LanceDB, tokenizers) also fill:
/// a global worker waiting in their work could pick up a forward pass, or
/// this pass theirs, and each would hold up the other. Without the pool (its
/// threads could not be started) `f` runs on the calling thread.
pub(crate) fn run_in_decode_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(candle_core::utils::get_num_threads())
            .thread_name(|i| format!("cairn-decode-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// The instruction set the kernels use on this CPU (see `cairn_kernels::Isa`).
pub fn kernel_isa() -> Isa {
    Isa::detect()
}

fn format_of(dtype: GgmlDType) -> Option<Format> {
    Some(match dtype {
        GgmlDType::Q4_0 => Format::Q4_0,
        GgmlDType::Q4_1 => Format::Q4_1,
        GgmlDType::Q5_0 => Format::Q5_0,
        GgmlDType::Q5_1 => Format::Q5_1,
        GgmlDType::Q8_0 => Format::Q8_0,
        GgmlDType::Q4K => Format::Q4K,
        GgmlDType::Q5K => Format::Q5K,
        GgmlDType::Q6K => Format::Q6K,
        _ => return None,
    })
}

/// Whether Cairn's kernels can run a tensor of this type on this device.
pub(crate) fn packable(t: &QTensor) -> bool {
    matches!(t.device(), Device::Cpu)
        && t.shape()
            .dims2()
            .is_ok_and(|(_, k)| kernel_format(t.dtype(), k).is_some())
}

/// The kernels' format for rows of `k` values of `dtype`, if they run it.
pub(crate) fn kernel_format(dtype: GgmlDType, k: usize) -> Option<Format> {
    format_of(dtype).filter(|f| k.is_multiple_of(f.block_values()))
}

/// Repacks a 2-D quantized tensor for the kernels.
pub(crate) fn pack(t: &QTensor) -> Result<Packed> {
    let format = format_of(t.dtype())
        .ok_or_else(|| candle_core::Error::Msg(format!("{:?} is not packable", t.dtype())))?;
    let (n, k) = t.shape().dims2()?;
    let data = t.data()?;
    Packed::from_gguf(format, n, k, &data).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// A weight matrix `W` (`n × k`) applied as `x · Wᵀ`.
#[derive(Debug)]
pub(crate) enum Linear {
    Packed(Arc<Packed>),
    Candle(QMatMul),
    /// An output head scored with a smaller copy of its matrix (see [`RefinedHead`]).
    Refined(Arc<RefinedHead>),
}

impl Linear {
    pub fn from_qtensor(t: QTensor) -> Result<Self> {
        if packable(&t) {
            return Ok(Linear::Packed(Arc::new(pack(&t)?)));
        }
        Ok(Linear::Candle(QMatMul::from_qtensor(t)?))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut out = forward_many(x, &[self])?;
        Ok(out.pop().expect("one output per layer"))
    }
}

/// The outputs of several layers on the same input (q, k and v, or gate and
/// up), quantizing the input once for all of them.
pub(crate) fn forward_many(x: &Tensor, layers: &[&Linear]) -> Result<Vec<Tensor>> {
    let formats: Vec<Format> = layers
        .iter()
        .flat_map(|l| match l {
            Linear::Packed(p) => vec![p.format()],
            Linear::Refined(h) => vec![h.table.format(), h.format],
            Linear::Candle(_) => Vec::new(),
        })
        .collect();
    if formats.is_empty() {
        return layers
            .iter()
            .map(|l| match l {
                Linear::Candle(q) => q.forward(x),
                Linear::Packed(_) | Linear::Refined(_) => unreachable!("no packed layer"),
            })
            .collect();
    }
    let dims = x.dims().to_vec();
    let k = *dims
        .last()
        .ok_or_else(|| candle_core::Error::Msg("a scalar input".into()))?;
    let m = x.elem_count() / k.max(1);
    let xs: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let act = Activations::quantize(&xs, m, k, &formats);
    let isa = kernel_isa();
    layers
        .iter()
        .map(|l| match l {
            Linear::Packed(w) => {
                let mut y = vec![0f32; m * w.rows()];
                cairn_kernels::matmul(pool(), isa, w, &act, &mut y);
                let mut shape = dims.clone();
                *shape.last_mut().expect("checked above") = w.rows();
                Tensor::from_vec(y, shape, x.device())
            }
            Linear::Refined(h) => {
                let y = h.forward(isa, &act)?;
                let mut shape = dims.clone();
                *shape.last_mut().expect("checked above") = h.table.rows();
                Tensor::from_vec(y, shape, x.device())
            }
            Linear::Candle(q) => q.forward(x),
        })
        .collect()
}

/// How many of the smaller copy's best-scored entries the head's own rows
/// score again, per token.
const RESCORED: usize = 64;

/// The most entries one token's fallback rescoring reads (see [`RefinedHead`]).
const MORE_AT_MOST: usize = 4096;

/// An output head scored with a smaller quantization of the same matrix.
///
/// Models with tied embeddings (Qwen2.5 0.5B to 3B, SmolLM2…) are often saved
/// with their one matrix twice: as the token table (`token_embd`, Q5_0 in
/// Qwen2.5-Coder 0.5B's Q4_K_M file: 89 MiB) and as the output head
/// (`output.weight`, Q8_0: 138 MiB). Here the table, which the embedding
/// lookups need anyway, scores the whole vocabulary; the head's own rows of
/// its best 64 entries are read from the file and score those again, with the
/// same kernel a resident head would use. Their logits are then the head's to
/// the bit, and the next token is the one the resident head would pick
/// whenever that token is among the table's best 64 (the two copies differ
/// by the table's rounding, a few hundredths of a logit). Entries outside the
/// 64 keep the table's score, which only the tail of a sampling distribution
/// sees. The head costs 49 MiB less memory and reads 35 % fewer bytes per token.
#[derive(Debug)]
pub(crate) struct RefinedHead {
    /// The token table, resident and packed (shared with the embedding).
    table: Arc<Packed>,
    /// The head's own rows, left in the model file.
    rows: FileRows,
    /// Their format.
    format: Format,
}

impl RefinedHead {
    /// A head whose rows lie in `rows` (of a packable `format`), scored first
    /// with `table` (the same `n × k` matrix, stored smaller).
    pub fn new(table: Arc<Packed>, rows: FileRows, format: Format) -> Result<Self> {
        if (table.rows(), table.cols()) != (rows.rows, rows.cols) {
            candle_core::bail!(
                "a {}×{} table cannot score a {}×{} head",
                table.rows(),
                table.cols(),
                rows.rows,
                rows.cols
            );
        }
        Ok(Self {
            table,
            rows,
            format,
        })
    }

    /// Logits for the `m` rows of `act` (quantized for both formats), `m × n`.
    fn forward(&self, isa: Isa, act: &Activations) -> Result<Vec<f32>> {
        let (m, n) = (act.rows(), self.table.rows());
        let mut y = vec![0f32; m * n];
        cairn_kernels::matmul(pool(), isa, &self.table, act, &mut y);
        if n == 0 {
            return Ok(y);
        }
        let mut ids: Vec<u32> = Vec::new();
        // Per row, the lowest table score among its best: every entry left
        // with a table score is at most that.
        let mut floors: Vec<f32> = Vec::with_capacity(m);
        for row in y.chunks_exact(n) {
            let (top, floor) = best(row, RESCORED);
            ids.extend(top);
            floors.push(floor);
        }
        ids.sort_unstable();
        ids.dedup();
        self.rescore(isa, act, &ids, &mut y)?;
        // Should an entry left with its table score beat the row's best
        // rescored logit (the copies disagreeing by more than the spread of the
        // best 64: not seen with real files), every entry the table scores that
        // high is rescored as well, so the row's best logit is the head's own.
        let mut more: Vec<u32> = Vec::new();
        for (row, &floor) in y.chunks_exact(n).zip(&floors) {
            let exact_best = ids
                .iter()
                .map(|&i| row[i as usize])
                .fold(f32::NEG_INFINITY, f32::max);
            if exact_best.is_finite() && exact_best < floor {
                let mut extra: Vec<u32> = (0..n as u32)
                    .filter(|&i| row[i as usize] >= exact_best && ids.binary_search(&i).is_err())
                    .collect();
                // Bounded: a head whose rows give no finite scores could
                // otherwise pull the whole vocabulary in, for one token.
                if extra.len() > MORE_AT_MOST {
                    extra.sort_unstable_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]));
                    extra.truncate(MORE_AT_MOST);
                }
                more.extend(extra);
            }
        }
        if !more.is_empty() {
            more.sort_unstable();
            more.dedup();
            self.rescore(isa, act, &more, &mut y)?;
        }
        Ok(y)
    }

    /// Overwrites the logits of `ids` (sorted) in every row of `y` with the
    /// head's own.
    fn rescore(&self, isa: Isa, act: &Activations, ids: &[u32], y: &mut [f32]) -> Result<()> {
        let n = self.table.rows();
        if ids.is_empty() || n == 0 {
            return Ok(());
        }
        let raw = self.rows.raw(ids)?;
        let exact = Packed::from_gguf(self.format, ids.len(), self.rows.cols, &raw)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut z = vec![0f32; act.rows() * ids.len()];
        cairn_kernels::matmul(pool(), isa, &exact, act, &mut z);
        for (row, scores) in y.chunks_exact_mut(n).zip(z.chunks_exact(ids.len())) {
            for (&id, &s) in ids.iter().zip(scores) {
                row[id as usize] = s;
            }
        }
        Ok(())
    }
}

/// The indices of the `k` largest values of `row` (fewer if it is shorter;
/// NaNs never count), and the smallest of them.
fn best(row: &[f32], k: usize) -> (Vec<u32>, f32) {
    if k == 0 {
        return (Vec::new(), f32::INFINITY);
    }
    let mut top: Vec<(f32, u32)> = Vec::with_capacity(k);
    // The smallest kept value and where it sits in `top`, once `top` is full.
    let mut floor = (f32::NEG_INFINITY, 0usize);
    let smallest = |top: &[(f32, u32)]| {
        top.iter().enumerate().fold(
            (f32::INFINITY, 0),
            |acc, (at, &(v, _))| if v < acc.0 { (v, at) } else { acc },
        )
    };
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if top.len() < k {
            top.push((v, i as u32));
            if top.len() == k {
                floor = smallest(&top);
            }
        } else if v > floor.0 {
            top[floor.1] = (v, i as u32);
            floor = smallest(&top);
        }
    }
    let low = top.iter().map(|t| t.0).fold(f32::INFINITY, f32::min);
    (top.into_iter().map(|(_, i)| i).collect(), low)
}

/// A token-embedding table: rows dequantized when looked up.
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    /// Shared with a tied output head.
    Packed(Arc<Packed>),
    Candle(Arc<QTensor>),
    /// Left in the model file and read a row at a time: a table the output
    /// head does not share is only ever looked up, a few rows per token, so
    /// keeping it in memory (94 MB for Qwen2.5 0.5B) buys nothing.
    File(Arc<FileRows>),
}

/// A quantized `rows × cols` table stored at `offset` in a GGUF file. The file
/// is expected to stay as it was while the model is loaded: replacing it with a
/// new file (as a package upgrade does) is fine, the open descriptor keeps the
/// old contents; rewriting it in place is not, and a row cut off by a shorter
/// file is an error.
#[derive(Debug)]
pub(crate) struct FileRows {
    file: Mutex<File>,
    offset: u64,
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
}

impl FileRows {
    /// A table of `dtype` values at `offset` in `file`, whose length is checked
    /// here so a truncated file fails at load, not at the first lookup.
    pub fn new(
        file: File,
        offset: u64,
        dtype: GgmlDType,
        rows: usize,
        cols: usize,
    ) -> Result<Self> {
        let block = dtype.block_size();
        if block == 0 || !cols.is_multiple_of(block) {
            candle_core::bail!("rows of {cols} values do not split into {dtype:?} blocks");
        }
        let row_bytes = cols / block * dtype.type_size();
        let end = rows
            .checked_mul(row_bytes)
            .and_then(|n| offset.checked_add(n as u64))
            .ok_or_else(|| candle_core::Error::Msg("the token table's size overflows".into()))?;
        // The length, not a seek: this descriptor shares its offset with the
        // loader's, which is still reading the file.
        let len = file.metadata()?.len();
        if end > len {
            candle_core::bail!(
                "the token table ends at byte {end} but the file has only {len} bytes"
            );
        }
        Ok(Self {
            file: Mutex::new(file),
            offset,
            dtype,
            rows,
            cols,
            row_bytes,
        })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The stored bytes of rows `ids`, one after the other.
    fn raw(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut raw = vec![0u8; ids.len() * self.row_bytes];
        let mut file = self
            .file
            .lock()
            .map_err(|_| candle_core::Error::Msg("the model file lock is poisoned".into()))?;
        for (row, id) in raw.chunks_exact_mut(self.row_bytes).zip(ids) {
            let id = *id as usize;
            if id >= self.rows {
                candle_core::bail!("token id {id} is beyond the vocabulary of {}", self.rows);
            }
            file.seek(SeekFrom::Start(self.offset + (id * self.row_bytes) as u64))?;
            file.read_exact(row)?;
        }
        Ok(raw)
    }

    /// Rows `ids` dequantized, shape `(ids.len(), cols)`.
    pub fn lookup(&self, ids: &[u32]) -> Result<Tensor> {
        let raw = self.raw(ids)?;
        let q = candle_core::quantized::ggml_file::qtensor_from_ggml(
            self.dtype,
            &raw,
            vec![ids.len(), self.cols],
            &Device::Cpu,
        )?;
        q.dequantize(&Device::Cpu)
    }
}

impl Embedding {
    /// The embeddings of `ids` (shape `(batch, len)`), shape `(batch, len, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Candle(q) => q.embedding(ids),
            Embedding::Packed(p) => {
                let (b, len) = ids.dims2()?;
                let hidden = p.cols();
                let ids: Vec<u32> = ids.flatten_all()?.to_vec1()?;
                let mut out = vec![0f32; ids.len() * hidden];
                for (row, id) in out.chunks_exact_mut(hidden).zip(&ids) {
                    let id = *id as usize;
                    if id >= p.rows() {
                        candle_core::bail!(
                            "token id {id} is beyond the vocabulary of {}",
                            p.rows()
                        );
                    }
                    p.dequantize_row(id, row);
                }
                // Packed tables only exist on the CPU (see `packable`).
                Tensor::from_vec(out, (b, len, hidden), &Device::Cpu)
            }
            Embedding::File(rows) => {
                let (b, len) = ids.dims2()?;
                let ids: Vec<u32> = ids.flatten_all()?.to_vec1()?;
                rows.lookup(&ids)?.reshape((b, len, rows.cols))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// A `rows × cols` table quantized to `dtype`, as the GGUF bytes.
    fn table(dtype: GgmlDType, rows: usize, cols: usize) -> (QTensor, Vec<u8>) {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let t = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, dtype).unwrap();
        let bytes = q.data().unwrap().to_vec();
        (q, bytes)
    }

    #[test]
    fn rows_read_from_the_file_equal_the_table_in_memory() {
        for dtype in [GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K] {
            let (rows, cols) = (40, 256);
            let (q, bytes) = table(dtype, rows, cols);
            // The table starts after other bytes, as in a GGUF file.
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&[0xAB; 96]).unwrap();
            f.write_all(&bytes).unwrap();
            f.write_all(&[0xCD; 7]).unwrap();
            let from_file =
                Embedding::File(Arc::new(FileRows::new(f, 96, dtype, rows, cols).unwrap()));
            let in_memory = Embedding::Packed(Arc::new(pack(&q).unwrap()));
            let ids = Tensor::new(&[[3u32, 0, 39, 3]], &Device::Cpu).unwrap();
            let a = from_file.forward(&ids).unwrap();
            let b = in_memory.forward(&ids).unwrap();
            assert_eq!(a.dims(), &[1, 4, cols]);
            let (a, b): (Vec<f32>, Vec<f32>) = (
                a.flatten_all().unwrap().to_vec1().unwrap(),
                b.flatten_all().unwrap().to_vec1().unwrap(),
            );
            assert_eq!(a, b, "{dtype:?}");
            let beyond = Tensor::new(&[[40u32]], &Device::Cpu).unwrap();
            let err = from_file.forward(&beyond).unwrap_err().to_string();
            assert!(err.contains("beyond the vocabulary"), "{err}");
        }
    }

    /// The values of a `rows × cols` matrix, spread over [-1, 1).
    pub(crate) fn matrix(rows: usize, cols: usize, seed: u64) -> Tensor {
        let mut state = seed;
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()
    }

    /// `q`'s bytes in a file after 96 other bytes, as rows left there.
    pub(crate) fn rows_in_a_file(q: &QTensor) -> FileRows {
        let (rows, cols) = q.shape().dims2().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0xAB; 96]).unwrap();
        f.write_all(&q.data().unwrap()).unwrap();
        FileRows::new(f, 96, q.dtype(), rows, cols).unwrap()
    }

    #[test]
    fn a_refined_head_scores_its_best_with_the_head_s_own_rows() {
        let (vocab, hidden) = (300, 64);
        let w = matrix(vocab, hidden, 7);
        let head = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let table = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let table = Arc::new(pack(&table).unwrap());
        let resident = Linear::Packed(Arc::new(pack(&head).unwrap()));
        let refined = Linear::Refined(Arc::new(
            RefinedHead::new(table.clone(), rows_in_a_file(&head), Format::Q8_0).unwrap(),
        ));
        let approx = Linear::Packed(table);
        let x = matrix(3, hidden, 11);
        let rows = |l: &Linear| -> Vec<Vec<f32>> { l.forward(&x).unwrap().to_vec2().unwrap() };
        let (want, got, cheap) = (rows(&resident), rows(&refined), rows(&approx));
        // Every token row is rescored at the best entries of any of them.
        let rescored: Vec<u32> = cheap.iter().flat_map(|r| best(r, RESCORED).0).collect();
        for ((want, got), cheap) in want.iter().zip(&got).zip(&cheap) {
            let argmax = |r: &[f32]| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, v)| (i, *v))
                    .unwrap()
            };
            // The best logit is the resident head's, to the bit.
            assert_eq!(argmax(got), argmax(want));
            assert_eq!(best(cheap, RESCORED).0.len(), RESCORED);
            for i in 0..vocab {
                if rescored.contains(&(i as u32)) {
                    assert_eq!(got[i].to_bits(), want[i].to_bits(), "entry {i}");
                } else {
                    assert_eq!(got[i].to_bits(), cheap[i].to_bits(), "entry {i}");
                }
            }
            // The copies differ by rounding only: the table's scores are close
            // to the head's (within 5 % of their spread), not equal.
            let spread = want.iter().cloned().fold(f32::MIN, f32::max)
                - want.iter().cloned().fold(f32::MAX, f32::min);
            assert!(cheap.iter().zip(want).any(|(a, b)| a != b));
            assert!(cheap
                .iter()
                .zip(want)
                .all(|(a, b)| (a - b).abs() < 0.05 * spread));
        }
    }

    #[test]
    fn a_table_that_overrates_every_entry_still_leaves_the_head_s_best_on_top() {
        // A table scoring every entry ten times the head: its 64th best beats
        // the head's best, so the entries it rates above that are rescored too.
        let (vocab, hidden) = (300, 64);
        let w = matrix(vocab, hidden, 5);
        let head = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let loud = QTensor::quantize(&(&w * 10.0).unwrap(), GgmlDType::Q8_0).unwrap();
        let refined = Linear::Refined(Arc::new(
            RefinedHead::new(
                Arc::new(pack(&loud).unwrap()),
                rows_in_a_file(&head),
                Format::Q8_0,
            )
            .unwrap(),
        ));
        let resident = Linear::Packed(Arc::new(pack(&head).unwrap()));
        let x = matrix(2, hidden, 9);
        let got: Vec<Vec<f32>> = refined.forward(&x).unwrap().to_vec2().unwrap();
        let want: Vec<Vec<f32>> = resident.forward(&x).unwrap().to_vec2().unwrap();
        for (got, want) in got.iter().zip(&want) {
            let top = |r: &[f32]| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, v)| (i, v.to_bits()))
                    .unwrap()
            };
            assert_eq!(top(got), top(want));
            let exact = got.iter().zip(want).filter(|(a, b)| a == b).count();
            assert!(exact > RESCORED + 20, "the fallback rescored more: {exact}");
        }
    }

    #[test]
    fn best_keeps_the_largest_values_and_skips_nans() {
        let row = [0.5, f32::NAN, 3.0, -1.0, 2.0, 3.0, f32::NEG_INFINITY];
        let (mut top, floor) = best(&row, 3);
        top.sort_unstable();
        assert_eq!(top, vec![2, 4, 5]);
        assert_eq!(floor, 2.0);
        let (all, floor) = best(&row, 10);
        assert_eq!(all.len(), 6, "every value but the NaN");
        assert_eq!(floor, f32::NEG_INFINITY);
        assert_eq!(best(&row, 0), (Vec::new(), f32::INFINITY));
        assert_eq!(best(&[f32::NAN; 3], 2), (Vec::new(), f32::INFINITY));
    }

    #[test]
    fn a_table_cut_short_is_refused_at_load() {
        let (_, bytes) = table(GgmlDType::Q8_0, 8, 64);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes[..bytes.len() - 1]).unwrap();
        let err = FileRows::new(f, 0, GgmlDType::Q8_0, 8, 64).unwrap_err();
        assert!(err.to_string().contains("only"), "{err}");
    }
}

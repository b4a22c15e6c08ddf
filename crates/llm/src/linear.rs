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
        && format_of(t.dtype()).is_some_and(|f| {
            t.shape()
                .dims2()
                .is_ok_and(|(_, k)| k.is_multiple_of(f.block_values()))
        })
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
        .filter_map(|l| match l {
            Linear::Packed(p) => Some(p.format()),
            Linear::Candle(_) => None,
        })
        .collect();
    if formats.is_empty() {
        return layers
            .iter()
            .map(|l| match l {
                Linear::Candle(q) => q.forward(x),
                Linear::Packed(_) => unreachable!("no packed layer"),
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
            Linear::Candle(q) => q.forward(x),
        })
        .collect()
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

    fn lookup(&self, ids: &[u32]) -> Result<Tensor> {
        let mut raw = vec![0u8; ids.len() * self.row_bytes];
        {
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
        }
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
mod tests {
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

    #[test]
    fn a_table_cut_short_is_refused_at_load() {
        let (_, bytes) = table(GgmlDType::Q8_0, 8, 64);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes[..bytes.len() - 1]).unwrap();
        let err = FileRows::new(f, 0, GgmlDType::Q8_0, 8, 64).unwrap_err();
        assert!(err.to_string().contains("only"), "{err}");
    }
}

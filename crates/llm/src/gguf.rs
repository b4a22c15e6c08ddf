//! Typed access to GGUF metadata.
//!
//! candle parses the GGUF header into a map of loosely typed [`Value`]s; the
//! helpers here turn missing or mistyped keys into [`LlmError::BadModel`]
//! with the key in the message, so a broken file explains itself.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};

use crate::LlmError;

/// The parsed header of a GGUF file: metadata and tensor descriptions, no weights.
pub(crate) struct Header {
    pub content: Content,
}

impl Header {
    /// Reads only the header; the tensor data stays on disk.
    pub fn read(path: &Path) -> Result<Self, LlmError> {
        let file = File::open(path).map_err(|source| LlmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| LlmError::BadModel {
            path: path.to_path_buf(),
            reason: format!("not a readable gguf file: {e}"),
        })?;
        Ok(Self { content })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn string(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    /// Reads an unsigned integer whatever its stored width (writers differ).
    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.to_bool().ok())
    }

    pub fn array(&self, key: &str) -> Option<&Vec<Value>> {
        self.get(key).and_then(|v| v.to_vec().ok())
    }

    /// The model family, e.g. `llama`, `qwen2`, `gemma3`.
    pub fn architecture(&self) -> Option<&str> {
        self.string("general.architecture")
    }

    /// Training context length declared by the file, if any.
    pub fn context_length(&self) -> Option<usize> {
        let arch = self.architecture()?;
        self.uint(&format!("{arch}.context_length"))
            .and_then(|v| usize::try_from(v).ok())
    }
}

/// Converts an array of GGUF strings, failing on the first non-string element.
pub(crate) fn strings(values: &[Value]) -> Option<Vec<&str>> {
    values
        .iter()
        .map(|v| v.to_string().ok().map(String::as_str))
        .collect()
}

/// Converts a numeric GGUF array into `f32`s.
pub(crate) fn floats(values: &[Value]) -> Option<Vec<f32>> {
    values
        .iter()
        .map(|v| match v {
            Value::F32(f) => Some(*f),
            Value::F64(f) => Some(*f as f32),
            _ => None,
        })
        .collect()
}

/// Converts an integer GGUF array into `i32`s.
pub(crate) fn ints(values: &[Value]) -> Option<Vec<i32>> {
    values
        .iter()
        .map(|v| match v {
            Value::I32(i) => Some(*i),
            Value::U32(u) => i32::try_from(*u).ok(),
            Value::I8(i) => Some(i32::from(*i)),
            Value::U8(u) => Some(i32::from(*u)),
            Value::I16(i) => Some(i32::from(*i)),
            Value::U16(u) => Some(i32::from(*u)),
            Value::I64(i) => i32::try_from(*i).ok(),
            Value::U64(u) => i32::try_from(*u).ok(),
            _ => None,
        })
        .collect()
}

//! A tokenizer rebuilt from the vocabulary embedded in a GGUF file.
//!
//! Most GGUF files ship without a `tokenizer.json`, but they carry the whole
//! vocabulary under `tokenizer.ggml.*`. Two families are rebuilt here with the
//! `tokenizers` crate so that the ids match llama.cpp's:
//!
//! - byte-level BPE (`tokenizer.ggml.model = gpt2`: SmolLM2, Llama 3, Qwen):
//!   tokens + merges, with the pre-tokenizer regexes llama.cpp uses for the
//!   file's `tokenizer.ggml.pre`;
//! - SentencePiece-style (`tokenizer.ggml.model = llama`: Gemma, Phi-3,
//!   Llama 2): pieces with scores and no merges. llama.cpp merges the adjacent
//!   pair whose result has the highest score; that is a BPE whose merges are
//!   ranked by the score of the piece they produce, so we derive those merges.
//!
//! Control tokens (`<|im_start|>`, `<end_of_turn>` …) are deliberately *not*
//! registered with the inner tokenizer: ordinary text that merely looks like
//! them is tokenized as text, exactly like llama.cpp with `parse_special =
//! false`. That keeps a retrieved document from forging a chat turn. Only
//! [`TextTokenizer::encode_with_specials`], used for our own templates,
//! turns their spelling into the control ids.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence as NormSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, TokenizerImpl};

use crate::bpe::CompactBpe;

use crate::gguf::{floats, ints, strings, Header};
use crate::LlmError;

/// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
const TYPE_NORMAL: i32 = 1;
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;

/// llama.cpp's split regexes. Each listed regex is applied in turn to the
/// pieces left by the previous one, which `Split(Isolated)` reproduces.
const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Which algorithm the vocabulary uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// Byte-level BPE rebuilt from GGUF tokens and merges.
    ByteLevelBpe,
    /// SentencePiece-style pieces and scores, merges derived from scores.
    SentencePiece,
    /// A `tokenizer.json` found next to the model file.
    TokenizerJson,
}

/// The `tokenizers` pipeline (split, byte mapping, decoder) around a compact
/// byte-level BPE.
type CompactTokenizer = TokenizerImpl<
    CompactBpe,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// The tokenizer proper: byte-level BPE vocabularies use [`CompactBpe`] (7
/// MiB for Qwen2.5's 151,936 tokens, where the crate's own BPE holds 23),
/// the others the `tokenizers` crate's models.
enum Inner {
    Crate(Box<tokenizers::Tokenizer>),
    Compact(Box<CompactTokenizer>),
}

impl Inner {
    fn encode(&self, text: &str) -> tokenizers::Result<Vec<u32>> {
        Ok(match self {
            Inner::Crate(t) => t.encode_fast(text, false)?.get_ids().to_vec(),
            Inner::Compact(t) => t.encode_fast(text, false)?.get_ids().to_vec(),
        })
    }

    fn decode(&self, ids: &[u32]) -> tokenizers::Result<String> {
        match self {
            Inner::Crate(t) => t.decode(ids, false),
            Inner::Compact(t) => t.decode(ids, false),
        }
    }

    fn token_to_id(&self, text: &str) -> Option<u32> {
        match self {
            Inner::Crate(t) => t.token_to_id(text),
            Inner::Compact(t) => t.token_to_id(text),
        }
    }

    fn vocab_size(&self) -> usize {
        match self {
            Inner::Crate(t) => t.get_vocab_size(true),
            Inner::Compact(t) => t.get_vocab_size(true),
        }
    }

    fn add_tokens(&mut self, tokens: Vec<AddedToken>) -> tokenizers::Result<usize> {
        match self {
            Inner::Crate(t) => t.add_tokens(tokens),
            Inner::Compact(t) => t.add_tokens(tokens),
        }
    }
}

/// Tokenizer for one model, built from its GGUF metadata.
pub struct TextTokenizer {
    inner: Inner,
    kind: TokenizerKind,
    /// Control tokens by spelling, longest first, for template text.
    control: Vec<(String, u32)>,
    /// Ids that never appear in decoded output (control and unknown tokens).
    hidden: HashSet<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("kind", &self.kind)
            .field("vocab", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

fn tok_err(path: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl TextTokenizer {
    /// Reads the GGUF header at `path` and builds its tokenizer.
    pub fn from_gguf(path: &Path) -> Result<Self, LlmError> {
        let header = Header::read(path)?;
        Self::from_header(&header, path)
    }

    pub(crate) fn from_header(h: &Header, path: &Path) -> Result<Self, LlmError> {
        let model = h.string("tokenizer.ggml.model").unwrap_or("");
        let has_vocab = h.array("tokenizer.ggml.tokens").is_some();
        match (model, has_vocab) {
            ("gpt2", true) => Self::byte_level_bpe(h, path, true),
            ("llama", true) => Self::sentencepiece(h, path),
            _ => {
                let json = path.with_file_name("tokenizer.json");
                if json.is_file() {
                    Self::from_tokenizer_json(h, &json)
                } else {
                    Err(tok_err(
                        path,
                        format!(
                            "unsupported tokenizer model {model:?} in gguf metadata and no tokenizer.json next to the file"
                        ),
                    ))
                }
            }
        }
    }

    /// The algorithm in use.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Encodes plain text. Control-token spellings inside it stay text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .encode(text)
            .map_err(|e| LlmError::Runtime(format!("tokenizer failed: {e}")))
    }

    /// Encodes template text in which control-token spellings such as
    /// `<|im_start|>` stand for the control tokens themselves.
    pub fn encode_with_specials(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // Earliest match wins; at one position the longest (the list is sorted so).
            let mut best: Option<(usize, usize, u32)> = None;
            for (spelling, id) in &self.control {
                if let Some(pos) = rest.find(spelling.as_str()) {
                    if best.is_none_or(|(p, _, _)| pos < p) {
                        best = Some((pos, spelling.len(), *id));
                    }
                }
            }
            match best {
                Some((pos, len, id)) => {
                    ids.extend(self.encode(&rest[..pos])?);
                    ids.push(id);
                    rest = &rest[pos + len..];
                }
                None => {
                    ids.extend(self.encode(rest)?);
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// Decodes ids to text, leaving out control tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        let visible: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.hidden.contains(id))
            .collect();
        self.inner
            .decode(&visible)
            .map_err(|e| LlmError::Runtime(format!("detokenizer failed: {e}")))
    }

    /// Id of a token by its exact spelling (the first id of a spelling listed
    /// twice, as llama.cpp does; the vocabulary is built that way). Looked up in
    /// the tokenizer's own maps: a second copy of a 150k-entry vocabulary cost
    /// about 10 MB.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }

    /// Whether a spelling is a control token (so templates may use it).
    pub fn is_control(&self, text: &str) -> bool {
        self.control.iter().any(|(s, _)| s == text)
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// End-of-turn token declared in the metadata, if any.
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    /// Whether prompts start with the BOS token (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Number of entries in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The tokenizer of a byte-level BPE GGUF file built on the `tokenizers`
    /// crate's own BPE model, as before [`CompactBpe`]: the reference the
    /// compact model is tested against. `None` for other vocabularies.
    #[doc(hidden)]
    pub fn from_gguf_with_crate_bpe(path: &Path) -> Result<Option<Self>, LlmError> {
        let header = Header::read(path)?;
        match header.string("tokenizer.ggml.model") {
            Some("gpt2") => Self::byte_level_bpe(&header, path, false).map(Some),
            _ => Ok(None),
        }
    }

    fn byte_level_bpe(h: &Header, path: &Path, compact: bool) -> Result<Self, LlmError> {
        let common = Common::read(h, path)?;
        let merges_raw = h
            .array("tokenizer.ggml.merges")
            .and_then(|m| strings(m))
            .ok_or_else(|| tok_err(path, "byte-level bpe without tokenizer.ggml.merges"))?;
        let known: HashSet<&str> = common.tokens.iter().copied().collect();
        // A merge naming a token outside the vocabulary makes `tokenizers`
        // panic while building; llama.cpp could never apply one, so drop it.
        let merges: Vec<(&str, &str)> = merges_raw
            .iter()
            .filter_map(|m| m.split_once(' '))
            .filter(|(a, b)| {
                known.contains(a) && known.contains(b) && known.contains(format!("{a}{b}").as_str())
            })
            .collect();
        drop(known);
        let pre = h.string("tokenizer.ggml.pre").unwrap_or("default");
        let (regexes, ignore_merges): (Vec<&str>, bool) = match pre {
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => {
                (vec![LLAMA3_REGEX], true)
            }
            "qwen2" | "deepseek-r1-qwen" | "qwen35" => (vec![QWEN2_REGEX], false),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => (vec![r"\p{N}", GPT2_REGEX], false),
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gpt-4o" | "olmo" | "jais" => {
                (vec![GPT2_REGEX], false)
            }
            other => {
                tracing::warn!(
                    pre = other,
                    "unknown tokenizer.ggml.pre, using the gpt-2 split"
                );
                (vec![GPT2_REGEX], false)
            }
        };
        let mut pre_tokenizers = Vec::new();
        for re in regexes {
            let split = Split::new(
                SplitPattern::Regex(re.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| tok_err(path, format!("bad split regex: {e}")))?;
            pre_tokenizers.push(PreTokenizerWrapper::Split(split));
        }
        pre_tokenizers.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, true, false,
        )));
        let pre_tokenizer = PreSequence::new(pre_tokenizers);
        let inner = if compact {
            let bpe = CompactBpe::new(&common.tokens, &merges, ignore_merges)
                .map_err(|e| tok_err(path, format!("cannot build bpe: {e}")))?;
            let mut t = CompactTokenizer::new(bpe);
            t.with_pre_tokenizer(Some(pre_tokenizer));
            t.with_decoder(Some(ByteLevelDecoder::default()));
            Inner::Compact(Box::new(t))
        } else {
            let merges: Vec<(String, String)> = merges
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect();
            let bpe = BPE::builder()
                .vocab_and_merges(common.vocab(), merges)
                .ignore_merges(ignore_merges)
                .build()
                .map_err(|e| tok_err(path, format!("cannot build bpe: {e}")))?;
            let mut t = tokenizers::Tokenizer::new(bpe);
            t.with_pre_tokenizer(Some(pre_tokenizer));
            t.with_decoder(Some(ByteLevelDecoder::default()));
            Inner::Crate(Box::new(t))
        };
        common.finish(inner, TokenizerKind::ByteLevelBpe)
    }

    fn sentencepiece(h: &Header, path: &Path) -> Result<Self, LlmError> {
        let common = Common::read(h, path)?;
        let scores = h
            .array("tokenizer.ggml.scores")
            .and_then(|s| floats(s))
            .ok_or_else(|| tok_err(path, "sentencepiece vocabulary without scores"))?;
        if scores.len() != common.tokens.len() {
            return Err(tok_err(path, "scores and tokens differ in length"));
        }
        let merges = derive_merges(&common.tokens, &common.types, &scores);
        let mut builder = BPE::builder()
            .vocab_and_merges(common.vocab(), merges)
            .byte_fallback(true)
            .fuse_unk(true);
        if let Some(unk) = common.unk_text() {
            builder = builder.unk_token(unk);
        }
        let bpe = builder
            .build()
            .map_err(|e| tok_err(path, format!("cannot build sentencepiece bpe: {e}")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let mut norms: Vec<NormalizerWrapper> = Vec::new();
        if h.bool("tokenizer.ggml.add_space_prefix").unwrap_or(false) {
            norms.push(Prepend::new("▁".to_string()).into());
        }
        let replace =
            Replace::new(" ", "▁").map_err(|e| tok_err(path, format!("bad normalizer: {e}")))?;
        norms.push(replace.into());
        inner
            .with_normalizer(Some(NormSequence::new(norms)))
            .map_err(|e| tok_err(path, format!("bad normalizer: {e}")))?;
        let space =
            Replace::new("▁", " ").map_err(|e| tok_err(path, format!("bad decoder: {e}")))?;
        inner.with_decoder(Some(DecoderSequence::new(vec![
            DecoderWrapper::Replace(space),
            DecoderWrapper::ByteFallback(ByteFallback::new()),
            DecoderWrapper::Fuse(Fuse::new()),
        ])));
        common.finish(Inner::Crate(Box::new(inner)), TokenizerKind::SentencePiece)
    }

    fn from_tokenizer_json(h: &Header, json: &Path) -> Result<Self, LlmError> {
        let inner = tokenizers::Tokenizer::from_file(json)
            .map_err(|e| tok_err(json, format!("cannot read tokenizer.json: {e}")))?;
        let specials: Vec<(String, u32)> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, t)| (t.content, id))
            .collect();
        let id_of = |key: &str| h.uint(key).and_then(|v| u32::try_from(v).ok());
        Ok(Self::assemble(
            Inner::Crate(Box::new(inner)),
            TokenizerKind::TokenizerJson,
            specials,
            Vec::new(),
            id_of("tokenizer.ggml.bos_token_id"),
            id_of("tokenizer.ggml.eos_token_id"),
            id_of("tokenizer.ggml.eot_token_id"),
            h.bool("tokenizer.ggml.add_bos_token").unwrap_or(false),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        inner: Inner,
        kind: TokenizerKind,
        mut control: Vec<(String, u32)>,
        extra_hidden: Vec<u32>,
        bos: Option<u32>,
        eos: Option<u32>,
        eot: Option<u32>,
        add_bos: bool,
    ) -> Self {
        control.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let mut hidden: HashSet<u32> = control.iter().map(|(_, id)| *id).collect();
        hidden.extend(extra_hidden);
        Self {
            inner,
            kind,
            control,
            hidden,
            bos,
            eos,
            eot,
            add_bos,
        }
    }
}

/// Vocabulary fields shared by both GGUF tokenizer families.
struct Common<'a> {
    tokens: Vec<&'a str>,
    types: Vec<i32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
}

impl<'a> Common<'a> {
    fn read(h: &'a Header, path: &Path) -> Result<Self, LlmError> {
        let tokens = h
            .array("tokenizer.ggml.tokens")
            .and_then(|t| strings(t))
            .ok_or_else(|| tok_err(path, "tokenizer.ggml.tokens is missing or not strings"))?;
        let types = match h.array("tokenizer.ggml.token_type").and_then(|t| ints(t)) {
            Some(t) if t.len() == tokens.len() => t,
            Some(_) => return Err(tok_err(path, "token types and tokens differ in length")),
            None => vec![TYPE_NORMAL; tokens.len()],
        };
        let n = tokens.len();
        let id = |key: &str| {
            h.uint(key)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < n)
        };
        Ok(Self {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            eot: id("tokenizer.ggml.eot_token_id"),
            unk: id("tokenizer.ggml.unknown_token_id"),
            add_bos: h.bool("tokenizer.ggml.add_bos_token").unwrap_or(false),
            tokens,
            types,
        })
    }

    /// Spelling -> id. A spelling listed twice keeps its first id, as llama.cpp does.
    fn vocab(&self) -> tokenizers::models::bpe::Vocab {
        let mut vocab: HashMap<String, u32> = HashMap::with_capacity(self.tokens.len());
        for (id, t) in self.tokens.iter().enumerate() {
            vocab.entry((*t).to_string()).or_insert(id as u32);
        }
        vocab.into_iter().collect()
    }

    fn unk_text(&self) -> Option<String> {
        self.unk
            .and_then(|u| self.tokens.get(u as usize))
            .map(|s| (*s).to_string())
    }

    fn finish(self, mut inner: Inner, kind: TokenizerKind) -> Result<TextTokenizer, LlmError> {
        let mut control = Vec::new();
        let mut hidden = Vec::new();
        let mut user = Vec::new();
        for (id, (text, ty)) in self.tokens.iter().zip(&self.types).enumerate() {
            let id = id as u32;
            match *ty {
                TYPE_CONTROL => control.push(((*text).to_string(), id)),
                TYPE_UNKNOWN => hidden.push(id),
                // llama.cpp matches user-defined tokens in the raw text even when
                // it does not parse special tokens, before any normalisation.
                TYPE_USER_DEFINED => user.push(
                    AddedToken::from((*text).to_string(), false)
                        .normalized(false)
                        .special(false),
                ),
                _ => {}
            }
        }
        // Control tokens with empty spelling cannot be matched in text.
        control.retain(|(t, _)| !t.is_empty());
        if !user.is_empty() {
            inner
                .add_tokens(user)
                .map_err(|e| LlmError::Runtime(format!("cannot add user-defined tokens: {e}")))?;
        }
        Ok(TextTokenizer::assemble(
            inner,
            kind,
            control,
            hidden,
            self.bos,
            self.eos,
            self.eot,
            self.add_bos,
        ))
    }
}

/// Derives BPE merges from SentencePiece scores.
///
/// llama.cpp's SentencePiece tokenizer repeatedly merges the adjacent pair whose
/// concatenation is a vocabulary piece with the highest score. A BPE whose
/// merge list holds every way to split each piece in two, ordered by the
/// piece's score (best first), merges in the same order.
fn derive_merges(tokens: &[&str], types: &[i32], scores: &[f32]) -> Vec<(String, String)> {
    let mut ids: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        if types[id] != TYPE_BYTE {
            ids.entry(*t).or_insert(id as u32);
        }
    }
    let mut ranked: Vec<(f32, u32, usize, &str, &str)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types[id] == TYPE_BYTE || piece.chars().nth(1).is_none() {
            continue;
        }
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if ids.contains_key(left) && ids.contains_key(right) {
                ranked.push((scores[id], id as u32, split, left, right));
            }
        }
    }
    // Highest score first; ties resolved by id then split point so the order is stable.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    ranked
        .into_iter()
        .map(|(_, _, _, l, r)| (l.to_string(), r.to_string()))
        .collect()
}

/// Turns a stream of token ids into text pieces that are always whole UTF-8.
///
/// A multi-byte character can span several byte tokens; text is only released
/// once the decoded tail no longer ends in a replacement character.
#[derive(Debug, Default)]
pub struct TokenStream {
    ids: Vec<u32>,
    prev: usize,
    current: usize,
}

impl TokenStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token; returns the text it completes, if any.
    pub fn push(&mut self, tok: &TextTokenizer, id: u32) -> Result<Option<String>, LlmError> {
        let before = tok.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let now = tok.decode(&self.ids[self.prev..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') {
            if let Some(new) = now.get(before.len()..) {
                self.prev = self.current;
                self.current = self.ids.len();
                return Ok(Some(new.to_string()));
            }
        }
        Ok(None)
    }

    /// Releases whatever text is still held back at the end of generation.
    pub fn finish(&mut self, tok: &TextTokenizer) -> Result<Option<String>, LlmError> {
        let before = tok.decode(&self.ids[self.prev..self.current])?;
        let now = tok.decode(&self.ids[self.prev..])?;
        self.prev = self.ids.len();
        self.current = self.ids.len();
        match now.get(before.len()..) {
            Some(rest) if !rest.is_empty() => Ok(Some(rest.to_string())),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_merges_rank_pieces_by_score() {
        let tokens = ["a", "b", "c", "ab", "bc", "abc"];
        let types = [TYPE_NORMAL; 6];
        // "bc" scores better than "ab", so it must be merged first.
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -0.5];
        let merges = derive_merges(&tokens, &types, &scores);
        let as_str: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            as_str,
            vec![("a", "bc"), ("ab", "c"), ("b", "c"), ("a", "b")]
        );
    }
}

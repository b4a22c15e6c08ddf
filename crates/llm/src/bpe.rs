//! A byte-level BPE model that keeps a large vocabulary compactly.
//!
//! The `tokenizers` crate's BPE holds its vocabulary twice (spelling → id and
//! id → spelling, one heap string per entry in each) and its merges in a map of
//! their own: 23 MiB for Qwen2.5's 151,936 tokens, resident for as long as the
//! answer model is. Here the spellings are one byte buffer, the spelling → id
//! index and the merges are open-addressed tables of integers: about 7 MiB for
//! the same vocabulary. It plugs into the `tokenizers` pipeline as its model (the
//! regex split, the byte-to-character mapping and the decoder stay the
//! crate's), and merges exactly as its BPE does: the adjacent pair of lowest
//! rank first, the leftmost of equal ones, a merge listed twice taking its
//! last rank; with `ignore_merges` (Llama 3) a piece that is a token is kept
//! whole.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use tokenizers::models::bpe::BpeTrainer;
use tokenizers::{Model, Token};

const EMPTY: u32 = u32::MAX;

/// A merge: `(left, right)` becomes `new` at priority `rank` (lower first).
#[derive(Clone, Copy)]
struct MergeSlot {
    left: u32,
    right: u32,
    rank: u32,
    new: u32,
}

/// Byte-level BPE over a vocabulary and ranked merges (see the module docs).
pub(crate) struct CompactBpe {
    /// Every spelling, one after the other.
    text: Vec<u8>,
    /// `ends[i]`: where spelling `i` ends in `text` (it starts at `ends[i - 1]`).
    ends: Vec<u32>,
    /// Open-addressed spelling → id table: `id + 1`, 0 when empty.
    index: Vec<u32>,
    /// Open-addressed `(left, right)` → merge table; `left == EMPTY` when empty.
    merges: Vec<MergeSlot>,
    ignore_merges: bool,
}

impl std::fmt::Debug for CompactBpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactBpe")
            .field("vocab", &self.ends.len())
            .field("ignore_merges", &self.ignore_merges)
            .finish_non_exhaustive()
    }
}

/// FNV-1a: the spellings are short and the table only needs a fair spread.
fn hash_str(s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in s {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_pair(left: u32, right: u32) -> u64 {
    let key = (u64::from(left) << 32) | u64::from(right);
    // A 64-bit mix (splitmix's finaliser), so nearby ids land far apart.
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A table size for `n` entries: a power of two at most about 60 % full.
fn slots_for(n: usize) -> usize {
    (n * 5 / 3 + 1).next_power_of_two().max(16)
}

impl CompactBpe {
    /// A model over `tokens` (id = position; a spelling listed twice keeps its
    /// first id) and `merges` in rank order, given as the two spellings they
    /// join. A merge whose parts or result are not tokens is an error.
    pub fn new(
        tokens: &[&str],
        merges: &[(&str, &str)],
        ignore_merges: bool,
    ) -> Result<Self, String> {
        let total: usize = tokens.iter().map(|t| t.len()).sum();
        if tokens.len() >= EMPTY as usize || total >= EMPTY as usize {
            return Err(format!(
                "a vocabulary of {} tokens is too large",
                tokens.len()
            ));
        }
        let mut text = Vec::with_capacity(total);
        let mut ends = Vec::with_capacity(tokens.len());
        for t in tokens {
            text.extend_from_slice(t.as_bytes());
            ends.push(text.len() as u32);
        }
        let mut bpe = CompactBpe {
            text,
            ends,
            index: vec![0; slots_for(tokens.len())],
            merges: Vec::new(),
            ignore_merges,
        };
        for id in 0..tokens.len() as u32 {
            let mask = bpe.index.len() - 1;
            let mut slot = hash_str(bpe.spelling(id)) as usize & mask;
            loop {
                match bpe.index[slot] {
                    0 => {
                        bpe.index[slot] = id + 1;
                        break;
                    }
                    other if bpe.spelling(other - 1) == bpe.spelling(id) => break,
                    _ => slot = (slot + 1) & mask,
                }
            }
        }
        let empty = MergeSlot {
            left: EMPTY,
            right: EMPTY,
            rank: 0,
            new: 0,
        };
        bpe.merges = vec![empty; slots_for(merges.len())];
        let mut joined = String::new();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let id = |s: &str| {
                bpe.id(s)
                    .ok_or_else(|| format!("merge {rank} ({a} {b}): {s:?} is not a token"))
            };
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let (left, right, new) = (id(a)?, id(b)?, id(&joined)?);
            let mask = bpe.merges.len() - 1;
            let mut slot = hash_pair(left, right) as usize & mask;
            loop {
                let s = &mut bpe.merges[slot];
                if s.left == EMPTY || (s.left == left && s.right == right) {
                    // A pair listed twice takes its last rank, as in `tokenizers`.
                    *s = MergeSlot {
                        left,
                        right,
                        rank: rank as u32,
                        new,
                    };
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        Ok(bpe)
    }

    fn spelling(&self, id: u32) -> &[u8] {
        let id = id as usize;
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.text[start..self.ends[id] as usize]
    }

    fn id(&self, s: &str) -> Option<u32> {
        let mask = self.index.len() - 1;
        let mut slot = hash_str(s.as_bytes()) as usize & mask;
        loop {
            match self.index[slot] {
                0 => return None,
                id if self.spelling(id - 1) == s.as_bytes() => return Some(id - 1),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// The rank and result of merging `left` with `right`, if they merge.
    fn merge(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        let mask = self.merges.len() - 1;
        let mut slot = hash_pair(left, right) as usize & mask;
        loop {
            let s = self.merges[slot];
            if s.left == EMPTY {
                return None;
            }
            if s.left == left && s.right == right {
                return Some((s.rank, s.new));
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Token ids and byte spans of one pre-tokenized piece.
    fn pieces(&self, piece: &str) -> Vec<(u32, usize, usize)> {
        if piece.is_empty() {
            return Vec::new();
        }
        if self.ignore_merges {
            if let Some(id) = self.id(piece) {
                return vec![(id, 0, piece.len())];
            }
        }
        // One symbol per character; a character that is no token is skipped
        // (byte-level vocabularies have all 256 byte characters).
        let mut syms: Vec<Symbol> = Vec::with_capacity(piece.len());
        let mut buf = [0u8; 4];
        for (at, c) in piece.char_indices() {
            if let Some(id) = self.id(c.encode_utf8(&mut buf)) {
                syms.push(Symbol {
                    id,
                    start: at,
                    end: at + c.len_utf8(),
                    prev: usize::MAX,
                    next: usize::MAX,
                });
            }
        }
        let n = syms.len();
        for (i, sym) in syms.iter_mut().enumerate() {
            sym.prev = if i == 0 { usize::MAX } else { i - 1 };
            sym.next = if i + 1 == n { usize::MAX } else { i + 1 };
        }
        // Candidate merges, lowest rank first, then leftmost.
        let mut queue: BinaryHeap<Reverse<(u32, usize, u32)>> = BinaryHeap::new();
        for i in 0..n.saturating_sub(1) {
            if let Some((rank, new)) = self.merge(syms[i].id, syms[i + 1].id) {
                queue.push(Reverse((rank, i, new)));
            }
        }
        while let Some(Reverse((_, at, new))) = queue.pop() {
            // Skip a candidate that earlier merges made stale.
            let next = syms[at].next;
            if syms[at].end == syms[at].start || next == usize::MAX {
                continue;
            }
            if self
                .merge(syms[at].id, syms[next].id)
                .is_none_or(|(_, n)| n != new)
            {
                continue;
            }
            // `at` absorbs `next`.
            syms[at].id = new;
            syms[at].end = syms[next].end;
            syms[at].next = syms[next].next;
            syms[next].end = syms[next].start; // gone
            if syms[at].next != usize::MAX {
                let after = syms[at].next;
                syms[after].prev = at;
                if let Some((rank, new)) = self.merge(new, syms[after].id) {
                    queue.push(Reverse((rank, at, new)));
                }
            }
            if syms[at].prev != usize::MAX {
                let before = syms[at].prev;
                if let Some((rank, new)) = self.merge(syms[before].id, new) {
                    queue.push(Reverse((rank, before, new)));
                }
            }
        }
        let mut out = Vec::new();
        let mut i = if n == 0 { usize::MAX } else { 0 };
        while i != usize::MAX {
            out.push((syms[i].id, syms[i].start, syms[i].end));
            i = syms[i].next;
        }
        out
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    /// Byte span in the piece; empty once merged into its left neighbour.
    start: usize,
    end: usize,
    prev: usize,
    next: usize,
}

impl Model for CompactBpe {
    type Trainer = BpeTrainer;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        Ok(self
            .pieces(sequence)
            .into_iter()
            .map(|(id, start, end)| Token::new(id, sequence[start..end].to_owned(), (start, end)))
            .collect())
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        ((id as usize) < self.ends.len())
            .then(|| String::from_utf8_lossy(self.spelling(id)).into_owned())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        let mut vocab = HashMap::with_capacity(self.ends.len());
        for id in 0..self.ends.len() as u32 {
            if let Some(t) = self.id_to_token(id) {
                vocab.entry(t).or_insert(id);
            }
        }
        vocab
    }

    fn get_vocab_size(&self) -> usize {
        self.ends.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("a vocabulary rebuilt from a GGUF file is not saved".into())
    }

    fn get_trainer(&self) -> BpeTrainer {
        BpeTrainer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(bpe: &CompactBpe, s: &str) -> Vec<u32> {
        bpe.pieces(s).into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn merges_lowest_rank_first_and_leftmost_among_equals() {
        let tokens = ["a", "b", "c", "ab", "bc", "aa", "aaa", "abc"];
        // "b c" outranks "a b": "abc" becomes a + bc, and "a bc" is no merge.
        let bpe = CompactBpe::new(&tokens, &[("b", "c"), ("a", "b"), ("a", "a")], false).unwrap();
        assert_eq!(ids(&bpe, "abc"), vec![0, 4]);
        assert_eq!(ids(&bpe, "ab"), vec![3]);
        // Three a's: the leftmost pair merges first.
        assert_eq!(ids(&bpe, "aaa"), vec![5, 0]);
        assert_eq!(ids(&bpe, ""), Vec::<u32>::new());
        // Spans cover the piece.
        assert_eq!(bpe.pieces("abc"), vec![(0, 0, 1), (4, 1, 3)]);
        // A merge listed again takes its last rank: "a b" listed first merges
        // first, but listed again after "b c" it comes after it.
        let once = CompactBpe::new(&tokens, &[("a", "b"), ("b", "c")], false).unwrap();
        assert_eq!(ids(&once, "abc"), vec![3, 2]);
        let again = CompactBpe::new(&tokens, &[("a", "b"), ("b", "c"), ("a", "b")], false).unwrap();
        assert_eq!(ids(&again, "abc"), vec![0, 4]);
    }

    #[test]
    fn ignore_merges_keeps_a_whole_token_and_unknown_characters_are_skipped() {
        let tokens = ["a", "b", "c", "ab", "abc"];
        let merges = [("a", "b")];
        let plain = CompactBpe::new(&tokens, &merges, false).unwrap();
        assert_eq!(ids(&plain, "abc"), vec![3, 2]);
        let whole = CompactBpe::new(&tokens, &merges, true).unwrap();
        assert_eq!(ids(&whole, "abc"), vec![4]);
        // An unknown character is dropped; its neighbours then merge, as in `tokenizers`.
        assert_eq!(ids(&plain, "axb"), vec![3]);
    }

    #[test]
    fn lookups_and_a_bad_merge() {
        let tokens = ["x", "y", "x", "xy"];
        let bpe = CompactBpe::new(&tokens, &[("x", "y")], false).unwrap();
        assert_eq!(
            bpe.token_to_id("x"),
            Some(0),
            "the first of a repeated spelling"
        );
        assert_eq!(bpe.token_to_id("xy"), Some(3));
        assert_eq!(bpe.token_to_id("z"), None);
        assert_eq!(bpe.id_to_token(2).as_deref(), Some("x"));
        assert_eq!(bpe.id_to_token(4), None);
        assert_eq!(bpe.get_vocab_size(), 4);
        assert_eq!(bpe.get_vocab().len(), 3);
        let err = CompactBpe::new(&tokens, &[("y", "x")], false).unwrap_err();
        assert!(err.contains("\"yx\" is not a token"), "{err}");
    }

    #[test]
    fn a_long_run_merges_in_near_linear_time() {
        // A 200,000-character run of one symbol: quadratic merging would take minutes.
        let tokens = ["-", "--", "----"];
        let bpe = CompactBpe::new(&tokens, &[("-", "-"), ("--", "--")], false).unwrap();
        let run = "-".repeat(200_001);
        let out = ids(&bpe, &run);
        assert_eq!(out.len(), 50_001);
        assert_eq!(out.last(), Some(&0));
    }
}

//! Sentences and words: the one sentence splitter of Cairn, and the one way
//! of reducing text to the words that carry its meaning. The chunker cuts
//! passages at sentence boundaries, and answers are split with the same
//! splitter (citation attribution, the support check, evidence selection), so
//! a "sentence" means the same thing everywhere; [`terms`] is what evidence
//! selection, answerability and the support check compare.

use std::ops::Range;

/// Words after which a full stop does not end a sentence (lower case, without
/// the stop). Dotted forms such as "e.g" and "U.S" are recognised by shape in
/// [`is_abbreviation`], and single letters are taken as initials.
const ABBREVIATIONS: &[&str] = &[
    "al", "approx", "ca", "cf", "ch", "dept", "dr", "eq", "eqs", "esp", "fig", "figs", "ibid",
    "incl", "jr", "mr", "mrs", "ms", "mt", "prof", "resp", "sec", "sr", "st", "viz", "vol", "vs",
];

/// Sentence-final punctuation that needs whitespace after it to end a sentence.
fn is_stop(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// CJK sentence-final punctuation, which ends a sentence even with no space
/// after it (CJK text does not separate sentences with spaces).
fn is_cjk_stop(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡')
}

/// Closing quotes and brackets that belong to the sentence they follow.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        ')' | ']' | '"' | '\'' | '”' | '’' | '»' | '」' | '』' | '）' | '】' | '》'
    )
}

/// Sentences of a prose paragraph, trimmed. A sentence ends after `.`, `!`,
/// `?` or `…` (a run of them, plus closing quotes or brackets) when whitespace
/// follows, or after a CJK full stop. A single `.` does not end a sentence
/// after an abbreviation or an initial, or when the next word starts with a
/// lower-case letter ("e.g. this"); "3.14" and "v1.2" have no space after the
/// dot and never split.
pub fn sentences(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let base = range.start;
    let s = &text[range];
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let byte_at = |k: usize| chars.get(k).map_or(s.len(), |&(b, _)| b);
    let mut out = Vec::new();
    let mut sentence_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if !is_stop(c) && !is_cjk_stop(c) {
            i += 1;
            continue;
        }
        let mut k = i + 1;
        while k < chars.len() && (is_stop(chars[k].1) || is_cjk_stop(chars[k].1)) {
            k += 1;
        }
        let run_end = k;
        while k < chars.len() && is_closer(chars[k].1) {
            k += 1;
        }
        let ends = if is_cjk_stop(c) {
            true
        } else if k < chars.len() && !chars[k].1.is_whitespace() {
            false
        } else if c == '.' && run_end == i + 1 {
            !is_abbreviation(&chars[..i]) && !next_word_is_lowercase(&chars[k..])
        } else {
            true
        };
        if ends {
            let end = byte_at(k);
            push_trimmed(text, base + sentence_start..base + end, &mut out, |r| r);
            sentence_start = end;
        }
        i = k;
    }
    push_trimmed(text, base + sentence_start..base + s.len(), &mut out, |r| r);
    out
}

/// Whether the word just before a full stop (the end of `before`) is an
/// abbreviation or an initial.
fn is_abbreviation(before: &[(usize, char)]) -> bool {
    let word_start = before
        .iter()
        .rposition(|&(_, c)| c.is_whitespace())
        .map_or(0, |p| p + 1);
    let word: String = before[word_start..]
        .iter()
        .map(|&(_, c)| c)
        .skip_while(|c| !c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if word.is_empty() {
        return false;
    }
    if word.chars().count() == 1 {
        return word.chars().all(char::is_alphabetic);
    }
    if ABBREVIATIONS.contains(&word.as_str()) {
        return true;
    }
    // "e.g", "i.e", "U.S", "a.m", "Ph.D": short letter groups joined by dots.
    word.contains('.')
        && word
            .split('.')
            .all(|p| (1..=2).contains(&p.chars().count()) && p.chars().all(char::is_alphabetic))
}

/// Whether the first non-whitespace character of `after` is a lower-case letter.
fn next_word_is_lowercase(after: &[(usize, char)]) -> bool {
    after
        .iter()
        .map(|&(_, c)| c)
        .find(|c| !c.is_whitespace())
        .is_some_and(char::is_lowercase)
}

/// Trims whitespace off `range` and, if anything is left, pushes `make(range)`.
pub(crate) fn push_trimmed<T>(
    text: &str,
    range: Range<usize>,
    out: &mut Vec<T>,
    make: impl FnOnce(Range<usize>) -> T,
) {
    let s = &text[range.clone()];
    let trimmed_start = s.trim_start();
    if trimmed_start.is_empty() {
        return;
    }
    let start = range.start + (s.len() - trimmed_start.len());
    let end = start + trimmed_start.trim_end().len();
    out.push(make(start..end));
}

/// Splits `text` into consecutive pieces that together are exactly `text`:
/// one piece per sentence (see [`sentences`]) and per line, each with the
/// whitespace that follows it. Used where text is rewritten sentence by
/// sentence and must keep every byte it does not change.
pub fn sentence_pieces(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let end = line_start + line.len();
        for r in sentences(text, line_start..end) {
            starts.push(r.start);
        }
        line_start = end;
    }
    let mut pieces = Vec::with_capacity(starts.len());
    if starts.first().is_some_and(|&s| s > 0) {
        // Leading whitespace belongs to no sentence; keep it with the first.
        starts[0] = 0;
    }
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(text.len());
        pieces.push(&text[s..e]);
    }
    if pieces.is_empty() && !text.is_empty() {
        pieces.push(text);
    }
    pieces
}

/// Words too common to say anything about relevance.
pub const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "by", "with", "from", "is",
    "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "what",
    "which", "who", "whom", "how", "why", "when", "where", "do", "does", "did", "can", "could",
    "should", "would", "will", "shall", "may", "might", "must", "i", "me", "my", "we", "our",
    "you", "your", "he", "she", "they", "them", "their", "there", "here", "if", "then", "than",
    "so", "not", "no", "yes", "as", "into", "about", "any", "all", "some", "more", "most", "other",
    "such", "only", "also", "just", "get", "use", "used", "using", "one", "has", "have", "had",
    "there", "while", "after", "before", "tell",
];

/// A crude English stem: lower case, common inflections cut, so "compressed"
/// meets "compress" and "files" meets "file". Identifiers (with `_` or digits)
/// are kept whole.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    if w.contains(|c: char| c == '_' || c.is_ascii_digit()) || w.chars().count() <= 4 {
        return w;
    }
    let cut = |suffix: &str, add: &str| -> Option<String> {
        let s = w.strip_suffix(suffix)?;
        (s.chars().count() >= 3).then(|| format!("{s}{add}"))
    };
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w;
    }
    for (suffix, add) in [("ations", ""), ("ation", ""), ("ies", "y"), ("ied", "y")] {
        if let Some(s) = cut(suffix, add) {
            return s;
        }
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes"] {
        if w.ends_with(suffix) {
            return w[..w.len() - 2].to_string();
        }
    }
    for suffix in ["ings", "ing", "edly", "ed", "ly", "s"] {
        if let Some(s) = cut(suffix, "") {
            return s;
        }
    }
    w
}

/// The distinct stemmed content words of a text.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if w.is_empty() || STOPWORDS.contains(&w.to_lowercase().as_str()) {
            continue;
        }
        if w.chars().count() < 2 && !w.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let s = stem(w);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_meet_and_identifiers_stay_whole() {
        assert_eq!(stem("compressed"), stem("compress"));
        assert_eq!(stem("files"), stem("file"));
        assert_eq!(stem("classes"), stem("class"));
        assert_eq!(stem("BZ2_bzRead"), "bz2_bzread");
        assert_eq!(
            terms("How do I compress the files?"),
            vec!["compress", "file"]
        );
    }

    fn split(text: &str) -> Vec<&str> {
        sentences(text, 0..text.len())
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn abbreviations_initials_and_numbers_do_not_end_sentences() {
        assert_eq!(
            split("See e.g. the manual. Dr. Smith wrote v1.2 in 3.14 s! Done?"),
            vec![
                "See e.g. the manual.",
                "Dr. Smith wrote v1.2 in 3.14 s!",
                "Done?"
            ]
        );
        assert_eq!(split("Ends (quoted.) Next"), vec!["Ends (quoted.)", "Next"]);
    }

    #[test]
    fn pieces_keep_every_byte_and_split_at_sentences_and_lines() {
        for text in [
            "A. B? C!",
            "one\ntwo",
            "v1.2 is out. Yes",
            "ünï. Çø",
            "end.  ",
            "  lead. x",
            "",
            "\n\n",
            "e.g. this stays whole. Next one.",
        ] {
            assert_eq!(sentence_pieces(text).concat(), text, "{text:?}");
        }
        assert_eq!(
            sentence_pieces("v1.2 is out. Yes"),
            vec!["v1.2 is out. ", "Yes"]
        );
        assert_eq!(
            sentence_pieces("e.g. this stays whole. Next one."),
            vec!["e.g. this stays whole. ", "Next one."]
        );
        assert_eq!(sentence_pieces("one\ntwo"), vec!["one\n", "two"]);
    }
}

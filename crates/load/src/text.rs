//! Turning bytes into text: encoding detection, binary sniffing and line-ending
//! normalisation. Everything here is pure and works on in-memory bytes.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

/// How much of a file is inspected to decide whether it is binary. Large
/// enough to see past a header, small enough to be cheap on every file.
pub(crate) const SNIFF_LEN: usize = 8 * 1024;

/// Why bytes could not be used as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextProblem {
    Binary,
    Empty,
}

/// Decodes a text file. `declared` is an encoding named by the content itself
/// (an HTML meta tag); a byte order mark still takes precedence over it, as in
/// browsers.
///
/// The result has `\n` line endings only, so that offsets computed later do not
/// depend on the platform the file was written on.
pub(crate) fn decode(
    bytes: &[u8],
    declared: Option<&'static Encoding>,
) -> Result<String, TextProblem> {
    let (encoding, body) = match Encoding::for_bom(bytes) {
        Some((enc, bom_len)) => (enc, &bytes[bom_len..]),
        None => match declared.or_else(|| utf16_without_bom(bytes)) {
            Some(enc) => (enc, bytes),
            None => {
                if looks_binary_bytes(&bytes[..bytes.len().min(SNIFF_LEN)]) {
                    return Err(TextProblem::Binary);
                }
                (guess_encoding(bytes), bytes)
            }
        },
    };
    let (text, _had_errors) = encoding.decode_without_bom_handling(body);
    // Checking the decoded characters catches UTF-16 files full of NULs and
    // declared encodings that turn garbage into control characters.
    if looks_binary_text(&text) {
        return Err(TextProblem::Binary);
    }
    let text = normalize_newlines(&text);
    if text.trim().is_empty() {
        return Err(TextProblem::Empty);
    }
    Ok(text)
}

/// Cheap check on a file's first bytes: is it text in some encoding?
pub(crate) fn sniff_is_text(prefix: &[u8]) -> bool {
    if let Some((enc, bom_len)) = Encoding::for_bom(prefix) {
        let (text, _) = enc.decode_without_bom_handling(&prefix[bom_len..]);
        return !looks_binary_text(&text);
    }
    if let Some(enc) = utf16_without_bom(prefix) {
        let (text, _) = enc.decode_without_bom_handling(prefix);
        return !looks_binary_text(&text);
    }
    !looks_binary_bytes(&prefix[..prefix.len().min(SNIFF_LEN)])
}

/// Valid UTF-8 is taken as UTF-8 (ASCII included); anything else goes to
/// chardetng, which is what Firefox uses for unlabelled legacy pages.
fn guess_encoding(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    detector.guess(None, true)
}

/// Windows tools sometimes write UTF-16 without a BOM. In such files mostly
/// ASCII text puts a NUL in every second byte, a pattern binary formats rarely
/// show across a whole 8 KiB window.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let window = &bytes[..bytes.len().min(SNIFF_LEN)];
    let pairs = window.len() / 2;
    if pairs < 8 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in window.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    let mostly = |n: usize| n * 10 >= pairs * 7;
    let rarely = |n: usize| n * 50 <= pairs;
    if mostly(odd) && rarely(even) {
        Some(UTF_16LE)
    } else if mostly(even) && rarely(odd) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// NUL bytes, or more than one in ten bytes being a C0 control character that
/// text does not use, mark binary content. Bytes >= 0x80 are not judged here:
/// they are ordinary in UTF-8 and in legacy single-byte encodings.
fn looks_binary_bytes(window: &[u8]) -> bool {
    if window.contains(&0) {
        return true;
    }
    let controls = window.iter().filter(|&&b| is_odd_control(b.into())).count();
    controls * 10 > window.len()
}

/// The same test on decoded characters (first [`SNIFF_LEN`] of them).
fn looks_binary_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut controls = 0usize;
    for c in text.chars().take(SNIFF_LEN) {
        if c == '\0' {
            return true;
        }
        total += 1;
        let code = u32::from(c);
        // C1 controls (U+0080..U+009F) only appear when bytes were decoded
        // with the wrong single-byte encoding or are not text at all.
        if (code < 0x20 && is_odd_control(code)) || (0x7f..=0x9f).contains(&code) {
            controls += 1;
        }
    }
    controls * 10 > total
}

/// Control characters that plain text does not contain. Tab, line feed,
/// carriage return, form feed and escape (ANSI colours in logs) are allowed.
fn is_odd_control(code: u32) -> bool {
    code < 0x20 && !matches!(code, 0x09 | 0x0a | 0x0c | 0x0d | 0x1b)
}

/// Converts CRLF and lone CR line endings to LF.
pub(crate) fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: Result<&str, TextProblem>) {
        let got = decode(input, None);
        assert_eq!(got.as_deref().map_err(|e| *e), expected, "input={input:?}");
    }

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    fn utf16be(s: &str) -> Vec<u8> {
        let mut out = vec![0xfe, 0xff];
        out.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        out
    }

    #[test]
    fn decoding_table() {
        check(b"plain ascii\n", Ok("plain ascii\n"));
        check(
            "caf\u{e9} na\u{ef}ve".as_bytes(),
            Ok("caf\u{e9} na\u{ef}ve"),
        );
        // A UTF-8 BOM is removed, not kept as U+FEFF.
        check(b"\xef\xbb\xbfwith bom", Ok("with bom"));
        check(
            &utf16le("UTF-16 \u{17e}lu\u{165}ou\u{10d}k\u{fd}", true),
            Ok("UTF-16 \u{17e}lu\u{165}ou\u{10d}k\u{fd}"),
        );
        check(
            &utf16be("big endian \u{65e5}\u{672c}"),
            Ok("big endian \u{65e5}\u{672c}"),
        );
        let long = "A file written by Notepad without a byte order mark.\r\n".repeat(4);
        check(&utf16le(&long, false), Ok(&long.replace("\r\n", "\n")));
        // Windows and old Mac line endings become LF.
        check(b"one\r\ntwo\rthree\n", Ok("one\ntwo\nthree\n"));
        // Legacy single-byte text is detected and decoded.
        check(
            b"Les \xe9l\xe8ves de l'\xe9cole mangent une cr\xe8me br\xfbl\xe9e au caf\xe9.",
            Ok("Les \u{e9}l\u{e8}ves de l'\u{e9}cole mangent une cr\u{e8}me br\u{fb}l\u{e9}e au caf\u{e9}."),
        );
        check(b"", Err(TextProblem::Empty));
        check(b" \n\t \r\n ", Err(TextProblem::Empty));
        check(b"\xef\xbb\xbf  \n", Err(TextProblem::Empty));
        check(b"text\0with a nul", Err(TextProblem::Binary));
        check(
            b"\x01\x02\x03\x04 mostly control bytes \x05\x06\x07\x08\x0e\x0f\x10\x11",
            Err(TextProblem::Binary),
        );
        // A UTF-16 BOM followed by bytes that decode to NULs is still binary.
        check(&[0xff, 0xfe, 0, 0, 0, 0, 0x41, 0], Err(TextProblem::Binary));
        // ANSI colour escapes and tabs are normal in logs.
        check(b"\x1b[32mok\x1b[0m\tdone", Ok("\x1b[32mok\x1b[0m\tdone"));
    }

    #[test]
    fn declared_encoding_is_used_without_bom() {
        let bytes = b"\x93quoted\x94";
        let got = decode(bytes, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(got.as_deref(), Ok("\u{201c}quoted\u{201d}"));
        // A BOM overrides the declaration.
        let got = decode(
            b"\xef\xbb\xbf\xe2\x80\x9cx\xe2\x80\x9d",
            Some(encoding_rs::WINDOWS_1252),
        );
        assert_eq!(got.as_deref(), Ok("\u{201c}x\u{201d}"));
    }

    #[test]
    fn sniffing_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"MIT License\n\nPermission is hereby granted", true),
            (b"", true),
            (b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", false),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false),
            (b"PK\x03\x04\x14\0\x06\0", false),
            (b"\xff\xfeh\0i\0", true),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0", false),
        ];
        for (input, expected) in cases {
            assert_eq!(sniff_is_text(input), *expected, "input={input:?}");
        }
    }
}

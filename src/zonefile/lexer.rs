//! Splits master-file text into entries of tokens (RFC 1035 §5.1).
//!
//! Escapes are left in the token text untouched: `domain`'s `Symbols`
//! decodes them later, and whether a `\.` is a label separator or data
//! depends on where the token ends up.
//!
//! Tokens borrow their text from the source, since with escapes kept a
//! token is exactly a slice of it; only tokens made up later (by
//! `$GENERATE`, or SOA timer conversion) own their text. The scan works on
//! bytes: every delimiter is ASCII, and UTF-8 never uses ASCII bytes inside
//! a multi-byte character, so slices always fall on character boundaries.

use std::borrow::Cow;

/// One token of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// Token text with escapes kept; for quoted strings without the quotes.
    pub text: Cow<'a, str>,
    /// Written as a `"..."` string.
    pub quoted: bool,
    /// Line the token starts on.
    pub line: u32,
    /// Separated from the previous token by white space or a parenthesis.
    /// SVCB needs this to join `key="value"` (RFC 9460 §2.1).
    pub space_before: bool,
}

/// A problem found while splitting the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LexError {
    pub line: u32,
    pub message: String,
}

/// One entry: a logical line, possibly continued with parentheses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Line of the first token.
    pub line: u32,
    /// Byte offset of the line the entry starts on.
    pub start: usize,
    /// The entry began with white space, so it has no owner field and the
    /// previous owner applies (RFC 1035 §5.1).
    pub leading_space: bool,
    pub tokens: Vec<Token<'a>>,
    /// First lexical problem in the entry; the entry must be skipped.
    pub error: Option<LexError>,
}

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    /// Sorted numbers of lines whose bytes were not valid UTF-8.
    bad_lines: &'a [u32],
}

/// Bytes a word stops at: those that end it, and the backslash, which
/// needs a look at the next byte. A table, because the word loop runs for
/// every byte of the file and a `match` there compiled to a jump per byte.
static WORD_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let stops = b" \t\r\n;()\"\\";
    let mut i = 0;
    while i < stops.len() {
        table[stops[i] as usize] = true;
        i += 1;
    }
    table
};

fn word_stop(b: u8) -> bool {
    // Cannot be out of bounds: a u8 indexes a 256-entry table.
    WORD_STOP[usize::from(b)]
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, bad_lines: &'a [u32]) -> Self {
        // A byte-order mark is no part of the first owner name.
        let pos = if src.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        Lexer {
            src,
            pos,
            line: 1,
            bad_lines,
        }
    }

    /// A lexer for text that starts on line `line` of its file (a chunk
    /// of it, see `chunks`), at an entry's start.
    pub fn at_line(src: &'a str, line: u32) -> Self {
        Lexer {
            src,
            pos: 0,
            line,
            bad_lines: &[],
        }
    }

    fn byte_at(&self, pos: usize) -> Option<u8> {
        self.src.as_bytes().get(pos).copied()
    }

    /// Source text between two positions; both lie on character
    /// boundaries (see the module comment), so this never comes back empty
    /// for a non-empty range.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or_default()
    }

    /// Returns the next entry that has tokens or an error; blank and
    /// comment-only lines are skipped.
    pub fn next_entry(&mut self) -> Option<Entry<'a>> {
        let mut entry = Entry::default();
        self.next_entry_into(&mut entry).then_some(entry)
    }

    /// Like [`next_entry`](Self::next_entry), but fills `entry`, reusing
    /// its token vector; false at the end of the text.
    pub fn next_entry_into(&mut self, entry: &mut Entry<'a>) -> bool {
        loop {
            let Some(first) = self.byte_at(self.pos) else {
                return false;
            };
            let start_line = self.line;
            entry.line = start_line;
            entry.start = self.pos;
            entry.leading_space = first == b' ' || first == b'\t';
            entry.tokens.clear();
            entry.error = None;
            let mut depth = 0u32;
            let mut open_line = start_line;
            let mut space = true;
            let mut end_line = start_line;
            while let Some(b) = self.byte_at(self.pos) {
                end_line = self.line;
                match b {
                    b'\n' => {
                        self.pos += 1;
                        self.line = self.line.saturating_add(1);
                        if depth == 0 {
                            break;
                        }
                        space = true;
                    }
                    b' ' | b'\t' | b'\r' => {
                        self.pos += 1;
                        space = true;
                    }
                    b';' => {
                        // The newline ends the entry or not, as above.
                        while self.byte_at(self.pos).is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if depth > 0 {
                            set_error(entry, self.line, "nested parenthesis");
                        } else {
                            open_line = self.line;
                        }
                        self.pos += 1;
                        depth = depth.saturating_add(1);
                        space = true;
                    }
                    b')' => {
                        if depth == 0 {
                            set_error(entry, self.line, "unbalanced parenthesis");
                        } else {
                            depth -= 1;
                        }
                        self.pos += 1;
                        space = true;
                    }
                    b'"' => {
                        let (token, terminated) = self.quoted(entry, space);
                        entry.tokens.push(token);
                        space = false;
                        if !terminated {
                            // Whatever follows is likely garbage; ending the
                            // entry at this line keeps an open parenthesis
                            // from swallowing the entries after it.
                            depth = 0;
                        }
                    }
                    _ => {
                        let token = self.word(entry, space);
                        entry.tokens.push(token);
                        space = false;
                    }
                }
            }
            if depth > 0 {
                set_error(entry, open_line, "unbalanced parenthesis");
            }
            if let Some(line) = self.first_bad_line(start_line, end_line) {
                set_error(entry, line, "invalid UTF-8");
            }
            if let Some(token) = entry.tokens.first() {
                entry.line = token.line;
            } else if entry.error.is_none() {
                continue;
            }
            return true;
        }
    }

    fn first_bad_line(&self, start: u32, end: u32) -> Option<u32> {
        if self.bad_lines.is_empty() {
            return None;
        }
        let idx = self.bad_lines.partition_point(|&l| l < start);
        self.bad_lines.get(idx).copied().filter(|&l| l <= end)
    }

    /// Reads an unquoted token. Neither a word nor a quoted string can
    /// contain a newline, so the line stays the same.
    fn word(&mut self, entry: &mut Entry<'a>, space_before: bool) -> Token<'a> {
        let line = self.line;
        let start = self.pos;
        let bytes = self.src.as_bytes();
        // A local position: this loop runs for most bytes of a file, and
        // stores to `self.pos` in it were measurable.
        let mut pos = self.pos;
        while let Some(&b) = bytes.get(pos) {
            if !word_stop(b) {
                pos += 1;
                continue;
            }
            if b != b'\\' {
                break;
            }
            match bytes.get(pos + 1) {
                None | Some(b'\n') | Some(b'\r') => {
                    // The backslash stays in the token, as written.
                    pos += 1;
                    set_error(entry, line, "backslash at end of line");
                    break;
                }
                // If the escaped byte starts a multi-byte character, the
                // rest of it is skipped as ordinary bytes next.
                Some(_) => pos += 2,
            }
        }
        self.pos = pos;
        Token {
            text: Cow::Borrowed(self.slice(start, self.pos)),
            quoted: false,
            line,
            space_before,
        }
    }

    /// Reads a quoted string; the flag is false if the line ended first.
    fn quoted(&mut self, entry: &mut Entry<'a>, space_before: bool) -> (Token<'a>, bool) {
        let line = self.line;
        self.pos += 1;
        let start = self.pos;
        let mut terminated = false;
        let end = loop {
            match self.byte_at(self.pos) {
                None | Some(b'\n') => {
                    set_error(entry, line, "unterminated quoted string");
                    break self.pos;
                }
                Some(b'"') => {
                    self.pos += 1;
                    terminated = true;
                    break self.pos - 1;
                }
                Some(b'\\') => match self.byte_at(self.pos + 1) {
                    None | Some(b'\n') => {
                        self.pos += 1;
                        set_error(entry, line, "unterminated quoted string");
                        break self.pos;
                    }
                    Some(_) => self.pos += 2,
                },
                Some(_) => self.pos += 1,
            }
        };
        let token = Token {
            text: Cow::Borrowed(self.slice(start, end)),
            quoted: true,
            line,
            space_before,
        };
        (token, terminated)
    }
}

fn set_error(entry: &mut Entry<'_>, line: u32, message: &str) {
    if entry.error.is_none() {
        entry.error = Some(LexError {
            line,
            message: message.to_string(),
        });
    }
}

/// Turns file bytes into text, listing the lines that were not UTF-8.
///
/// Invalid sequences become U+FFFD; `\n` is ASCII and never part of such a
/// sequence, so line numbers stay right.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, Vec<u32>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), Vec::new()),
        Err(_) => {
            let bad = bytes
                .split(|&b| b == b'\n')
                .zip(1u32..)
                .filter(|(line, _)| std::str::from_utf8(line).is_err())
                .map(|(_, n)| n)
                .collect();
            (String::from_utf8_lossy(bytes), bad)
        }
    }
}

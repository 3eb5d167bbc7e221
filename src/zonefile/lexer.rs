//! Splits master-file text into entries of tokens (RFC 1035 §5.1).
//!
//! Escapes are left in the token text untouched: `domain`'s `Symbols`
//! decodes them later, and whether a `\.` is a label separator or data
//! depends on where the token ends up.

/// One token of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Token text with escapes kept; for quoted strings without the quotes.
    pub text: String,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Line of the first token.
    pub line: u32,
    /// The entry began with white space, so it has no owner field and the
    /// previous owner applies (RFC 1035 §5.1).
    pub leading_space: bool,
    pub tokens: Vec<Token>,
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

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        if ch == '\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(ch)
    }

    /// Returns the next entry that has tokens or an error; blank and
    /// comment-only lines are skipped.
    pub fn next_entry(&mut self) -> Option<Entry> {
        loop {
            let first = self.peek()?;
            let start_line = self.line;
            let mut entry = Entry {
                line: start_line,
                leading_space: first == ' ' || first == '\t',
                tokens: Vec::new(),
                error: None,
            };
            let mut depth = 0u32;
            let mut open_line = start_line;
            let mut space = true;
            let mut end_line = start_line;
            while let Some(ch) = self.peek() {
                end_line = self.line;
                match ch {
                    '\n' => {
                        self.bump();
                        if depth == 0 {
                            break;
                        }
                        space = true;
                    }
                    ' ' | '\t' | '\r' => {
                        self.bump();
                        space = true;
                    }
                    ';' => {
                        while let Some(c) = self.peek() {
                            if c == '\n' {
                                break;
                            }
                            self.bump();
                        }
                    }
                    '(' => {
                        if depth > 0 {
                            set_error(&mut entry, self.line, "nested parenthesis");
                        } else {
                            open_line = self.line;
                        }
                        self.bump();
                        depth = depth.saturating_add(1);
                        space = true;
                    }
                    ')' => {
                        if depth == 0 {
                            set_error(&mut entry, self.line, "unbalanced parenthesis");
                        } else {
                            depth -= 1;
                        }
                        self.bump();
                        space = true;
                    }
                    '"' => {
                        let (token, terminated) = self.quoted(&mut entry, space);
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
                        let token = self.word(&mut entry, space);
                        entry.tokens.push(token);
                        space = false;
                    }
                }
            }
            if depth > 0 {
                set_error(&mut entry, open_line, "unbalanced parenthesis");
            }
            if let Some(line) = self.first_bad_line(start_line, end_line) {
                set_error(&mut entry, line, "invalid UTF-8");
            }
            if let Some(token) = entry.tokens.first() {
                entry.line = token.line;
            } else if entry.error.is_none() {
                continue;
            }
            return Some(entry);
        }
    }

    fn first_bad_line(&self, start: u32, end: u32) -> Option<u32> {
        let idx = self.bad_lines.partition_point(|&l| l < start);
        self.bad_lines.get(idx).copied().filter(|&l| l <= end)
    }

    fn word(&mut self, entry: &mut Entry, space_before: bool) -> Token {
        let line = self.line;
        let mut text = String::new();
        while let Some(ch) = self.peek() {
            match ch {
                ' ' | '\t' | '\r' | '\n' | ';' | '(' | ')' | '"' => break,
                '\\' => {
                    self.bump();
                    text.push('\\');
                    match self.peek() {
                        None | Some('\n') | Some('\r') => {
                            set_error(entry, line, "backslash at end of line");
                            break;
                        }
                        Some(next) => {
                            self.bump();
                            text.push(next);
                        }
                    }
                }
                _ => {
                    self.bump();
                    text.push(ch);
                }
            }
        }
        Token {
            text,
            quoted: false,
            line,
            space_before,
        }
    }

    /// Reads a quoted string; the flag is false if the line ended first.
    fn quoted(&mut self, entry: &mut Entry, space_before: bool) -> (Token, bool) {
        let line = self.line;
        self.bump();
        let mut text = String::new();
        let mut terminated = false;
        loop {
            match self.peek() {
                None | Some('\n') => {
                    set_error(entry, line, "unterminated quoted string");
                    break;
                }
                Some('"') => {
                    self.bump();
                    terminated = true;
                    break;
                }
                Some('\\') => {
                    self.bump();
                    text.push('\\');
                    match self.peek() {
                        None | Some('\n') => {
                            set_error(entry, line, "unterminated quoted string");
                            break;
                        }
                        Some(next) => {
                            self.bump();
                            text.push(next);
                        }
                    }
                }
                Some(ch) => {
                    self.bump();
                    text.push(ch);
                }
            }
        }
        let token = Token {
            text,
            quoted: true,
            line,
            space_before,
        };
        (token, terminated)
    }
}

fn set_error(entry: &mut Entry, line: u32, message: &str) {
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
pub fn decode(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, Vec<u32>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), Vec::new()),
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

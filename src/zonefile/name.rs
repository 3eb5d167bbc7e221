//! Domain names in presentation format (RFC 1035 §5.1) to uncompressed
//! wire format, keeping the case as written.

use domain::base::scan::{Symbol, Symbols};

/// Longest label, RFC 1035 §2.3.4.
pub const MAX_LABEL: usize = 63;
/// Longest name in wire format including the root label, RFC 1035 §2.3.4.
pub const MAX_NAME: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("label longer than 63 octets in \"{0}\"")]
    LongLabel(String),
    #[error("domain name longer than 255 octets: \"{0}\"")]
    LongName(String),
    #[error("empty label in domain name \"{0}\"")]
    EmptyLabel(String),
    #[error("invalid escape sequence in domain name \"{0}\"")]
    BadEscape(String),
    #[error("invalid character in domain name \"{0}\" (use \\DDD escapes)")]
    BadChar(String),
    #[error("empty domain name")]
    Empty,
}

/// Converts a name as written in a zone file to wire format.
///
/// `@` alone is the origin, a name ending in an unescaped dot is absolute,
/// and any other name is relative and gets `origin` (itself in wire format,
/// absolute) appended. `\X` and `\DDD` escapes are decoded.
pub fn name_from_presentation(text: &str, origin: &[u8]) -> Result<Vec<u8>, NameError> {
    let mut out = Vec::with_capacity(text.len() + 2 + origin.len());
    append_name(text, origin, &mut out)?;
    Ok(out)
}

/// Like [`name_from_presentation`], but writes into `out` (cleared first),
/// so a caller can keep one buffer for many names.
pub fn name_from_presentation_into(
    text: &str,
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    out.clear();
    append_name(text, origin, out)
}

/// Appends the wire form of `text` to `out`. On error `out` holds a
/// partial name; callers discard it.
pub fn append_name(text: &str, origin: &[u8], out: &mut Vec<u8>) -> Result<(), NameError> {
    match text {
        "" => return Err(NameError::Empty),
        "@" => {
            out.extend_from_slice(origin);
            return Ok(());
        }
        "." => {
            out.push(0);
            return Ok(());
        }
        _ => {}
    }
    if append_plain(text.as_bytes(), origin, out) {
        return Ok(());
    }
    let mut name = NameWriter::start(out);
    if text.as_bytes().contains(&b'\\') {
        let mut symbols = Symbols::new(text.chars());
        for symbol in symbols.by_ref() {
            let step = match symbol {
                Symbol::Char('.') => Step::Dot,
                Symbol::Char(ch) if ch.is_ascii() && !ch.is_ascii_control() => {
                    Step::Octet(ch as u8)
                }
                Symbol::Char(_) => Step::Bad,
                Symbol::SimpleEscape(b) | Symbol::DecimalEscape(b) => Step::Octet(b),
            };
            name.step(out, step, text)?;
        }
        if symbols.ok().is_err() {
            return Err(NameError::BadEscape(text.to_string()));
        }
    } else {
        // Without a backslash every symbol is a plain character, so the
        // bytes can be taken as they are; a byte of a multi-byte character
        // is not ASCII and fails just as the character would.
        for &b in text.as_bytes() {
            let step = match b {
                b'.' => Step::Dot,
                _ if b.is_ascii() && !b.is_ascii_control() => Step::Octet(b),
                _ => Step::Bad,
            };
            name.step(out, step, text)?;
        }
    }
    name.finish(out, origin, text)
}

/// The common case of a name without escapes, a label at a time: appends
/// it and returns true if it is valid and has no backslash, else leaves
/// `out` as it was and returns false, and the general loop decodes the
/// escapes or finds the error to report.
fn append_plain(text: &[u8], origin: &[u8], out: &mut Vec<u8>) -> bool {
    let (body, suffix) = match text.strip_suffix(b".") {
        Some(body) => (body, &[0u8][..]),
        None => (text, origin),
    };
    // Labels take their length octets where the dots were, plus one.
    if body.len() + 1 + suffix.len() > MAX_NAME {
        return false;
    }
    let start = out.len();
    out.reserve(body.len() + 1 + suffix.len());
    // One pass finds the dots and checks the bytes; each label is copied
    // whole once its end is found.
    let mut label_start = 0;
    for (i, &b) in body.iter().enumerate() {
        let fits = if b == b'.' {
            let fits = push_label(out, body.get(label_start..i).unwrap_or_default());
            label_start = i + 1;
            fits
        } else {
            b.is_ascii() && !b.is_ascii_control() && b != b'\\'
        };
        if !fits {
            out.truncate(start);
            return false;
        }
    }
    if !push_label(out, body.get(label_start..).unwrap_or_default()) {
        out.truncate(start);
        return false;
    }
    out.extend_from_slice(suffix);
    true
}

/// Appends one label with its length octet, if its length is allowed.
fn push_label(out: &mut Vec<u8>, label: &[u8]) -> bool {
    match u8::try_from(label.len()) {
        Ok(len) if len > 0 && usize::from(len) <= MAX_LABEL => {
            out.push(len);
            out.extend_from_slice(label);
            true
        }
        _ => false,
    }
}

/// What one symbol of a name does.
enum Step {
    Dot,
    Octet(u8),
    Bad,
}

/// Builds one name at the end of a buffer that may hold other data before
/// it (as rdata does), so lengths count from `start`.
struct NameWriter {
    start: usize,
    /// Position of the length octet of the label being written.
    len_pos: usize,
    label_len: usize,
    ended_with_dot: bool,
}

impl NameWriter {
    fn start(out: &mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(0);
        NameWriter {
            start,
            len_pos: start,
            label_len: 0,
            ended_with_dot: false,
        }
    }

    fn step(&mut self, out: &mut Vec<u8>, step: Step, text: &str) -> Result<(), NameError> {
        let octet = match step {
            Step::Dot => {
                if self.label_len == 0 {
                    return Err(NameError::EmptyLabel(text.to_string()));
                }
                set_len(out, self.len_pos, self.label_len);
                self.len_pos = out.len();
                out.push(0);
                self.label_len = 0;
                self.ended_with_dot = true;
                return Ok(());
            }
            Step::Octet(octet) => octet,
            Step::Bad => return Err(NameError::BadChar(text.to_string())),
        };
        self.label_len += 1;
        if self.label_len > MAX_LABEL {
            return Err(NameError::LongLabel(text.to_string()));
        }
        out.push(octet);
        self.ended_with_dot = false;
        // Stops work early on absurdly long input.
        if out.len() - self.start > MAX_NAME {
            return Err(NameError::LongName(text.to_string()));
        }
        Ok(())
    }

    fn finish(self, out: &mut Vec<u8>, origin: &[u8], text: &str) -> Result<(), NameError> {
        if !self.ended_with_dot {
            set_len(out, self.len_pos, self.label_len);
            out.extend_from_slice(origin);
        }
        if out.len() - self.start > MAX_NAME {
            return Err(NameError::LongName(text.to_string()));
        }
        Ok(())
    }
}

fn set_len(out: &mut [u8], pos: usize, len: usize) {
    if let Some(slot) = out.get_mut(pos) {
        // Callers keep len at most MAX_LABEL.
        *slot = len as u8;
    }
}

/// Checks that `wire` is one uncompressed, absolute name and nothing more.
pub fn is_valid_wire_name(wire: &[u8]) -> bool {
    if wire.len() > MAX_NAME {
        return false;
    }
    let mut pos = 0usize;
    loop {
        let Some(&len) = wire.get(pos) else {
            return false;
        };
        if len == 0 {
            return pos + 1 == wire.len();
        }
        if usize::from(len) > MAX_LABEL {
            return false;
        }
        pos += 1 + usize::from(len);
    }
}

/// Formats a wire name for messages and tests, escaping as RFC 4343 §2.1
/// does.
pub fn name_to_presentation(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        let label = wire
            .get(pos + 1..pos + 1 + usize::from(len))
            .unwrap_or_default();
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' | b' ' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        pos += 1 + usize::from(len);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

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
    match text {
        "" => return Err(NameError::Empty),
        "@" => return Ok(origin.to_vec()),
        "." => return Ok(vec![0]),
        _ => {}
    }
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + 2 + origin.len());
    let mut len_pos = 0usize;
    let mut label_len = 0usize;
    let mut ended_with_dot = false;
    out.push(0);
    let mut symbols = Symbols::new(text.chars());
    for symbol in symbols.by_ref() {
        if symbol == Symbol::Char('.') {
            if label_len == 0 {
                return Err(NameError::EmptyLabel(text.to_string()));
            }
            set_len(&mut out, len_pos, label_len);
            len_pos = out.len();
            out.push(0);
            label_len = 0;
            ended_with_dot = true;
            continue;
        }
        let octet = match symbol {
            Symbol::Char(ch) if ch.is_ascii() && !ch.is_ascii_control() => ch as u8,
            Symbol::Char(_) => return Err(NameError::BadChar(text.to_string())),
            Symbol::SimpleEscape(b) | Symbol::DecimalEscape(b) => b,
        };
        label_len += 1;
        if label_len > MAX_LABEL {
            return Err(NameError::LongLabel(text.to_string()));
        }
        out.push(octet);
        ended_with_dot = false;
        // Stops work early on absurdly long input.
        if out.len() > MAX_NAME {
            return Err(NameError::LongName(text.to_string()));
        }
    }
    if symbols.ok().is_err() {
        return Err(NameError::BadEscape(text.to_string()));
    }
    if !ended_with_dot {
        set_len(&mut out, len_pos, label_len);
        out.extend_from_slice(origin);
    }
    if out.len() > MAX_NAME {
        return Err(NameError::LongName(text.to_string()));
    }
    Ok(out)
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

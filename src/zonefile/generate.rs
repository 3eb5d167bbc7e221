//! Template expansion for BIND's `$GENERATE` directive (BIND 9 ARM,
//! "The $GENERATE Directive"; no RFC defines it).
//!
//! In a template, `$` is the iterator, `${offset[,width[,base]]}` shifts
//! and formats it, `$$` is a literal `$` (kept for older zone files), and
//! `\X` is copied with its backslash so that the name or rdata parser
//! decodes it later, which makes `\$` a literal `$`.

/// `start-stop[/step]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenRange {
    pub start: u32,
    pub stop: u32,
    pub step: u32,
}

/// BIND keeps the iterator in a C `int`.
const MAX_ITER: u32 = i32::MAX as u32;

/// Widths beyond this are surely mistakes, and would only make big strings.
const MAX_WIDTH: usize = 255;

impl GenRange {
    /// Parses the range; `None` if malformed, reversed, or with a zero step.
    pub fn parse(text: &str) -> Option<Self> {
        let (start, rest) = text.split_once('-')?;
        let (stop, step) = match rest.split_once('/') {
            Some((stop, step)) => (stop, Some(step)),
            None => (rest, None),
        };
        let start = parse_number(start)?;
        let stop = parse_number(stop)?;
        let step = match step {
            Some(step) => parse_number(step)?,
            None => 1,
        };
        if stop < start || step == 0 {
            return None;
        }
        Some(GenRange { start, stop, step })
    }

    /// How many values the range yields.
    pub fn count(&self) -> u64 {
        u64::from(self.stop.saturating_sub(self.start)) / u64::from(self.step.max(1)) + 1
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> {
        (self.start..=self.stop).step_by(usize::try_from(self.step.max(1)).unwrap_or(usize::MAX))
    }
}

fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|&n| n <= MAX_ITER)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    #[error("bad $GENERATE modifier \"{0}\"")]
    BadModifier(String),
    #[error("$GENERATE value {0} out of range")]
    Range(i64),
}

/// Expands `template` for iterator value `it`.
pub fn expand(template: &str, it: u32) -> Result<String, GenError> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.char_indices().peekable();
    while let Some((idx, ch)) = chars.next() {
        match ch {
            '\\' => {
                out.push('\\');
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '$' => match chars.peek() {
                Some(&(_, '$')) => {
                    chars.next();
                    out.push('$');
                }
                Some(&(brace, '{')) => {
                    let rest = template.get(brace + 1..).unwrap_or_default();
                    let Some(close) = rest.find('}') else {
                        return Err(GenError::BadModifier(
                            template.get(idx..).unwrap_or_default().to_string(),
                        ));
                    };
                    let inner = rest.get(..close).unwrap_or_default();
                    out.push_str(&format_modifier(inner, it)?);
                    // Skip to just past the closing brace.
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
                _ => out.push_str(&it.to_string()),
            },
            _ => out.push(ch),
        }
    }
    Ok(out)
}

fn format_modifier(inner: &str, it: u32) -> Result<String, GenError> {
    let bad = || GenError::BadModifier(format!("${{{inner}}}"));
    let mut parts = inner.split(',');
    let offset = parts.next().ok_or_else(bad)?;
    let width = parts.next();
    let base = parts.next();
    if parts.next().is_some() {
        return Err(bad());
    }
    let digits = offset.strip_prefix(['+', '-']).unwrap_or(offset);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let offset: i64 = offset.parse().map_err(|_| bad())?;
    let width: usize = match width {
        Some(w) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
            w.parse().ok().filter(|&w| w <= MAX_WIDTH).ok_or_else(bad)?
        }
        Some(_) => return Err(bad()),
        None => 0,
    };
    let base = match base {
        Some("d") | None => 'd',
        Some("o") => 'o',
        Some("x") => 'x',
        Some("X") => 'X',
        Some("n") => 'n',
        Some("N") => 'N',
        Some(_) => return Err(bad()),
    };
    let value = i64::from(it)
        .checked_add(offset)
        .filter(|v| i32::try_from(*v).is_ok())
        .ok_or(GenError::Range(i64::from(it).saturating_add(offset)))?;
    // BIND prints negative values through unsigned conversions for every
    // base but decimal; do the same (two's complement of the C int).
    let unsigned = value as i32 as u32;
    Ok(match base {
        'o' => format!("{unsigned:0width$o}"),
        'x' => format!("{unsigned:0width$x}"),
        'X' => format!("{unsigned:0width$X}"),
        'n' => nibbles(unsigned, width, false),
        'N' => nibbles(unsigned, width, true),
        _ => format!("{value:0width$}"),
    })
}

/// Nibble form: hex digits from least to most significant, one label
/// each, as used in ip6.arpa names (RFC 3596 §2.5). `width` counts the
/// dots too, and zero digits are added until it is reached, so an even
/// width leaves a trailing dot, as in BIND.
fn nibbles(mut value: u32, mut width: usize, upper: bool) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let digits = if upper { UPPER } else { LOWER };
    let mut out = String::new();
    loop {
        let digit = digits.get((value & 0xf) as usize).copied().unwrap_or(b'0');
        out.push(char::from(digit));
        value >>= 4;
        width = width.saturating_sub(1);
        if width > 0 || value != 0 {
            out.push('.');
            width = width.saturating_sub(1);
        }
        if value == 0 && width == 0 {
            break;
        }
    }
    out
}

/// Undoes the quoting of a quoted `$GENERATE` rhs: BIND drops the
/// backslash of `\"` when it reads a quoted string and keeps every other
/// escape, then reads the expanded text as rdata.
pub fn unquote_rhs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            match chars.next() {
                Some('"') => out.push('"'),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(ch);
        }
    }
    out
}

//! TTL values in presentation format: plain seconds (RFC 1035 §5.1) or
//! BIND's unit notation such as `1h30m`.

/// Largest TTL allowed: RFC 2181 §8 makes the TTL an unsigned 31-bit value.
pub const MAX_TTL: u32 = 0x7fff_ffff;

/// Why a token is not an acceptable TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlError {
    /// The token does not have TTL syntax at all.
    Syntax,
    /// The syntax is right but the value exceeds [`MAX_TTL`].
    Range,
}

/// Parses a TTL: decimal seconds, or one or more `<number><unit>` pairs with
/// units `w d h m s` in any case (`1w`, `2D`, `1h30m`).
///
/// A bare number after a unit (`1h30`) is rejected: it is unclear whether
/// it meant seconds or was a typo, and BIND rejects it too.
pub fn parse_ttl(text: &str) -> Result<u32, TtlError> {
    if text.is_empty() {
        return Err(TtlError::Syntax);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return to_ttl(parse_digits(text.as_bytes())?);
    }
    let mut total: u64 = 0;
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() {
            return Err(TtlError::Syntax);
        }
        let (&unit, tail) = tail.split_first().ok_or(TtlError::Syntax)?;
        let factor: u64 = match unit.to_ascii_lowercase() {
            b'w' => 7 * 24 * 3600,
            b'd' => 24 * 3600,
            b'h' => 3600,
            b'm' => 60,
            b's' => 1,
            _ => return Err(TtlError::Syntax),
        };
        let value = parse_digits(number)?
            .checked_mul(factor)
            .ok_or(TtlError::Range)?;
        total = total.checked_add(value).ok_or(TtlError::Range)?;
        rest = tail;
    }
    to_ttl(total)
}

fn parse_digits(digits: &[u8]) -> Result<u64, TtlError> {
    let mut value: u64 = 0;
    for &b in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b.wrapping_sub(b'0'))))
            .ok_or(TtlError::Range)?;
    }
    Ok(value)
}

fn to_ttl(value: u64) -> Result<u32, TtlError> {
    match u32::try_from(value) {
        Ok(v) if v <= MAX_TTL => Ok(v),
        _ => Err(TtlError::Range),
    }
}

/// Formats the error for `text` the way the parser reports it.
pub fn ttl_error_message(text: &str, err: TtlError) -> String {
    match err {
        TtlError::Syntax => format!("bad TTL \"{text}\""),
        TtlError::Range => format!("bad TTL \"{text}\": larger than {MAX_TTL} (RFC 2181 §8)"),
    }
}

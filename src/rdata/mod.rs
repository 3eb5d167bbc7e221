//! Record data types that `domain` 0.12.3 does not provide in typed form,
//! plus small helpers for record type mnemonics shared by the zone-file
//! parser and these types.

pub mod csync;

use domain::base::iana::Rtype;

/// Parses a record type in presentation format: a mnemonic (any case) or
/// the generic `TYPEnnn` form of RFC 3597 §5.
///
/// `domain`'s `Rtype::from_str` would also take `TYPE+5`, because it hands
/// the digits to `u16::from_str`; only plain digits are accepted here.
pub fn rtype_from_presentation(text: &str) -> Option<u16> {
    if let Some(digits) = strip_prefix_ignore_case(text, "TYPE") {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return digits.parse().ok();
        }
    }
    Rtype::from_mnemonic(text.as_bytes()).map(Rtype::to_int)
}

/// Formats a record type as its mnemonic, or `TYPEnnn` (RFC 3597 §5) when
/// it has none.
pub fn rtype_to_presentation(rtype: u16) -> String {
    match Rtype::from_int(rtype).to_mnemonic_str() {
        Some(mnemonic) => mnemonic.to_string(),
        None => format!("TYPE{rtype}"),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtype_mnemonics_and_generic_form() {
        assert_eq!(rtype_from_presentation("A"), Some(1));
        assert_eq!(rtype_from_presentation("aaaa"), Some(28));
        assert_eq!(rtype_from_presentation("TYPE62"), Some(62));
        assert_eq!(rtype_from_presentation("type65534"), Some(65534));
        assert_eq!(rtype_from_presentation("TYPE65536"), None);
        assert_eq!(rtype_from_presentation("TYPE+5"), None);
        assert_eq!(rtype_from_presentation("TYPE"), None);
        assert_eq!(rtype_from_presentation("AA"), None);
        assert_eq!(rtype_to_presentation(1), "A");
        assert_eq!(rtype_to_presentation(65280), "TYPE65280");
    }
}

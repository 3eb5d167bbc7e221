//! `domain`'s `Scanner` over the rdata tokens of one entry, so that
//! `ZoneRecordData::scan` can turn them into typed record data.

use std::borrow::Cow;

use domain::base::charstr::CharStr;
use domain::base::name::Name;
use domain::base::scan::{ConvertSymbols, EntrySymbol, Scanner, ScannerError, Symbol, Symbols};
use domain::dep::octseq::str::Str;

use super::lexer::Token;
use super::name::name_from_presentation;

/// Error raised while scanning rdata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScanError {
    pub message: Cow<'static, str>,
    /// The message already names the offending token, so the caller should
    /// not add it again.
    pub names_token: bool,
    /// Set for errors meaning "the entry ran out of tokens".
    pub end_of_entry: bool,
}

impl ScanError {
    fn with_token(message: String) -> Self {
        ScanError {
            message: Cow::Owned(message),
            names_token: true,
            end_of_entry: false,
        }
    }
}

impl ScannerError for ScanError {
    fn custom(msg: &'static str) -> Self {
        ScanError {
            message: Cow::Borrowed(msg),
            names_token: false,
            end_of_entry: false,
        }
    }

    fn end_of_entry() -> Self {
        ScanError {
            message: Cow::Borrowed("missing data (unexpected end of entry)"),
            names_token: true,
            end_of_entry: true,
        }
    }

    fn short_buf() -> Self {
        Self::custom("data too long")
    }

    fn trailing_tokens() -> Self {
        Self::custom("trailing data")
    }
}

pub struct TokenScanner<'a> {
    tokens: &'a [Token<'a>],
    pos: usize,
    origin: &'a [u8],
    /// Index of the token consumed last, for error positions.
    last: Option<usize>,
}

impl<'a> TokenScanner<'a> {
    pub fn new(tokens: &'a [Token<'a>], origin: &'a [u8]) -> Self {
        TokenScanner {
            tokens,
            pos: 0,
            origin,
            last: None,
        }
    }

    /// The token consumed last, which is where a scan error was found.
    pub fn last_token(&self) -> Option<&'a Token<'a>> {
        self.tokens.get(self.last?)
    }

    /// Tokens not consumed yet.
    pub fn remaining(&self) -> &'a [Token<'a>] {
        self.tokens.get(self.pos..).unwrap_or_default()
    }

    fn next_token(&mut self) -> Result<&'a Token<'a>, ScanError> {
        let token = self
            .tokens
            .get(self.pos)
            .ok_or_else(ScanError::end_of_entry)?;
        self.last = Some(self.pos);
        self.pos += 1;
        Ok(token)
    }
}

/// Calls `op` with each symbol of a token. Most tokens have no backslash,
/// and then each character is its own symbol and no escape can be bad, so
/// they are walked directly; otherwise the symbols are all decoded first,
/// so that a bad escape is reported as such and not as whatever `op` makes
/// of the symbols before it.
fn for_each_symbol(
    token: &Token<'_>,
    mut op: impl FnMut(Symbol) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    if !token.text.as_bytes().contains(&b'\\') {
        return token.text.chars().try_for_each(|ch| op(Symbol::Char(ch)));
    }
    let mut iter = Symbols::new(token.text.chars());
    let symbols: Vec<Symbol> = iter.by_ref().collect();
    iter.ok().map_err(|_| {
        ScanError::with_token(format!("invalid escape sequence in \"{}\"", token.text))
    })?;
    symbols.into_iter().try_for_each(op)
}

/// Octets of a token. Characters outside ASCII are taken as their UTF-8
/// bytes, as BIND does, so TXT data may be written in UTF-8.
fn token_octets(token: &Token<'_>) -> Result<Vec<u8>, ScanError> {
    if !token.text.as_bytes().contains(&b'\\') {
        // Each character's UTF-8 bytes are exactly the text's bytes.
        return Ok(token.text.as_bytes().to_vec());
    }
    let mut out = Vec::with_capacity(token.text.len());
    let mut buf = [0u8; 4];
    for_each_symbol(token, |sym| {
        match sym {
            Symbol::Char(ch) => out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes()),
            Symbol::SimpleEscape(b) | Symbol::DecimalEscape(b) => out.push(b),
        }
        Ok(())
    })?;
    Ok(out)
}

fn token_charstr(token: &Token<'_>) -> Result<Vec<u8>, ScanError> {
    let octets = token_octets(token)?;
    if octets.len() > 255 {
        return Err(ScanError::with_token(format!(
            "character string longer than 255 octets: \"{}\"",
            token.text
        )));
    }
    Ok(octets)
}

impl Scanner for TokenScanner<'_> {
    type Octets = Vec<u8>;
    type OctetsBuilder = Vec<u8>;
    type Name = Name<Vec<u8>>;
    type Error = ScanError;

    fn has_space(&self) -> bool {
        self.tokens.get(self.pos).is_none_or(|t| t.space_before)
    }

    fn continues(&mut self) -> bool {
        self.pos < self.tokens.len()
    }

    fn scan_symbols<F>(&mut self, op: F) -> Result<(), Self::Error>
    where
        F: FnMut(Symbol) -> Result<(), Self::Error>,
    {
        let token = self.next_token()?;
        for_each_symbol(token, op)
    }

    fn scan_entry_symbols<F>(&mut self, mut op: F) -> Result<(), Self::Error>
    where
        F: FnMut(EntrySymbol) -> Result<(), Self::Error>,
    {
        while self.continues() {
            let token = self.next_token()?;
            for_each_symbol(token, |sym| op(EntrySymbol::Symbol(sym)))?;
            op(EntrySymbol::EndOfToken)?;
        }
        Ok(())
    }

    fn convert_token<C: ConvertSymbols<Symbol, Self::Error>>(
        &mut self,
        mut convert: C,
    ) -> Result<Self::Octets, Self::Error> {
        let token = self.next_token()?;
        let mut out = Vec::new();
        for_each_symbol(token, |sym| {
            if let Some(data) = convert.process_symbol(sym)? {
                out.extend_from_slice(data);
            }
            Ok(())
        })?;
        if let Some(data) = convert.process_tail()? {
            out.extend_from_slice(data);
        }
        Ok(out)
    }

    fn convert_entry<C: ConvertSymbols<EntrySymbol, Self::Error>>(
        &mut self,
        mut convert: C,
    ) -> Result<Self::Octets, Self::Error> {
        // Like domain's own scanners, no EndOfToken here: base64 and hex
        // may be split over several tokens and must be joined.
        let mut out = Vec::new();
        while self.continues() {
            let token = self.next_token()?;
            for_each_symbol(token, |sym| {
                if let Some(data) = convert.process_symbol(EntrySymbol::Symbol(sym))? {
                    out.extend_from_slice(data);
                }
                Ok(())
            })?;
        }
        if let Some(data) = convert.process_tail()? {
            out.extend_from_slice(data);
        }
        Ok(out)
    }

    fn scan_octets(&mut self) -> Result<Self::Octets, Self::Error> {
        let token = self.next_token()?;
        token_octets(token)
    }

    fn scan_svcb_octets(&mut self) -> Result<Self::Octets, Self::Error> {
        let token = self.next_token()?;
        let mut out = token_octets(token)?;
        // `key="quoted value"` lexes as `key=` plus a quoted token with no
        // space between them; RFC 9460 §2.1 makes that one SvcParam.
        if let Some(next) = self.tokens.get(self.pos) {
            if next.quoted && !next.space_before {
                let next = self.next_token()?;
                out.extend_from_slice(&token_octets(next)?);
            }
        }
        Ok(out)
    }

    fn scan_ascii_str<F, T>(&mut self, op: F) -> Result<T, Self::Error>
    where
        F: FnOnce(&str) -> Result<T, Self::Error>,
    {
        let token = self.next_token()?;
        let mut text = String::with_capacity(token.text.len());
        for_each_symbol(token, |sym| {
            let octet = sym.into_ascii().map_err(|_| {
                ScanError::with_token(format!("non-ASCII data in \"{}\"", token.text))
            })?;
            text.push(char::from(octet));
            Ok(())
        })?;
        op(&text)
    }

    fn scan_name(&mut self) -> Result<Self::Name, Self::Error> {
        let token = self.next_token()?;
        let wire = name_from_presentation(&token.text, self.origin)
            .map_err(|e| ScanError::with_token(e.to_string()))?;
        Name::from_octets(wire).map_err(|e| {
            ScanError::with_token(format!("invalid domain name \"{}\": {e}", token.text))
        })
    }

    fn scan_charstr(&mut self) -> Result<CharStr<Self::Octets>, Self::Error> {
        let token = self.next_token()?;
        let octets = token_charstr(token)?;
        CharStr::from_octets(octets).map_err(|_| {
            ScanError::with_token(format!(
                "character string longer than 255 octets: \"{}\"",
                token.text
            ))
        })
    }

    fn scan_string(&mut self) -> Result<Str<Self::Octets>, Self::Error> {
        let token = self.next_token()?;
        let mut text = String::with_capacity(token.text.len());
        for_each_symbol(token, |sym| {
            let ch = sym.into_char().map_err(|_| {
                ScanError::with_token(format!("invalid UTF-8 data in \"{}\"", token.text))
            })?;
            text.push(ch);
            Ok(())
        })?;
        Str::from_utf8(text.into_bytes())
            .map_err(|_| ScanError::with_token(format!("invalid UTF-8 data in \"{}\"", token.text)))
    }

    fn scan_charstr_entry(&mut self) -> Result<Self::Octets, Self::Error> {
        if !self.continues() {
            return Err(ScanError::end_of_entry());
        }
        let mut out = Vec::new();
        while self.continues() {
            let token = self.next_token()?;
            let octets = token_charstr(token)?;
            // token_charstr caps the length at 255.
            out.push(octets.len() as u8);
            out.extend_from_slice(&octets);
        }
        Ok(out)
    }

    fn scan_opt_unknown_marker(&mut self) -> Result<bool, Self::Error> {
        match self.tokens.get(self.pos) {
            Some(token) if !token.quoted && token.text == "\\#" => {
                self.next_token()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn octets_builder(&mut self) -> Result<Self::OctetsBuilder, Self::Error> {
        Ok(Vec::new())
    }
}

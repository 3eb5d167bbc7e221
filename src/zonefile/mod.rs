//! Master-file (zone-file) parser, RFC 1035 §5.
//!
//! Written here rather than using `domain::zonefile::inplace` because that
//! scanner (in `domain` 0.12.3) lacks `$GENERATE` and TTL units, and its
//! error positions may point at the line after the problem. Record data of
//! every type `domain` knows is still parsed by `domain`, through a
//! [`Scanner`](domain::base::scan::Scanner) over the tokens of one entry.
//!
//! Supported beyond RFC 1035: BIND's TTL units (`1h30m`) and `$GENERATE`,
//! `$TTL` (RFC 2308 §4), the generic `TYPEnnn` / `\#` forms (RFC 3597 §5),
//! and CSYNC (RFC 7477) and SPF (RFC 7208), which `domain` cannot scan.

mod generate;
mod lexer;
mod name;
mod rdata;
mod scanner;
mod ttl;

#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::base::scan::Symbols;

use generate::{expand, unquote_rhs, GenRange};
use lexer::{Entry, Lexer, Token};
use rdata::{parse_rdata, soa_minimum, SOA};
use ttl::{ttl_error_message, TtlError};

pub use name::{is_valid_wire_name, name_from_presentation, name_to_presentation, NameError};
pub use ttl::{parse_ttl, MAX_TTL};

use crate::rdata::{rtype_from_presentation, rtype_to_presentation};

/// Class IN, the only class accepted.
const CLASS_IN: u16 = 1;

/// Settings for one parse.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Zone apex in uncompressed wire format, e.g.
    /// `b"\x07example\x03com\x00"`; the initial `$ORIGIN`.
    pub origin: Vec<u8>,
    /// TTL for records without one when neither `$TTL` nor an earlier
    /// explicit TTL gives one.
    pub default_ttl: Option<u32>,
    /// `$INCLUDE` may not leave this directory; `None` means the directory
    /// of the top file.
    pub include_root: Option<PathBuf>,
    /// Disables the `include_root` check.
    pub allow_include_anywhere: bool,
    /// How deeply `$INCLUDE` may nest.
    pub max_include_depth: usize,
    /// Most records a single `$GENERATE` may create.
    pub max_generate: usize,
    /// Most errors collected before parsing stops.
    pub max_errors: usize,
}

impl ParseOptions {
    pub fn new(origin: Vec<u8>) -> Self {
        ParseOptions {
            origin,
            default_ttl: None,
            include_root: None,
            allow_include_anywhere: false,
            max_include_depth: 8,
            max_generate: 65536,
            max_errors: 100,
        }
    }
}

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePos {
    pub file: Arc<Path>,
    pub line: u32,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One resource record as read from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileRecord {
    /// Uncompressed wire name, absolute, case as written.
    pub owner: Vec<u8>,
    pub rtype: u16,
    /// Always IN (1); other classes are rejected.
    pub class: u16,
    pub ttl: u32,
    /// Uncompressed wire rdata.
    pub rdata: Vec<u8>,
    pub pos: SourcePos,
}

/// A problem in a zone file, or a warning.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct ZoneFileError {
    pub file: PathBuf,
    /// Line where the problem is; 0 if it concerns the whole file.
    pub line: u32,
    pub message: String,
}

/// Result of a successful parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedZone {
    pub records: Vec<ZoneFileRecord>,
    pub warnings: Vec<ZoneFileError>,
}

/// Parses the zone file at `path`, following `$INCLUDE`s.
///
/// All errors found (up to `max_errors`) are returned together; an entry
/// with an error is skipped and parsing goes on with the next one.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<ParsedZone, Vec<ZoneFileError>> {
    let mut loader = Loader::new(opts, path)?;
    let mut ctx = FileCtx::top(path, opts);
    match fs::read(path) {
        Ok(bytes) => loader.parse_bytes(&bytes, &mut ctx),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            loader.error(&ctx.path, 0, "zone file not found".to_string())
        }
        Err(e) => loader.error(&ctx.path, 0, format!("cannot read zone file: {e}")),
    }
    loader.finish()
}

/// Parses zone-file text; `file_name` is used in positions and messages,
/// and `$INCLUDE` paths are relative to its directory.
pub fn parse_str(
    text: &str,
    file_name: &Path,
    opts: &ParseOptions,
) -> Result<ParsedZone, Vec<ZoneFileError>> {
    let mut loader = Loader::new(opts, file_name)?;
    let mut ctx = FileCtx::top(file_name, opts);
    loader.parse_text(text, &[], &mut ctx);
    loader.finish()
}

/// State that RFC 1035 §5.1 scopes to one file: `$INCLUDE` starts the
/// included file with its own origin and no previous owner, and the
/// including file carries on with its own state afterwards.
struct FileCtx {
    path: Arc<Path>,
    origin: Vec<u8>,
    last_owner: Option<Vec<u8>>,
    depth: usize,
}

impl FileCtx {
    fn top(path: &Path, opts: &ParseOptions) -> Self {
        FileCtx {
            path: Arc::from(path),
            origin: opts.origin.clone(),
            last_owner: None,
            depth: 0,
        }
    }
}

/// The type, and the optional TTL and class before it (RFC 1035 §5.1).
struct RecordHead {
    ttl: Option<u32>,
    rtype: u16,
    /// Index of the first rdata token.
    rdata_start: usize,
}

struct Loader<'o> {
    opts: &'o ParseOptions,
    top_dir: PathBuf,
    include_root: Option<Result<PathBuf, String>>,
    records: Vec<ZoneFileRecord>,
    warnings: Vec<ZoneFileError>,
    errors: Vec<ZoneFileError>,
    dollar_ttl: Option<u32>,
    last_ttl: Option<u32>,
    soa_minimum: Option<u32>,
    warned_soa_minimum: bool,
}

impl<'o> Loader<'o> {
    fn new(opts: &'o ParseOptions, top: &Path) -> Result<Self, Vec<ZoneFileError>> {
        if !is_valid_wire_name(&opts.origin) {
            return Err(vec![ZoneFileError {
                file: top.to_path_buf(),
                line: 0,
                message: "origin in the parse options is not a valid wire-format name".to_string(),
            }]);
        }
        let top_dir = match top.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Loader {
            opts,
            top_dir,
            include_root: None,
            records: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            dollar_ttl: None,
            last_ttl: None,
            soa_minimum: None,
            warned_soa_minimum: false,
        })
    }

    fn finish(self) -> Result<ParsedZone, Vec<ZoneFileError>> {
        if self.errors.is_empty() {
            Ok(ParsedZone {
                records: self.records,
                warnings: self.warnings,
            })
        } else {
            Err(self.errors)
        }
    }

    fn full(&self) -> bool {
        self.errors.len() >= self.opts.max_errors.max(1)
    }

    fn error(&mut self, file: &Path, line: u32, message: String) {
        if !self.full() {
            self.errors.push(ZoneFileError {
                file: file.to_path_buf(),
                line,
                message,
            });
        }
    }

    fn warn(&mut self, file: &Path, line: u32, message: String) {
        self.warnings.push(ZoneFileError {
            file: file.to_path_buf(),
            line,
            message,
        });
    }

    fn parse_bytes(&mut self, bytes: &[u8], ctx: &mut FileCtx) {
        let (text, bad_lines) = lexer::decode(bytes);
        self.parse_text(&text, &bad_lines, ctx);
    }

    fn parse_text(&mut self, text: &str, bad_lines: &[u32], ctx: &mut FileCtx) {
        let mut lexer = Lexer::new(text, bad_lines);
        while let Some(entry) = lexer.next_entry() {
            if self.full() {
                return;
            }
            self.entry(&entry, ctx);
        }
    }

    fn entry(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let Some(first) = entry.tokens.first() else {
            if let Some(err) = &entry.error {
                self.error(&ctx.path, err.line, err.message.clone());
            }
            return;
        };
        let directive = !entry.leading_space && !first.quoted && first.text.starts_with('$');
        if let Some(err) = &entry.error {
            // Later owner-less lines belong to this owner, not an older one.
            if !entry.leading_space && !directive {
                ctx.last_owner = name_from_presentation(&first.text, &ctx.origin).ok();
            }
            self.error(&ctx.path, err.line, err.message.clone());
            return;
        }
        if directive {
            self.directive(entry, ctx);
        } else {
            self.record(entry, ctx);
        }
    }

    fn record(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let tokens = &entry.tokens;
        let (owner, head_start) = if entry.leading_space {
            match &ctx.last_owner {
                Some(owner) => (owner.clone(), 0),
                None => {
                    self.error(
                        &ctx.path,
                        entry.line,
                        "no owner name: the entry starts with white space and no earlier \
                         record gives an owner"
                            .to_string(),
                    );
                    return;
                }
            }
        } else {
            let Some(token) = tokens.first() else { return };
            match name_from_presentation(&token.text, &ctx.origin) {
                Ok(owner) => {
                    ctx.last_owner = Some(owner.clone());
                    (owner, 1)
                }
                Err(e) => {
                    ctx.last_owner = None;
                    self.error(&ctx.path, token.line, format!("bad owner name: {e}"));
                    return;
                }
            }
        };
        let rest = tokens.get(head_start..).unwrap_or_default();
        let head = match parse_head(rest, entry.line) {
            Ok(head) => head,
            Err((line, message)) => return self.error(&ctx.path, line, message),
        };
        let rdata_tokens = rest.get(head.rdata_start..).unwrap_or_default();
        let rdata = match parse_rdata(head.rtype, rdata_tokens, &ctx.origin) {
            Ok(rdata) => rdata,
            Err(e) => return self.error(&ctx.path, e.line.unwrap_or(entry.line), e.message),
        };
        let Some(ttl) = self.resolve_ttl(head.ttl, head.rtype, &rdata, &ctx.path, entry.line)
        else {
            return;
        };
        self.push(owner, head.rtype, ttl, rdata, ctx, entry.line);
    }

    fn push(
        &mut self,
        owner: Vec<u8>,
        rtype: u16,
        ttl: u32,
        rdata: Vec<u8>,
        ctx: &FileCtx,
        line: u32,
    ) {
        if rtype == SOA && self.soa_minimum.is_none() {
            self.soa_minimum = soa_minimum(&rdata);
        }
        self.records.push(ZoneFileRecord {
            owner,
            rtype,
            class: CLASS_IN,
            ttl,
            rdata,
            pos: SourcePos {
                file: ctx.path.clone(),
                line,
            },
        });
    }

    /// TTL for a record: the explicit one, else `$TTL` (RFC 2308 §4), else
    /// the last explicit TTL (RFC 1035 §5.1), else the configured default,
    /// else the SOA MINIMUM with a warning, as BIND does.
    fn resolve_ttl(
        &mut self,
        explicit: Option<u32>,
        rtype: u16,
        rdata: &[u8],
        file: &Path,
        line: u32,
    ) -> Option<u32> {
        if let Some(ttl) = explicit {
            self.last_ttl = Some(ttl);
            return Some(ttl);
        }
        if let Some(ttl) = self.dollar_ttl.or(self.last_ttl).or(self.opts.default_ttl) {
            return Some(ttl);
        }
        let minimum = if rtype == SOA {
            soa_minimum(rdata)
        } else {
            self.soa_minimum
        };
        match minimum {
            Some(minimum) => {
                if !self.warned_soa_minimum {
                    self.warned_soa_minimum = true;
                    self.warn(
                        file,
                        line,
                        format!(
                            "no TTL given and no $TTL directive; using the SOA MINIMUM \
                             {minimum} instead"
                        ),
                    );
                }
                Some(minimum.min(MAX_TTL))
            }
            None => {
                self.error(file, line, "no TTL given and no $TTL directive".to_string());
                None
            }
        }
    }

    fn directive(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let Some(first) = entry.tokens.first() else {
            return;
        };
        let name = first.text.to_ascii_uppercase();
        match name.as_str() {
            "$ORIGIN" => self.origin_directive(entry, ctx),
            "$TTL" => self.ttl_directive(entry, ctx),
            "$INCLUDE" => self.include_directive(entry, ctx),
            "$GENERATE" => self.generate_directive(entry, ctx),
            _ => self.error(
                &ctx.path,
                first.line,
                format!("unknown directive \"{}\"", first.text),
            ),
        }
    }

    /// `$ORIGIN <domain-name>` (RFC 1035 §5.1); a relative name is taken
    /// relative to the current origin.
    fn origin_directive(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let Some(arg) = entry.tokens.get(1) else {
            return self.error(
                &ctx.path,
                entry.line,
                "$ORIGIN needs a domain name".to_string(),
            );
        };
        if let Some(extra) = entry.tokens.get(2) {
            return self.error(&ctx.path, extra.line, trailing(extra));
        }
        match name_from_presentation(&arg.text, &ctx.origin) {
            Ok(origin) => ctx.origin = origin,
            Err(e) => self.error(&ctx.path, arg.line, format!("bad $ORIGIN: {e}")),
        }
    }

    /// `$TTL <ttl>` (RFC 2308 §4).
    fn ttl_directive(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let Some(arg) = entry.tokens.get(1) else {
            return self.error(&ctx.path, entry.line, "$TTL needs a TTL".to_string());
        };
        if let Some(extra) = entry.tokens.get(2) {
            return self.error(&ctx.path, extra.line, trailing(extra));
        }
        match parse_ttl(&arg.text) {
            Ok(ttl) => self.dollar_ttl = Some(ttl),
            Err(e) => self.error(&ctx.path, arg.line, ttl_error_message(&arg.text, e)),
        }
    }

    /// `$INCLUDE <file-name> [<domain-name>]` (RFC 1035 §5.1).
    fn include_directive(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let Some(file_tok) = entry.tokens.get(1) else {
            return self.error(
                &ctx.path,
                entry.line,
                "$INCLUDE needs a file name".to_string(),
            );
        };
        let Some(file_name) = token_string(file_tok) else {
            return self.error(
                &ctx.path,
                file_tok.line,
                format!("bad $INCLUDE file name \"{}\"", file_tok.text),
            );
        };
        let origin = match entry.tokens.get(2) {
            Some(tok) => match name_from_presentation(&tok.text, &ctx.origin) {
                Ok(origin) => origin,
                Err(e) => {
                    return self.error(&ctx.path, tok.line, format!("bad $INCLUDE origin: {e}"))
                }
            },
            None => ctx.origin.clone(),
        };
        if let Some(extra) = entry.tokens.get(3) {
            return self.error(&ctx.path, extra.line, trailing(extra));
        }
        let line = file_tok.line;
        if ctx.depth >= self.opts.max_include_depth {
            return self.error(
                &ctx.path,
                line,
                format!(
                    "$INCLUDE nested too deeply (max {})",
                    self.opts.max_include_depth
                ),
            );
        }
        let base = ctx.path.parent().unwrap_or(Path::new(""));
        let target = base.join(&file_name);
        let canonical = match fs::canonicalize(&target) {
            Ok(path) => path,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.error(
                    &ctx.path,
                    line,
                    format!("$INCLUDE file \"{file_name}\" not found"),
                )
            }
            Err(e) => {
                return self.error(
                    &ctx.path,
                    line,
                    format!("$INCLUDE file \"{file_name}\": {e}"),
                )
            }
        };
        if !self.opts.allow_include_anywhere {
            let root = match self.include_root() {
                Ok(root) => root,
                Err(message) => return self.error(&ctx.path, line, message),
            };
            if !canonical.starts_with(&root) {
                return self.error(
                    &ctx.path,
                    line,
                    format!("$INCLUDE \"{file_name}\" escapes the zone directory"),
                );
            }
        }
        let bytes = match fs::read(&canonical) {
            Ok(bytes) => bytes,
            Err(e) => {
                return self.error(
                    &ctx.path,
                    line,
                    format!("$INCLUDE file \"{file_name}\": {e}"),
                )
            }
        };
        let mut child = FileCtx {
            path: Arc::from(target.as_path()),
            origin,
            last_owner: None,
            depth: ctx.depth + 1,
        };
        self.parse_bytes(&bytes, &mut child);
    }

    fn include_root(&mut self) -> Result<PathBuf, String> {
        if let Some(root) = &self.include_root {
            return root.clone();
        }
        let dir = self
            .opts
            .include_root
            .clone()
            .unwrap_or_else(|| self.top_dir.clone());
        let root = fs::canonicalize(&dir).map_err(|e| {
            format!(
                "cannot resolve the zone directory \"{}\": {e}",
                dir.display()
            )
        });
        self.include_root = Some(root.clone());
        root
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs`, as in BIND 9.
    ///
    /// The rhs is normally one token; when it is one quoted string, its
    /// expanded text is read again as rdata, as BIND does (so
    /// `"10 mail$"` works for MX). Several tokens are also accepted, each
    /// expanded on its own.
    fn generate_directive(&mut self, entry: &Entry, ctx: &mut FileCtx) {
        let tokens = &entry.tokens;
        let (Some(range_tok), Some(lhs)) = (tokens.get(1), tokens.get(2)) else {
            return self.error(
                &ctx.path,
                entry.line,
                "$GENERATE needs a range, an owner, a type and rdata".to_string(),
            );
        };
        let Some(range) = GenRange::parse(&range_tok.text) else {
            return self.error(
                &ctx.path,
                range_tok.line,
                format!("invalid $GENERATE range \"{}\"", range_tok.text),
            );
        };
        let rest = tokens.get(3..).unwrap_or_default();
        let head = match parse_head(rest, entry.line) {
            Ok(head) => head,
            Err((line, message)) => return self.error(&ctx.path, line, message),
        };
        let rhs = rest.get(head.rdata_start..).unwrap_or_default();
        if rhs.is_empty() {
            return self.error(&ctx.path, entry.line, "$GENERATE needs rdata".to_string());
        }
        let count = range.count();
        if count > self.opts.max_generate as u64 {
            return self.error(
                &ctx.path,
                entry.line,
                format!(
                    "$GENERATE would create {count} records (max {})",
                    self.opts.max_generate
                ),
            );
        }
        for it in range.iter() {
            let (line, result) = generate_one(lhs, rhs, head.rtype, it, &ctx.origin);
            let (owner, rdata) = match result {
                Ok(parts) => parts,
                Err(message) => {
                    // One bad template would fail the same way every time.
                    return self.error(
                        &ctx.path,
                        line.unwrap_or(entry.line),
                        format!("{message} (in $GENERATE iteration {it})"),
                    );
                }
            };
            let Some(ttl) = self.resolve_ttl(head.ttl, head.rtype, &rdata, &ctx.path, entry.line)
            else {
                return;
            };
            self.push(owner, head.rtype, ttl, rdata, ctx, entry.line);
        }
    }
}

type Generated = Result<(Vec<u8>, Vec<u8>), String>;

/// Owner and rdata of one `$GENERATE` iteration, with the line to blame
/// on failure.
fn generate_one(
    lhs: &Token,
    rhs: &[Token],
    rtype: u16,
    it: u32,
    origin: &[u8],
) -> (Option<u32>, Generated) {
    let owner_text = match expand(&lhs.text, it) {
        Ok(text) => text,
        Err(e) => return (Some(lhs.line), Err(e.to_string())),
    };
    let owner = match name_from_presentation(&owner_text, origin) {
        Ok(owner) => owner,
        Err(e) => return (Some(lhs.line), Err(format!("bad owner name: {e}"))),
    };
    let rhs_tokens = match generate_rhs(rhs, it) {
        Ok(tokens) => tokens,
        Err(e) => return (rhs.first().map(|t| t.line), Err(e)),
    };
    match parse_rdata(rtype, &rhs_tokens, origin) {
        Ok(rdata) => (None, Ok((owner, rdata))),
        Err(e) => (e.line, Err(e.message)),
    }
}

fn generate_rhs(rhs: &[Token], it: u32) -> Result<Vec<Token>, String> {
    if let [single] = rhs {
        if single.quoted {
            let text = expand(&unquote_rhs(&single.text), it).map_err(|e| e.to_string())?;
            let mut lexer = Lexer::new(&text, &[]);
            let mut tokens = Vec::new();
            while let Some(entry) = lexer.next_entry() {
                if let Some(err) = entry.error {
                    return Err(format!("bad $GENERATE rdata \"{text}\": {}", err.message));
                }
                tokens.extend(entry.tokens.into_iter().map(|t| Token {
                    line: single.line,
                    ..t
                }));
            }
            return Ok(tokens);
        }
    }
    rhs.iter()
        .map(|t| {
            Ok(Token {
                text: expand(&t.text, it).map_err(|e| e.to_string())?,
                ..t.clone()
            })
        })
        .collect()
}

/// Reads `[ttl] [class] type` or `[class] [ttl] type` (RFC 1035 §5.1).
///
/// A token is a TTL if it parses as one and a class if it is a class
/// mnemonic; the first token that is neither is the type. Type mnemonics
/// never start with a digit, so such a token that is not a valid TTL is
/// reported as a bad TTL rather than an unknown type.
fn parse_head(tokens: &[Token], entry_line: u32) -> Result<RecordHead, (u32, String)> {
    let mut ttl = None;
    let mut class = None;
    let mut idx = 0usize;
    let type_tok = loop {
        let Some(tok) = tokens.get(idx) else {
            let line = tokens.last().map_or(entry_line, |t| t.line);
            return Err((line, "missing record type".to_string()));
        };
        if ttl.is_none() && !tok.quoted {
            match parse_ttl(&tok.text) {
                Ok(value) => {
                    ttl = Some(value);
                    idx += 1;
                    continue;
                }
                Err(TtlError::Range) => {
                    return Err((tok.line, ttl_error_message(&tok.text, TtlError::Range)))
                }
                Err(TtlError::Syntax) if tok.text.starts_with(|c: char| c.is_ascii_digit()) => {
                    return Err((tok.line, ttl_error_message(&tok.text, TtlError::Syntax)))
                }
                Err(TtlError::Syntax) => {}
            }
        }
        if class.is_none() && !tok.quoted {
            if let Some(value) = parse_class(&tok.text) {
                if value != CLASS_IN {
                    return Err((tok.line, format!("record class {} not supported", tok.text)));
                }
                class = Some(value);
                idx += 1;
                continue;
            }
        }
        break tok;
    };
    let Some(rtype) = rtype_from_presentation(&type_tok.text) else {
        return Err((
            type_tok.line,
            format!("unknown record type \"{}\"", type_tok.text),
        ));
    };
    // RFC 6895 §3.1: OPT and the 128-255 range are for queries and
    // transport only, never zone data.
    if rtype == 41 || (128..=255).contains(&rtype) {
        return Err((
            type_tok.line,
            format!(
                "record type {} cannot appear in a zone file",
                rtype_to_presentation(rtype)
            ),
        ));
    }
    Ok(RecordHead {
        ttl,
        rtype,
        rdata_start: idx + 1,
    })
}

/// Class mnemonics (RFC 1035 §3.2.4) and the generic `CLASSnnn` form
/// (RFC 3597 §5).
fn parse_class(text: &str) -> Option<u16> {
    for (mnemonic, value) in [("IN", 1), ("CS", 2), ("CH", 3), ("HS", 4)] {
        if text.eq_ignore_ascii_case(mnemonic) {
            return Some(value);
        }
    }
    let prefix = text.get(..5)?;
    let digits = text.get(5..)?;
    if prefix.eq_ignore_ascii_case("CLASS")
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return digits.parse().ok();
    }
    None
}

fn trailing(token: &Token) -> String {
    format!("trailing data \"{}\"", token.text)
}

/// Decodes escapes in a token meant as plain text, such as a file name.
fn token_string(token: &Token) -> Option<String> {
    let mut symbols = Symbols::new(token.text.chars());
    let text: Option<String> = symbols.by_ref().map(|s| s.into_char().ok()).collect();
    symbols.ok().ok()?;
    text.filter(|t| !t.is_empty())
}

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
//!
//! [`parse_file_each`] hands records to a callback as they are parsed, so
//! that loading a large zone never holds it twice; [`parse_file`] collects
//! them. Per record the parser allocates nothing in the common case:
//! tokens borrow the file text, the entry, owner and rdata buffers are
//! reused, and the commonest types skip `domain` (see `fast`).

pub mod chunks;
mod fast;
mod generate;
mod lexer;
mod name;
mod rdata;
mod scanner;
mod ttl;
pub mod write;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
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

pub use name::{
    is_valid_wire_name, name_from_presentation, name_from_presentation_into, name_to_presentation,
    NameError,
};
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

/// One record as the parser produces it; borrowed, valid only during the
/// callback of [`parse_file_each`] or [`parse_str_each`]. The fields mean
/// what they do in [`ZoneFileRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
    pub pos: &'a SourcePos,
}

impl RecordRef<'_> {
    /// An owned copy, for callers that keep records.
    pub fn to_record(&self) -> ZoneFileRecord {
        ZoneFileRecord {
            owner: self.owner.to_vec(),
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: self.rdata.to_vec(),
            pos: self.pos.clone(),
        }
    }
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
    /// As in [`ParseSummary::files`].
    pub files: Vec<PathBuf>,
}

/// What a successful streaming parse returns besides the records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseSummary {
    pub warnings: Vec<ZoneFileError>,
    /// Every file read, each once, in the order first read: the zone file
    /// (for [`parse_file_each`]; [`parse_str_each`] reads none) and each
    /// `$INCLUDE`d file, even one without records. Paths are as in
    /// [`SourcePos::file`]: an included file's is its `$INCLUDE` argument
    /// joined to the including file's directory.
    pub files: Vec<PathBuf>,
}

/// Parses the zone file at `path`, following `$INCLUDE`s.
///
/// All errors found (up to `max_errors`) are returned together; an entry
/// with an error is skipped and parsing goes on with the next one.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<ParsedZone, Vec<ZoneFileError>> {
    let mut records = Vec::new();
    let summary = parse_file_each(path, opts, &mut |rec| records.push(rec.to_record()))?;
    Ok(ParsedZone {
        records,
        warnings: summary.warnings,
        files: summary.files,
    })
}

/// Parses zone-file text; `file_name` is used in positions and messages,
/// and `$INCLUDE` paths are relative to its directory.
pub fn parse_str(
    text: &str,
    file_name: &Path,
    opts: &ParseOptions,
) -> Result<ParsedZone, Vec<ZoneFileError>> {
    let mut records = Vec::new();
    let summary = parse_str_each(text, file_name, opts, &mut |rec| {
        records.push(rec.to_record())
    })?;
    Ok(ParsedZone {
        records,
        warnings: summary.warnings,
        files: summary.files,
    })
}

/// Like [`parse_file`], but hands each record to `on_record` as soon as it
/// is parsed instead of collecting them, so a large zone is never held
/// twice.
///
/// Records come in file order, with `$INCLUDE`d records in place. The
/// callback may see records before a later error makes the parse fail:
/// on `Err` the caller must discard everything it was given.
pub fn parse_file_each(
    path: &Path,
    opts: &ParseOptions,
    on_record: &mut dyn FnMut(RecordRef<'_>),
) -> Result<ParseSummary, Vec<ZoneFileError>> {
    let mut loader = Loader::new(opts, path, on_record)?;
    let mut ctx = FileCtx::top(path, opts);
    match fs::read(path) {
        Ok(bytes) => {
            loader.read_file(path);
            loader.parse_bytes(&bytes, &mut ctx);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            loader.error(ctx.path(), 0, "zone file not found".to_string())
        }
        Err(e) => loader.error(ctx.path(), 0, format!("cannot read zone file: {e}")),
    }
    loader.finish()
}

/// Like [`parse_str`], but streaming as [`parse_file_each`] does; the same
/// caveat about records before an error applies.
pub fn parse_str_each(
    text: &str,
    file_name: &Path,
    opts: &ParseOptions,
    on_record: &mut dyn FnMut(RecordRef<'_>),
) -> Result<ParseSummary, Vec<ZoneFileError>> {
    let mut loader = Loader::new(opts, file_name, on_record)?;
    let mut ctx = FileCtx::top(file_name, opts);
    loader.parse_text(text, &[], &mut ctx);
    loader.finish()
}

/// State that RFC 1035 §5.1 scopes to one file: `$INCLUDE` starts the
/// included file with its own origin and no previous owner, and the
/// including file carries on with its own state afterwards.
struct FileCtx {
    /// The file, and the line of the record being parsed; records borrow
    /// it, so the path is not cloned per record.
    pos: SourcePos,
    origin: Vec<u8>,
    /// The previous owner, when `has_owner`. Kept as a buffer that each
    /// entry's owner is parsed into, and that records borrow their owner
    /// from, so owners cost no allocation.
    owner: Vec<u8>,
    has_owner: bool,
    depth: usize,
}

impl FileCtx {
    fn top(path: &Path, opts: &ParseOptions) -> Self {
        Self::new(path, opts.origin.clone(), 0)
    }

    fn new(path: &Path, origin: Vec<u8>, depth: usize) -> Self {
        FileCtx {
            pos: SourcePos {
                file: Arc::from(path),
                line: 0,
            },
            origin,
            owner: Vec::new(),
            has_owner: false,
            depth,
        }
    }

    fn path(&self) -> &Path {
        &self.pos.file
    }
}

/// The type, and the optional TTL and class before it (RFC 1035 §5.1).
struct RecordHead {
    ttl: Option<u32>,
    rtype: u16,
    /// Index of the first rdata token.
    rdata_start: usize,
}

/// A file an `$INCLUDE` names.
struct Included {
    /// As named (relative to the including file), for positions.
    path: PathBuf,
    bytes: Vec<u8>,
    /// Its origin, wire format.
    origin: Vec<u8>,
}

/// Why an `$INCLUDE` is not followed.
#[derive(Debug, thiserror::Error)]
enum IncludeError {
    #[error("$INCLUDE needs a file name")]
    NoFileName,
    #[error("bad $INCLUDE file name \"{0}\"")]
    BadFileName(String),
    #[error("bad $INCLUDE origin: {0}")]
    BadOrigin(name::NameError),
    #[error("trailing data \"{0}\"")]
    Trailing(String),
    #[error("$INCLUDE nested too deeply (max {0})")]
    TooDeep(usize),
    #[error("$INCLUDE file \"{0}\" not found")]
    NotFound(String),
    #[error("$INCLUDE file \"{file}\": {error}")]
    Unreadable { file: String, error: io::Error },
    /// Without it, no file can be shown to stay inside it.
    #[error("cannot resolve the zone directory \"{}\": {error}", dir.display())]
    RootUnresolved { dir: PathBuf, error: Arc<io::Error> },
    #[error("$INCLUDE \"{0}\" escapes the zone directory")]
    Escapes(String),
}

/// Why one iteration of a `$GENERATE` has no rdata.
#[derive(Debug, thiserror::Error)]
enum GenerateError {
    #[error(transparent)]
    Expand(#[from] generate::GenError),
    /// A quoted rhs whose expanded text is not rdata.
    #[error("bad $GENERATE rdata \"{text}\": {message}")]
    Rdata { text: String, message: String },
}

struct Loader<'o, 'c> {
    opts: &'o ParseOptions,
    top_dir: PathBuf,
    include_root: Option<Result<PathBuf, Arc<io::Error>>>,
    on_record: &'c mut dyn FnMut(RecordRef<'_>),
    /// Rdata of the record being parsed, reused from record to record.
    rdata: Vec<u8>,
    files: Vec<PathBuf>,
    warnings: Vec<ZoneFileError>,
    errors: Vec<ZoneFileError>,
    dollar_ttl: Option<u32>,
    last_ttl: Option<u32>,
    soa_minimum: Option<u32>,
    warned_soa_minimum: bool,
    /// Follows the top file's entries for its chunks (`chunks`).
    probe: Option<chunks::Probe>,
}

impl<'o, 'c> Loader<'o, 'c> {
    fn new(
        opts: &'o ParseOptions,
        top: &Path,
        on_record: &'c mut dyn FnMut(RecordRef<'_>),
    ) -> Result<Self, Vec<ZoneFileError>> {
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
            on_record,
            rdata: Vec::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            dollar_ttl: None,
            last_ttl: None,
            soa_minimum: None,
            warned_soa_minimum: false,
            probe: None,
        })
    }

    /// What parsing the next entry depends on besides its text.
    fn state(&self, ctx: &FileCtx) -> chunks::ParseState {
        chunks::ParseState {
            origin: ctx.origin.clone(),
            dollar_ttl: self.dollar_ttl,
            last_ttl: self.last_ttl,
            soa_minimum: self.soa_minimum,
            warned_soa_minimum: self.warned_soa_minimum,
        }
    }

    fn finish(self) -> Result<ParseSummary, Vec<ZoneFileError>> {
        if self.errors.is_empty() {
            Ok(ParseSummary {
                warnings: self.warnings,
                files: self.files,
            })
        } else {
            Err(self.errors)
        }
    }

    /// Notes a file as read. Includes are few, so a linear search is fine.
    fn read_file(&mut self, path: &Path) {
        if !self.files.iter().any(|f| f == path) {
            self.files.push(path.to_path_buf());
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
        // One entry for the whole file, so its token vector is reused.
        let mut entry = Entry::default();
        while lexer.next_entry_into(&mut entry) {
            if self.full() {
                return;
            }
            if ctx.depth == 0 {
                if let Some(mut probe) = self.probe.take() {
                    probe.entry(entry.start, || self.state(ctx));
                    self.probe = Some(probe);
                }
            }
            self.entry(&entry, ctx);
        }
    }

    fn entry(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        let Some(first) = entry.tokens.first() else {
            if let Some(err) = &entry.error {
                self.error(ctx.path(), err.line, err.message.clone());
            }
            return;
        };
        let directive = !entry.leading_space && !first.quoted && first.text.starts_with('$');
        if let Some(err) = &entry.error {
            // Later owner-less lines belong to this owner, not an older one.
            if !entry.leading_space && !directive {
                ctx.has_owner =
                    name_from_presentation_into(&first.text, &ctx.origin, &mut ctx.owner).is_ok();
            }
            self.error(ctx.path(), err.line, err.message.clone());
            return;
        }
        if directive {
            self.directive(entry, ctx);
        } else {
            self.record(entry, ctx);
        }
    }

    fn record(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        // Taken out for the duration, so that it can be filled while
        // `self` reports errors.
        let mut rdata = std::mem::take(&mut self.rdata);
        self.record_with(entry, ctx, &mut rdata);
        self.rdata = rdata;
    }

    fn record_with(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx, rdata: &mut Vec<u8>) {
        let tokens = &entry.tokens;
        let head_start = if entry.leading_space {
            if !ctx.has_owner {
                return self.error(
                    ctx.path(),
                    entry.line,
                    "no owner name: the entry starts with white space and no earlier \
                     record gives an owner"
                        .to_string(),
                );
            }
            0
        } else {
            let Some(token) = tokens.first() else { return };
            match name_from_presentation_into(&token.text, &ctx.origin, &mut ctx.owner) {
                Ok(()) => {
                    ctx.has_owner = true;
                    1
                }
                Err(e) => {
                    ctx.has_owner = false;
                    return self.error(ctx.path(), token.line, format!("bad owner name: {e}"));
                }
            }
        };
        let rest = tokens.get(head_start..).unwrap_or_default();
        let head = match parse_head(rest, entry.line) {
            Ok(head) => head,
            Err((line, message)) => return self.error(ctx.path(), line, message),
        };
        let rdata_tokens = rest.get(head.rdata_start..).unwrap_or_default();
        if let Err(e) = parse_rdata(head.rtype, rdata_tokens, &ctx.origin, rdata) {
            return self.error(ctx.path(), e.line.unwrap_or(entry.line), e.message);
        }
        let Some(ttl) = self.resolve_ttl(head.ttl, head.rtype, rdata, ctx.path(), entry.line)
        else {
            return;
        };
        ctx.pos.line = entry.line;
        self.emit(&ctx.owner, head.rtype, ttl, rdata, &ctx.pos);
    }

    fn emit(&mut self, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8], pos: &SourcePos) {
        if rtype == SOA && self.soa_minimum.is_none() {
            self.soa_minimum = soa_minimum(rdata);
        }
        (self.on_record)(RecordRef {
            owner,
            rtype,
            class: CLASS_IN,
            ttl,
            rdata,
            pos,
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

    fn directive(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
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
                ctx.path(),
                first.line,
                format!("unknown directive \"{}\"", first.text),
            ),
        }
    }

    /// `$ORIGIN <domain-name>` (RFC 1035 §5.1); a relative name is taken
    /// relative to the current origin.
    fn origin_directive(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        let Some(arg) = entry.tokens.get(1) else {
            return self.error(
                ctx.path(),
                entry.line,
                "$ORIGIN needs a domain name".to_string(),
            );
        };
        if let Some(extra) = entry.tokens.get(2) {
            return self.error(ctx.path(), extra.line, trailing(extra));
        }
        match name_from_presentation(&arg.text, &ctx.origin) {
            Ok(origin) => ctx.origin = origin,
            Err(e) => self.error(ctx.path(), arg.line, format!("bad $ORIGIN: {e}")),
        }
    }

    /// `$TTL <ttl>` (RFC 2308 §4).
    fn ttl_directive(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        let Some(arg) = entry.tokens.get(1) else {
            return self.error(ctx.path(), entry.line, "$TTL needs a TTL".to_string());
        };
        if let Some(extra) = entry.tokens.get(2) {
            return self.error(ctx.path(), extra.line, trailing(extra));
        }
        match parse_ttl(&arg.text) {
            Ok(ttl) => self.dollar_ttl = Some(ttl),
            Err(e) => self.error(ctx.path(), arg.line, ttl_error_message(&arg.text, e)),
        }
    }

    /// `$INCLUDE <file-name> [<domain-name>]` (RFC 1035 §5.1).
    fn include_directive(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        match self.include(entry, ctx) {
            Ok(included) => {
                self.read_file(&included.path);
                let mut child = FileCtx::new(&included.path, included.origin, ctx.depth + 1);
                self.parse_bytes(&included.bytes, &mut child);
            }
            Err((line, e)) => self.error(ctx.path(), line, e.to_string()),
        }
    }

    /// The file an `$INCLUDE` names, or the line and why not.
    fn include(
        &mut self,
        entry: &Entry<'_>,
        ctx: &FileCtx,
    ) -> Result<Included, (u32, IncludeError)> {
        let Some(file_tok) = entry.tokens.get(1) else {
            return Err((entry.line, IncludeError::NoFileName));
        };
        let Some(file_name) = token_string(file_tok) else {
            return Err((
                file_tok.line,
                IncludeError::BadFileName(file_tok.text.to_string()),
            ));
        };
        let origin = match entry.tokens.get(2) {
            Some(tok) => name_from_presentation(&tok.text, &ctx.origin)
                .map_err(|e| (tok.line, IncludeError::BadOrigin(e)))?,
            None => ctx.origin.clone(),
        };
        if let Some(extra) = entry.tokens.get(3) {
            return Err((extra.line, IncludeError::Trailing(extra.text.to_string())));
        }
        let line = file_tok.line;
        let fail = |e| (line, e);
        if ctx.depth >= self.opts.max_include_depth {
            return Err(fail(IncludeError::TooDeep(self.opts.max_include_depth)));
        }
        let base = ctx.path().parent().unwrap_or(Path::new(""));
        let target = base.join(&file_name);
        let canonical = fs::canonicalize(&target).map_err(|e| {
            fail(if e.kind() == io::ErrorKind::NotFound {
                IncludeError::NotFound(file_name.clone())
            } else {
                IncludeError::Unreadable {
                    file: file_name.clone(),
                    error: e,
                }
            })
        })?;
        if !self.opts.allow_include_anywhere {
            let root = self.include_root().map_err(fail)?;
            if !canonical.starts_with(&root) {
                return Err(fail(IncludeError::Escapes(file_name)));
            }
        }
        let bytes = fs::read(&canonical).map_err(|error| {
            fail(IncludeError::Unreadable {
                file: file_name,
                error,
            })
        })?;
        Ok(Included {
            path: target,
            bytes,
            origin,
        })
    }

    /// The directory `$INCLUDE` must stay in, resolved once per parse.
    fn include_root(&mut self) -> Result<PathBuf, IncludeError> {
        let dir = self
            .opts
            .include_root
            .clone()
            .unwrap_or_else(|| self.top_dir.clone());
        let root = match &self.include_root {
            Some(root) => root.clone(),
            None => {
                let root = fs::canonicalize(&dir).map_err(Arc::new);
                self.include_root = Some(root.clone());
                root
            }
        };
        root.map_err(|error| IncludeError::RootUnresolved { dir, error })
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs`, as in BIND 9.
    ///
    /// The rhs is normally one token; when it is one quoted string, its
    /// expanded text is read again as rdata, as BIND does (so
    /// `"10 mail$"` works for MX). Several tokens are also accepted, each
    /// expanded on its own.
    fn generate_directive(&mut self, entry: &Entry<'_>, ctx: &mut FileCtx) {
        let tokens = &entry.tokens;
        let (Some(range_tok), Some(lhs)) = (tokens.get(1), tokens.get(2)) else {
            return self.error(
                ctx.path(),
                entry.line,
                "$GENERATE needs a range, an owner, a type and rdata".to_string(),
            );
        };
        let Some(range) = GenRange::parse(&range_tok.text) else {
            return self.error(
                ctx.path(),
                range_tok.line,
                format!("invalid $GENERATE range \"{}\"", range_tok.text),
            );
        };
        let rest = tokens.get(3..).unwrap_or_default();
        let head = match parse_head(rest, entry.line) {
            Ok(head) => head,
            Err((line, message)) => return self.error(ctx.path(), line, message),
        };
        let rhs = rest.get(head.rdata_start..).unwrap_or_default();
        if rhs.is_empty() {
            return self.error(ctx.path(), entry.line, "$GENERATE needs rdata".to_string());
        }
        let count = range.count();
        if count > self.opts.max_generate as u64 {
            return self.error(
                ctx.path(),
                entry.line,
                format!(
                    "$GENERATE would create {count} records (max {})",
                    self.opts.max_generate
                ),
            );
        }
        let mut owner = Vec::new();
        let mut rdata = std::mem::take(&mut self.rdata);
        ctx.pos.line = entry.line;
        for it in range.iter() {
            let generated = generate_one(
                lhs,
                rhs,
                head.rtype,
                it,
                &ctx.origin,
                &mut owner,
                &mut rdata,
            );
            if let Err((line, message)) = generated {
                // One bad template would fail the same way every time.
                self.error(
                    ctx.path(),
                    line.unwrap_or(entry.line),
                    format!("{message} (in $GENERATE iteration {it})"),
                );
                break;
            }
            let Some(ttl) = self.resolve_ttl(head.ttl, head.rtype, &rdata, ctx.path(), entry.line)
            else {
                break;
            };
            self.emit(&owner, head.rtype, ttl, &rdata, &ctx.pos);
        }
        self.rdata = rdata;
    }
}

/// Owner and rdata of one `$GENERATE` iteration into the buffers given;
/// on failure, the message and the line to blame.
fn generate_one(
    lhs: &Token<'_>,
    rhs: &[Token<'_>],
    rtype: u16,
    it: u32,
    origin: &[u8],
    owner: &mut Vec<u8>,
    rdata: &mut Vec<u8>,
) -> Result<(), (Option<u32>, String)> {
    let owner_text = expand(&lhs.text, it).map_err(|e| (Some(lhs.line), e.to_string()))?;
    name_from_presentation_into(&owner_text, origin, owner)
        .map_err(|e| (Some(lhs.line), format!("bad owner name: {e}")))?;
    let rhs_tokens =
        generate_rhs(rhs, it).map_err(|e| (rhs.first().map(|t| t.line), e.to_string()))?;
    parse_rdata(rtype, &rhs_tokens, origin, rdata).map_err(|e| (e.line, e.message))
}

/// The rdata tokens of one iteration. They own their text, which is made
/// up for the iteration.
fn generate_rhs(rhs: &[Token<'_>], it: u32) -> Result<Vec<Token<'static>>, GenerateError> {
    if let [single] = rhs {
        if single.quoted {
            let text = expand(&unquote_rhs(&single.text), it)?;
            let mut lexer = Lexer::new(&text, &[]);
            let mut tokens = Vec::new();
            while let Some(entry) = lexer.next_entry() {
                if let Some(err) = entry.error {
                    return Err(GenerateError::Rdata {
                        text,
                        message: err.message,
                    });
                }
                tokens.extend(entry.tokens.into_iter().map(|t| Token {
                    text: Cow::Owned(t.text.into_owned()),
                    quoted: t.quoted,
                    line: single.line,
                    space_before: t.space_before,
                }));
            }
            return Ok(tokens);
        }
    }
    rhs.iter()
        .map(|t| {
            Ok(Token {
                text: Cow::Owned(expand(&t.text, it)?),
                quoted: t.quoted,
                line: t.line,
                space_before: t.space_before,
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
fn parse_head(tokens: &[Token<'_>], entry_line: u32) -> Result<RecordHead, (u32, String)> {
    let mut ttl = None;
    let mut class = None;
    let mut idx = 0usize;
    let type_tok = loop {
        let Some(tok) = tokens.get(idx) else {
            let line = tokens.last().map_or(entry_line, |t| t.line);
            return Err((line, "missing record type".to_string()));
        };
        // A TTL starts with a digit; most tokens here are a class or type,
        // which this check rules out without trying them as TTLs.
        let digit_first = tok.text.starts_with(|c: char| c.is_ascii_digit());
        if ttl.is_none() && !tok.quoted && digit_first {
            match parse_ttl(&tok.text) {
                Ok(value) => {
                    ttl = Some(value);
                    idx += 1;
                    continue;
                }
                Err(TtlError::Range) => {
                    return Err((tok.line, ttl_error_message(&tok.text, TtlError::Range)))
                }
                Err(TtlError::Syntax) => {
                    return Err((tok.line, ttl_error_message(&tok.text, TtlError::Syntax)))
                }
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
    let Some(rtype) =
        common_rtype(&type_tok.text).or_else(|| rtype_from_presentation(&type_tok.text))
    else {
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

/// The commonest type mnemonics, looked up before `domain`'s search of
/// every type it knows, which showed in the profile of large zones.
fn common_rtype(text: &str) -> Option<u16> {
    const COMMON: [(&str, u16); 8] = [
        ("A", 1),
        ("AAAA", 28),
        ("NS", 2),
        ("CNAME", 5),
        ("MX", 15),
        ("TXT", 16),
        ("PTR", 12),
        ("SOA", 6),
    ];
    COMMON
        .iter()
        .find(|(mnemonic, _)| text.eq_ignore_ascii_case(mnemonic))
        .map(|&(_, rtype)| rtype)
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

fn trailing(token: &Token<'_>) -> String {
    format!("trailing data \"{}\"", token.text)
}

/// Decodes escapes in a token meant as plain text, such as a file name.
fn token_string(token: &Token<'_>) -> Option<String> {
    let mut symbols = Symbols::new(token.text.chars());
    let text: Option<String> = symbols.by_ref().map(|s| s.into_char().ok()).collect();
    symbols.ok().ok()?;
    text.filter(|t| !t.is_empty())
}

//! A zone file cut into content-defined chunks, so that a reload can
//! parse only the chunks that changed (`loader::incremental`).
//!
//! A chunk starts at a line that names an owner (its first byte is none
//! of white space, `;`, `$`, `(`, `)`, `"`) and whose first bytes and
//! length hash to a multiple of [`LINES_PER_CHUNK`]: where chunks start
//! depends only on the lines themselves, so an edit moves no boundary
//! outside the lines it touches, and every untouched chunk is found again
//! in the new file, byte for byte, wherever it moved to.
//!
//! Parsing an entry depends on the text and on [`ParseState`]: the
//! origin, `$TTL`, the last explicit TTL and the SOA MINIMUM seen, never
//! on the previous owner (a chunk starts at an entry that names its own).
//! The full parse records the state at each chunk's start; a chunk found
//! again with the same state gives the same records, so it is not parsed
//! again. Cutting is textual, so it is only trusted where the full parse
//! saw an entry start at every cut: a cut inside a multi-line entry makes
//! the file's chunks unusable (the caller loads it whole).

use super::{FileCtx, Lexer, Loader, ParseOptions, ParseSummary, RecordRef, ZoneFileError};
use std::io;
use std::path::Path;

/// Lines per chunk, on average (about 2 KiB of a typical zone file).
pub const LINES_PER_CHUNK: u64 = 64;

/// What parsing an entry depends on besides its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseState {
    pub(super) origin: Vec<u8>,
    pub(super) dollar_ttl: Option<u32>,
    pub(super) last_ttl: Option<u32>,
    pub(super) soa_minimum: Option<u32>,
    pub(super) warned_soa_minimum: bool,
}

impl ParseState {
    /// The state at the start of a file.
    pub fn initial(opts: &ParseOptions) -> Self {
        ParseState {
            origin: opts.origin.clone(),
            dollar_ttl: None,
            last_ttl: None,
            soa_minimum: None,
            warned_soa_minimum: false,
        }
    }
}

/// A run of the file: `[offset, offset + len)`, starting on `line`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub offset: usize,
    pub len: usize,
    pub line: u32,
    /// CRC-32 of its bytes: finds it again, and checks a copy of it.
    pub crc: u32,
}

impl Piece {
    pub fn bytes<'t>(&self, text: &'t [u8]) -> Option<&'t [u8]> {
        text.get(self.offset..self.offset + self.len)
    }
}

/// A file cut into chunks, with the parser state at each one's start.
#[derive(Clone, Debug)]
pub struct Chunking {
    pub pieces: Vec<Piece>,
    /// `states[i]` at the start of `pieces[i]`; one more at the end.
    pub states: Vec<ParseState>,
    pub text_len: usize,
}

impl Chunking {
    /// The state after `pieces[i]`.
    pub fn state_after(&self, i: usize) -> Option<&ParseState> {
        self.states.get(i + 1)
    }
}

/// Cuts `text` into chunks (see the module documentation); the pieces
/// cover it whole, in order.
pub fn cut(text: &[u8]) -> Vec<Piece> {
    let mut starts: Vec<(usize, u32)> = vec![(0, 1)];
    let mut line = 1u32;
    for nl in memchr::memchr_iter(b'\n', text) {
        line = line.saturating_add(1);
        let at = nl + 1;
        let Some(rest) = text.get(at..) else { break };
        if starts_a_chunk(rest) {
            starts.push((at, line));
        }
    }
    let mut pieces = Vec::with_capacity(starts.len());
    for (i, &(offset, line)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(text.len(), |s| s.0);
        let bytes = text.get(offset..end).unwrap_or_default();
        pieces.push(Piece {
            offset,
            len: bytes.len(),
            line,
            crc: crc32fast::hash(bytes),
        });
    }
    pieces
}

/// Whether the line at the start of `rest` starts a chunk.
fn starts_a_chunk(rest: &[u8]) -> bool {
    let Some(&first) = rest.first() else {
        return false;
    };
    if matches!(
        first,
        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'$' | b'(' | b')' | b'"'
    ) {
        return false;
    }
    let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let mut head = [0u8; 16];
    for (h, &b) in head.iter_mut().zip(rest.iter().take(len)) {
        *h = b;
    }
    let a = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    let b = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
    mix(a ^ mix(b ^ len as u64)).is_multiple_of(LINES_PER_CHUNK)
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Follows a full parse of the top file: the state at each cut, and
/// whether every cut fell on an entry's start.
pub(super) struct Probe {
    pieces: Vec<Piece>,
    next: usize,
    states: Vec<ParseState>,
    broken: bool,
}

impl Probe {
    pub(super) fn new(pieces: Vec<Piece>) -> Self {
        let states = Vec::with_capacity(pieces.len() + 1);
        Probe {
            pieces,
            next: 0,
            states,
            broken: false,
        }
    }

    /// Called before the entry that starts at `start` is parsed.
    pub(super) fn entry(&mut self, start: usize, state: impl Fn() -> ParseState) {
        while let Some(piece) = self.pieces.get(self.next) {
            if piece.offset > start {
                break;
            }
            if piece.offset < start && piece.offset > 0 {
                // Cut inside an entry (or a quoted string): unusable.
                self.broken = true;
            } else {
                self.states.push(state());
            }
            self.next += 1;
        }
    }

    /// The chunking, once the parse is over; `None` where a cut did not
    /// fall on an entry's start.
    pub(super) fn finish(mut self, end: ParseState, text_len: usize) -> Option<Chunking> {
        // Cuts after the last entry's start (trailing comments): the state
        // there is the end state.
        while self.next < self.pieces.len() {
            self.states.push(end.clone());
            self.next += 1;
        }
        self.states.push(end);
        let whole = self.states.len() == self.pieces.len() + 1;
        (!self.broken && whole).then_some(Chunking {
            pieces: self.pieces,
            states: self.states,
            text_len,
        })
    }
}

/// Why a chunk cannot be parsed on its own; the caller loads the file
/// whole, which reports any problem with its position.
#[derive(Debug)]
pub struct ChunkRefused;

/// Parses one chunk, `text` starting on `line` of `file` in `state`,
/// handing each record to `on_record`; the state after it. Refused on
/// any error or warning, and on an `$INCLUDE`.
pub fn parse_chunk(
    text: &str,
    line: u32,
    state: &ParseState,
    file: &Path,
    opts: &ParseOptions,
    on_record: &mut dyn FnMut(RecordRef<'_>),
) -> Result<ParseState, ChunkRefused> {
    let mut loader = Loader::new(opts, file, on_record).map_err(|_| ChunkRefused)?;
    loader.dollar_ttl = state.dollar_ttl;
    loader.last_ttl = state.last_ttl;
    loader.soa_minimum = state.soa_minimum;
    loader.warned_soa_minimum = state.warned_soa_minimum;
    let mut ctx = FileCtx::new(file, state.origin.clone(), 0);
    let mut lexer = Lexer::at_line(text, line);
    let mut entry = super::lexer::Entry::default();
    while lexer.next_entry_into(&mut entry) {
        if !loader.errors.is_empty() || !loader.files.is_empty() {
            return Err(ChunkRefused);
        }
        loader.entry(&entry, &mut ctx);
    }
    let end = loader.state(&ctx);
    let clean = loader.warnings.is_empty() && loader.files.is_empty();
    match loader.finish() {
        Ok(_) if clean => Ok(end),
        _ => Err(ChunkRefused),
    }
}

/// Parses the whole zone file `path` (read by the caller as `bytes`),
/// as [`super::parse_file_each`] does, and with `chunked` cuts it into
/// chunks: `None` for the chunks where they cannot be trusted (see the
/// module documentation), or where the text is not UTF-8.
pub fn parse_whole(
    path: &Path,
    bytes: &[u8],
    chunked: bool,
    opts: &ParseOptions,
    on_record: &mut dyn FnMut(RecordRef<'_>),
) -> Result<(ParseSummary, Option<Chunking>), Vec<ZoneFileError>> {
    let mut loader = Loader::new(opts, path, on_record)?;
    let mut ctx = FileCtx::top(path, opts);
    loader.read_file(path);
    if chunked && std::str::from_utf8(bytes).is_ok() {
        loader.probe = Some(Probe::new(cut(bytes)));
    }
    loader.parse_bytes(bytes, &mut ctx);
    let end = loader.state(&ctx);
    let chunking = loader.probe.take().and_then(|p| p.finish(end, bytes.len()));
    let summary = loader.finish()?;
    Ok((summary, chunking))
}

/// Reads a zone file, with the errors [`super::parse_file_each`] gives.
pub fn read(path: &Path) -> Result<Vec<u8>, ZoneFileError> {
    std::fs::read(path).map_err(|e| ZoneFileError {
        file: path.to_path_buf(),
        line: 0,
        message: if e.kind() == io::ErrorKind::NotFound {
            "zone file not found".to_string()
        } else {
            format!("cannot read zone file: {e}")
        },
    })
}

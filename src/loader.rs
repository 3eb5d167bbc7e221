//! Loading a zone from its master file: parse, check, build a version.
//! Used by the server (start-up and reload) and by `check-zone`.

use crate::config::DnssecChecks;
use crate::dnssec::{self, CheckOptions};
use crate::zone::{ZoneBuilder, ZoneVersion};
use crate::zonefile::{self, ParseOptions};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A zone loaded from files, and what to watch for a reload.
pub struct LoadedZone {
    pub version: ZoneVersion,
    pub warnings: Vec<String>,
    /// Each file read (the zone file and its includes) with its mtime.
    pub files: Vec<(PathBuf, Option<SystemTime>)>,
}

/// Every problem found, each naming file, line and problem.
#[derive(Debug, thiserror::Error)]
#[error("{}", .errors.join("\n"))]
pub struct LoadError {
    pub errors: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub include_anywhere: bool,
}

/// Reads, checks and builds the zone `origin` (wire format) from `path`.
pub fn load_zone_file(
    path: &Path,
    origin: &[u8],
    opts: &LoadOptions,
) -> Result<LoadedZone, LoadError> {
    let mut parse_opts = ParseOptions::new(origin.to_vec());
    parse_opts.allow_include_anywhere = opts.include_anywhere;
    let mut builder = ZoneBuilder::new(origin).map_err(|e| LoadError {
        errors: vec![format!("{}: {e}", path.display())],
    })?;
    // Records go straight into the builder as they are parsed: the zone is
    // never held twice. On a parse error the builder is simply dropped.
    let summary = zonefile::parse_file_each(path, &parse_opts, &mut |rec| {
        builder.add(
            rec.owner,
            rec.rtype,
            rec.ttl,
            rec.rdata,
            Some((&rec.pos.file, rec.pos.line)),
        );
    })
    .map_err(|errors| LoadError {
        errors: errors.iter().map(|e| e.to_string()).collect(),
    })?;
    let mut warnings: Vec<String> = summary.warnings.iter().map(|w| w.to_string()).collect();
    let (version, build_warnings) = builder.finish().map_err(|errors| LoadError {
        errors: errors.iter().map(|e| with_file(path, e)).collect(),
    })?;
    warnings.extend(build_warnings.iter().map(|w| with_file(path, w)));
    let files = summary
        .files
        .into_iter()
        .map(|f| {
            let mtime = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, mtime)
        })
        .collect();
    Ok(LoadedZone {
        version,
        warnings,
        files,
    })
}

/// What the DNSSEC checks of a zone gave, for logs and `check-zone`.
#[derive(Debug, Default)]
pub struct DnssecSummary {
    /// One line per finding kept (and per code with findings left out),
    /// each naming the zone file.
    pub lines: Vec<String>,
    /// Whether the zone is signed (else nothing was checked).
    pub signed: bool,
    /// Signatures verified with their key.
    pub verified: usize,
    /// Signatures not verified again: unchanged since the version
    /// checked before.
    pub unchanged: usize,
    /// Problems found (notes not counted), shown or not.
    pub problems: usize,
}

/// The DNSSEC checks of a loaded zone ([`crate::dnssec::check_zone`]).
/// `Ok` with the findings as warnings (`Warn`, or `Error` with nothing
/// but notes); `Err` with them as errors when `Error` and the zone has
/// problems. Unsigned zones and `Off` give nothing.
pub fn check_dnssec(
    source: &str,
    version: &ZoneVersion,
    mode: DnssecChecks,
    opts: &CheckOptions<'_>,
) -> Result<DnssecSummary, LoadError> {
    if mode == DnssecChecks::Off {
        return Ok(DnssecSummary::default());
    }
    let report = dnssec::check_zone(version, opts);
    let mut lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{source}: {f}"))
        .collect();
    lines.extend(report.omitted().map(|(code, n)| {
        format!(
            "{source}: DNSSEC {code}: {n} more not shown (only the first {} of each kind are)",
            opts.max_per_code
        )
    }));
    if mode == DnssecChecks::Error && report.problems() > 0 {
        return Err(LoadError { errors: lines });
    }
    Ok(DnssecSummary {
        lines,
        signed: report.signed,
        verified: report.verified,
        unchanged: report.unchanged,
        problems: report.problems(),
    })
}

/// Zone-wide problems have no position; name the zone file for them.
fn with_file(path: &Path, e: &crate::zone::BuildError) -> String {
    match e.pos {
        Some(_) => e.to_string(),
        None => format!("{}: {}", path.display(), e.message),
    }
}

/// Whether any of the files changed since they were loaded.
pub fn files_changed(files: &[(PathBuf, Option<SystemTime>)]) -> bool {
    files.iter().any(|(f, mtime)| {
        let now = std::fs::metadata(f).and_then(|m| m.modified()).ok();
        now != *mtime || now.is_none()
    })
}

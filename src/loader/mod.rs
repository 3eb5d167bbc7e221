//! Loading a zone from its master file: parse, check, build a version.
//! Used by the server (start-up and reload) and by `check-zone`; a reload
//! of a large file parses only what changed (`incremental`).

pub mod incremental;

use crate::config::DnssecChecks;
use crate::dnssec::{self, CheckOptions};
use crate::zone::{ZoneBuilder, ZoneVersion};
use crate::zonefile::{self, ParseOptions};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A zone loaded from files, and what to watch for a reload.
pub struct LoadedZone {
    pub version: ZoneVersion,
    /// Its content digest (`ZoneVersion::content_digest`).
    pub digest: u128,
    pub warnings: Vec<String>,
    /// Each file read (the zone file and its includes) with its mtime.
    pub files: Vec<(PathBuf, Option<SystemTime>)>,
    /// What the next reload starts from, once this version is served.
    pub image: Option<incremental::Pending>,
    pub how: LoadHow,
}

/// How a file was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadHow {
    /// Parsed whole; why, when a reload by chunks was possible but not
    /// done.
    Whole(Option<String>),
    /// Only these chunks parsed (new and old), of the new file's.
    Chunks { parsed: usize, of: usize },
}

/// What a reload may start from: the version served (the new one is
/// indexed like it, so that the diff walks both side by side), the image
/// of the file it came from, and where the image's copy goes.
#[derive(Clone, Copy, Default)]
pub struct Reload<'a> {
    pub served: Option<&'a ZoneVersion>,
    pub image: Option<&'a incremental::FileImage>,
    pub copy: Option<&'a Path>,
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
    load_zone_file_from(path, origin, opts, Reload::default())
}

/// As [`load_zone_file`], for a reload: by chunks from `reload.image`
/// where it can be (see `incremental`), else whole; an image of the new
/// file is made when `reload.copy` says where its copy goes.
pub fn load_zone_file_from(
    path: &Path,
    origin: &[u8],
    opts: &LoadOptions,
    reload: Reload<'_>,
) -> Result<LoadedZone, LoadError> {
    let mut parse_opts = ParseOptions::new(origin.to_vec());
    parse_opts.allow_include_anywhere = opts.include_anywhere;
    let bytes = zonefile::chunks::read(path).map_err(|e| LoadError {
        errors: vec![e.to_string()],
    })?;
    let mut why_whole = None;
    if let (Some(image), Some(copy)) = (reload.image, reload.copy) {
        match incremental::reload(path, &bytes, &parse_opts, image) {
            Ok(done) => {
                let files = vec![(path.to_path_buf(), mtime(path))];
                let pending = incremental::Pending::new(
                    path,
                    &done.version,
                    done.digest,
                    done.chunking,
                    copy,
                    incremental::held_text(bytes),
                );
                return Ok(LoadedZone {
                    version: done.version,
                    digest: done.digest,
                    warnings: Vec::new(),
                    files,
                    image: Some(pending),
                    how: LoadHow::Chunks {
                        parsed: done.parsed,
                        of: done.chunks,
                    },
                });
            }
            Err(why) => why_whole = Some(why.0),
        }
    }
    let mut builder = ZoneBuilder::new(origin).map_err(|e| LoadError {
        errors: vec![format!("{}: {e}", path.display())],
    })?;
    if let Some(served) = reload.served {
        builder.hash_like(served);
    }
    // Records go straight into the builder as they are parsed: the zone is
    // never held twice. On a parse error the builder is simply dropped.
    let mut parsed = 0usize;
    let mut dname = false;
    let chunked = reload.copy.is_some() && bytes.len() >= incremental::MIN_BYTES;
    let (summary, chunking) =
        zonefile::chunks::parse_whole(path, &bytes, chunked, &parse_opts, &mut |rec| {
            parsed += 1;
            dname |= rec.rtype == crate::zone::rtype::DNAME;
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
    // The text, for an image of this file, goes to disk before the zone
    // is built: a large file is not held beside it.
    let text = match (reload.copy, &chunking) {
        (Some(copy), Some(_)) => incremental::written_text(copy, bytes)
            .map_err(|e| tracing::warn!("{}: cannot keep a copy for reloads: {e}", path.display()))
            .ok(),
        _ => None,
    };
    let (version, build_warnings) = builder.finish().map_err(|errors| LoadError {
        errors: errors.iter().map(|e| with_file(path, e)).collect(),
    })?;
    warnings.extend(build_warnings.iter().map(|w| with_file(path, w)));
    let digest = version.content_digest();
    // The image holds only when the file's records are the version's,
    // one for one (see `incremental`).
    let exact = warnings.is_empty()
        && summary.files.len() == 1
        && parsed == version.record_count()
        && !dname;
    let image = match (reload.copy, chunking, text) {
        (Some(copy), Some(chunking), Some(text)) if exact => Some(incremental::Pending::new(
            path, &version, digest, chunking, copy, text,
        )),
        _ => None,
    };
    let files = summary
        .files
        .into_iter()
        .map(|f| {
            let mtime = mtime(&f);
            (f, mtime)
        })
        .collect();
    Ok(LoadedZone {
        version,
        digest,
        warnings,
        files,
        image,
        how: LoadHow::Whole(why_whole),
    })
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
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

/// What `zonesync check-config` found in a configuration: each zone file
/// loaded as `serve` would (without binding anything or writing), the
/// keys built, the data directory looked at.
#[derive(Debug, Default)]
pub struct ConfigCheck {
    pub errors: Vec<CheckError>,
    pub warnings: Vec<String>,
    /// One line per zone that loaded: name, serial, records.
    pub zones: Vec<String>,
}

/// What `serve` would say of a zone file's ZONEMD, as the zone's
/// `zonemd` and `zonemd_generate` settings judge it (see
/// `replication::zonemd`).
fn zonemd_problem(zone: &crate::config::ZoneConfig, version: &ZoneVersion) -> Option<String> {
    use crate::config::ZonemdMode;
    use crate::zonemd::Verdict;
    if zone.zonemd_generate.is_some() {
        return crate::dnssec::is_signed(version).then(|| {
            "zonemd_generate: the zone is signed, and a signed zone's ZONEMD must be signed too: \
             make it with the signer"
                .to_owned()
        });
    }
    match (zone.zonemd, crate::zonemd::verify(version)) {
        (ZonemdMode::Off, _) => None,
        (_, Verdict::Invalid(problem)) => Some(problem.to_string()),
        (ZonemdMode::Require, Verdict::Absent | Verdict::Unsupported) => {
            Some("no ZONEMD that can be checked (zonemd = \"require\")".into())
        }
        _ => None,
    }
}

/// A problem `check_config` found: in a zone file (the text names the
/// file and line), or in a setting (`at`, e.g. `zone[0].file`, whose line
/// the caller finds in the configuration file).
#[derive(Debug, Clone)]
pub struct CheckError {
    pub at: Option<String>,
    pub text: String,
}

impl CheckError {
    fn at(at: String, problem: String) -> CheckError {
        CheckError {
            text: format!("{at}: {problem}"),
            at: Some(at),
        }
    }

    fn in_file(text: String) -> CheckError {
        CheckError { at: None, text }
    }
}

/// The TLS listener's certificate, key and client CA, read as `serve`
/// reads them at start (the first that fails, naming its file).
fn check_tls_files(server: &crate::config::ServerConfig) -> Option<CheckError> {
    let e = crate::tls::server::ServerTls::from_config(server).err()?;
    Some(CheckError::at(e.setting.into(), e.error.to_string()))
}

/// Reads the TLS files of every primary with `tls` (zones and
/// templates) into `cache`, as `serve` does at start; each problem names
/// its setting (`zone[0].primaries[1].tls.ca`) and file.
pub fn read_primaries_tls(
    config: &crate::config::Config,
    cache: &crate::tls::client::ClientTlsCache,
) -> Vec<CheckError> {
    use crate::tls::client::ClientTlsError;
    use crate::tls::TlsError;
    let mut out = Vec::new();
    for (at, primary, tls) in config.tls_primaries() {
        let settings = tls.client_settings();
        let Err(e) = cache.get(&settings, primary.address.ip()) else {
            continue;
        };
        let setting = match &e {
            ClientTlsError::File(TlsError::File { path, .. }) => {
                if tls.ca.as_ref() == Some(path) {
                    ".ca"
                } else if tls.cert.as_ref() == Some(path) {
                    ".cert"
                } else if tls.cert_key.as_ref() == Some(path) {
                    ".cert_key"
                } else {
                    ""
                }
            }
            // A key that is not the certificate's.
            ClientTlsError::File(TlsError::Setup { .. }) => ".cert_key",
            ClientTlsError::BadServerName(_) => ".server_name",
            _ => "",
        };
        out.push(CheckError::at(format!("{at}.tls{setting}"), e.to_string()));
    }
    out
}

/// Checks a configuration already parsed (`config::Config::load` checks
/// its syntax and values): every primary's zone file, with the zone's
/// DNSSEC checks, the TSIG keys, the TLS listener's files, the TLS files
/// of secondaries' primaries and `data_dir`.
pub fn check_config(config: &crate::config::Config, now_unix: u64) -> ConfigCheck {
    let mut out = ConfigCheck::default();
    if let Err(e) = config.tsig_keys() {
        out.errors.push(CheckError::at("key".into(), e.to_string()));
    }
    out.errors.extend(check_tls_files(&config.server));
    let cache = crate::tls::client::ClientTlsCache::default();
    out.errors.extend(read_primaries_tls(config, &cache));
    let data_dir = &config.server.data_dir;
    match std::fs::metadata(data_dir) {
        Ok(m) if !m.is_dir() => out.errors.push(CheckError::at(
            "server.data_dir".into(),
            format!("{} is not a directory", data_dir.display()),
        )),
        Ok(_) => {}
        Err(_) => {
            let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) {
                out.errors.push(CheckError::at(
                    "server.data_dir".into(),
                    format!(
                        "{} does not exist, nor does the directory to create it in",
                        data_dir.display()
                    ),
                ));
            }
        }
    }
    for (i, zone) in config.zones.iter().enumerate() {
        let Some(file) = zone.file.as_deref() else {
            out.zones.push(format!(
                "zone {}: secondary (transferred at start)",
                zone.name
            ));
            continue;
        };
        let Ok(origin) = crate::config::parse_zone_name(&zone.name) else {
            continue; // The configuration check named it already.
        };
        let opts = LoadOptions {
            include_anywhere: zone.include_anywhere,
        };
        let loaded = load_zone_file(file, &origin, &opts).and_then(|loaded| {
            let dnssec = check_dnssec(
                &file.display().to_string(),
                &loaded.version,
                zone.dnssec_checks,
                &CheckOptions {
                    verify_signatures: zone.dnssec_verify,
                    ..CheckOptions::new(now_unix)
                },
            )?;
            Ok((loaded, dnssec))
        });
        match loaded {
            Ok((loaded, dnssec)) => {
                if let Some(problem) = zonemd_problem(zone, &loaded.version) {
                    out.errors
                        .push(CheckError::at(format!("zone[{i}].zonemd"), problem));
                }
                out.warnings.extend(loaded.warnings);
                out.warnings.extend(dnssec.lines);
                out.zones.push(format!(
                    "zone {}: {} loads, serial {}, {} records",
                    zone.name,
                    file.display(),
                    loaded.version.serial(),
                    loaded.version.record_count()
                ));
            }
            Err(e) => {
                out.errors
                    .extend(e.errors.into_iter().map(CheckError::in_file));
                out.errors.push(CheckError::at(
                    format!("zone[{i}].file"),
                    format!(
                        "zone {} would not be served ({})",
                        zone.name,
                        file.display()
                    ),
                ));
            }
        }
    }
    out
}

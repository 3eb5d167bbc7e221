//! The DNSSEC checks of a zone's new versions (`dnssec_checks`, see
//! [`crate::dnssec`]): a primary's loads, and a secondary's transfers and
//! restarts, since a secondary is where a signer's mistake or an ageing
//! signature shows up when its primary is someone else's.
//!
//! With `error` a load waits for them, and problems stop it: the version
//! served stays. With `warn` they cannot change what is published, so
//! they run after publishing, on a thread of their own: verifying costs
//! about 0.1 ms per ECDSA or Ed25519 signature on a small server, minutes
//! for a zone of millions of records, and a signed zone should not answer
//! SERVFAIL meanwhile. Their findings follow in the log.
//!
//! Either way only RRsets that changed since the last version checked are
//! verified again (`CheckOptions::checked_before`), so a reload of a large
//! zone costs what changed.

use crate::config::{DnssecChecks, ZoneConfig};
use crate::dnssec::{self, CheckOptions};
use crate::loader;
use crate::zone::ZoneVersion;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// One zone's checks and what they remember between loads.
pub struct ZoneDnssec {
    zone: String,
    mode: DnssecChecks,
    verify: bool,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The last version whose check finished (and passed, with `error`):
    /// RRsets unchanged since it are not verified again. Not simply the
    /// version served: a background check may have given way before
    /// finishing.
    last_checked: Mutex<Option<Arc<ZoneVersion>>>,
    /// Bumped for each version handed to the background; a check that
    /// finds a newer one waiting gives way to it.
    latest: AtomicU64,
    /// One background check at a time per zone.
    running: Mutex<()>,
}

impl ZoneDnssec {
    pub fn new(config: &ZoneConfig) -> ZoneDnssec {
        ZoneDnssec {
            zone: config.name.clone(),
            mode: config.dnssec_checks,
            verify: config.dnssec_verify,
            shared: Arc::default(),
        }
    }

    /// Before `version` is published: with `error`, checks it and says
    /// why it must not be published when it has problems.
    pub fn before_publish(&self, source: &str, version: &Arc<ZoneVersion>) -> Result<(), String> {
        if self.mode != DnssecChecks::Error || !dnssec::is_signed(version) {
            return Ok(());
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if check(
            &self.zone,
            source,
            version,
            self.mode,
            self.verify,
            threads,
            &self.shared,
        ) {
            Ok(())
        } else {
            Err(format!(
                "DNSSEC problems in {source} (dnssec_checks = \"error\"), listed in the log"
            ))
        }
    }

    /// After `version` is published: with `warn`, checks it in the
    /// background, leaving one core to the queries.
    pub fn after_publish(&self, source: &str, version: Arc<ZoneVersion>) {
        if self.mode != DnssecChecks::Warn || !dnssec::is_signed(&version) {
            return;
        }
        let generation = self.shared.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let (zone, source, verify) = (self.zone.clone(), source.to_string(), self.verify);
        let shared = self.shared.clone();
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let spawned = std::thread::Builder::new()
            .name("dnssec-check".into())
            .spawn(move || {
                let Ok(_one_at_a_time) = shared.running.lock() else {
                    return;
                };
                if shared.latest.load(Ordering::SeqCst) != generation {
                    return; // a newer version is waiting; it is checked instead
                }
                check(
                    &zone,
                    &source,
                    &version,
                    DnssecChecks::Warn,
                    verify,
                    threads,
                    &shared,
                );
            });
        if let Err(e) = spawned {
            tracing::error!(
                zone = self.zone,
                "DNSSEC checks not run: cannot start a thread: {e}"
            );
        }
    }
}

/// Runs the checks and logs them; returns whether the version passed
/// (always with `warn`), and then remembers it as the last checked.
fn check(
    zone: &str,
    source: &str,
    version: &Arc<ZoneVersion>,
    mode: DnssecChecks,
    verify: bool,
    threads: usize,
    shared: &Shared,
) -> bool {
    let started = Instant::now();
    let before = shared.last_checked.lock().ok().and_then(|l| l.clone());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let opts = CheckOptions {
        verify_signatures: verify,
        threads,
        checked_before: before.as_deref(),
        ..CheckOptions::new(now)
    };
    let passed = match loader::check_dnssec(source, version, mode, &opts) {
        Ok(summary) => {
            for w in &summary.lines {
                tracing::warn!(zone, serial = version.serial(), "{w}");
            }
            if summary.signed {
                tracing::info!(
                    zone,
                    serial = version.serial(),
                    problems = summary.problems,
                    verified = summary.verified,
                    unchanged = summary.unchanged,
                    ms = started.elapsed().as_millis() as u64,
                    "DNSSEC checked"
                );
            }
            true
        }
        Err(e) => {
            for line in &e.errors {
                tracing::error!(zone, serial = version.serial(), "{line}");
            }
            false
        }
    };
    if passed {
        if let Ok(mut last) = shared.last_checked.lock() {
            *last = Some(version.clone());
        }
    }
    passed
}

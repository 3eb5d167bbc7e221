//! The DNSSEC checks of a zone's new versions (`dnssec_checks`, see
//! [`crate::dnssec`]): a primary's loads, and a secondary's transfers and
//! restarts, since a secondary is where a signer's mistake or an ageing
//! signature shows up when its primary is someone else's.
//!
//! With `error` a load waits for them, and problems stop it: the version
//! served stays. With `warn` they cannot change what is published, so
//! they run after publishing, as the zone's DnssecCheck event (its own
//! lane: verifying costs about 0.1 ms per ECDSA or Ed25519 signature on a
//! small server, minutes for a zone of millions of records, and neither a
//! signed zone's answers nor its next refresh should wait for that). The
//! event checks the newest version waiting; one published meanwhile
//! replaces it. Their findings follow in the log.
//!
//! Either way only RRsets that changed since the last version checked are
//! verified again (`CheckOptions::checked_before`), so a reload of a large
//! zone costs what changed.

use crate::clock::SharedClock;
use crate::config::{DnssecChecks, ZoneConfig};
use crate::dnssec::{self, CheckOptions};
use crate::loader;
use crate::zone::ZoneVersion;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One zone's checks and what they remember between loads.
pub struct ZoneDnssec {
    zone: String,
    /// Signatures' validity is judged at this clock's time.
    clock: SharedClock,
    mode: DnssecChecks,
    verify: bool,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The last version whose check finished (and passed, with `error`):
    /// RRsets unchanged since it are not verified again. Not simply the
    /// version served: a newer one may have replaced a version waiting.
    last_checked: Mutex<Option<Arc<ZoneVersion>>>,
    /// The newest version published with `warn`, and where it came from,
    /// waiting for the DnssecCheck event.
    waiting: Mutex<Option<(String, Arc<ZoneVersion>)>>,
}

/// A version `dnssec_checks = "error"` keeps from being published: its
/// DNSSEC has errors (listed in the log, not here: there may be many).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNSSEC problems in {from} (dnssec_checks = \"error\"), listed in the log")]
pub struct DnssecRefused {
    /// What the version came from: the zone file, or the transfer.
    pub from: String,
}

impl ZoneDnssec {
    pub fn new(config: &ZoneConfig, clock: SharedClock) -> ZoneDnssec {
        ZoneDnssec {
            zone: config.name.clone(),
            clock,
            mode: config.dnssec_checks,
            verify: config.dnssec_verify,
            shared: Arc::default(),
        }
    }

    /// Before `version` is published: with `error`, checks it and says
    /// why it must not be published when it has problems.
    pub fn before_publish(
        &self,
        source: &str,
        version: &Arc<ZoneVersion>,
    ) -> Result<(), DnssecRefused> {
        if self.mode != DnssecChecks::Error || !dnssec::is_signed(version) {
            return Ok(());
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.check(source, version, self.mode, threads) {
            Ok(())
        } else {
            Err(DnssecRefused {
                from: source.to_owned(),
            })
        }
    }

    /// After `version` is published: with `warn`, keeps it for the
    /// DnssecCheck event (replacing one still waiting). True when that
    /// event is due.
    pub fn after_publish(&self, source: &str, version: Arc<ZoneVersion>) -> bool {
        if self.mode != DnssecChecks::Warn || !dnssec::is_signed(&version) {
            return false;
        }
        match self.shared.waiting.lock() {
            Ok(mut w) => {
                *w = Some((source.to_string(), version));
                true
            }
            Err(_) => false,
        }
    }

    /// The DnssecCheck event (blocking): checks the version waiting, if
    /// any, leaving one core to the queries.
    pub fn check_waiting(&self) {
        let Some((source, version)) = self.shared.waiting.lock().ok().and_then(|mut w| w.take())
        else {
            return;
        };
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        self.check(&source, &version, DnssecChecks::Warn, threads);
    }

    /// Runs the checks and logs them; returns whether the version passed
    /// (always with `warn`), and then remembers it as the last checked.
    fn check(
        &self,
        source: &str,
        version: &Arc<ZoneVersion>,
        mode: DnssecChecks,
        threads: usize,
    ) -> bool {
        check(
            &self.zone,
            source,
            version,
            mode,
            CheckAt {
                verify: self.verify,
                threads,
                now: self.clock.now_unix(),
            },
            &self.shared,
        )
    }
}

/// How and when a check runs.
struct CheckAt {
    verify: bool,
    threads: usize,
    /// Unix seconds, for signatures' validity.
    now: u64,
}

fn check(
    zone: &str,
    source: &str,
    version: &Arc<ZoneVersion>,
    mode: DnssecChecks,
    at: CheckAt,
    shared: &Shared,
) -> bool {
    let CheckAt {
        verify,
        threads,
        now,
    } = at;
    let started = Instant::now();
    let before = shared.last_checked.lock().ok().and_then(|l| l.clone());
    let opts = CheckOptions {
        verify_signatures: verify,
        threads,
        checked_before: before.as_deref(),
        ..CheckOptions::new(now)
    };
    let passed = match loader::check_dnssec(source, version, mode, &opts) {
        Ok(summary) => {
            for w in &summary.lines {
                tracing::warn!(zone, serial = %version.serial(), "{w}");
            }
            if summary.signed {
                tracing::info!(
                    zone,
                    serial = %version.serial(),
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
                tracing::error!(zone, serial = %version.serial(), "{line}");
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

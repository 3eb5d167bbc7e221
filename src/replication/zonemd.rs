//! A zone's `zonemd` and `zonemd_generate` settings (see
//! [`crate::zonemd`]) applied to its new versions before they are
//! published: a secondary's transfers are verified (a mismatch fails the
//! transfer: RETRY, then EXPIRE, the old version served meanwhile); a
//! primary's loads are verified, or stamped with a fresh ZONEMD when it
//! generates them, as are its UPDATEs and transactions (the ZONEMD change
//! folded into the journaled changeset, so IXFR carries it).
//!
//! The digest covers the whole zone: about a second per million records
//! (SHA-384 over the canonical form), so a zone that generates ZONEMD
//! pays that on every change, as it does with Knot or BIND.

use crate::config::{ZoneConfig, ZonemdMode};
use crate::journal::Changeset;
use crate::zone::ZoneVersion;
use crate::zonemd::{self, HashAlg, Invalid, Verdict};
use std::time::Instant;

pub struct ZoneZonemd {
    zone: String,
    mode: ZonemdMode,
    generate: Option<HashAlg>,
}

/// Why a version must not be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZonemdRefused {
    #[error("ZONEMD of {from}: {problem}")]
    Invalid { from: String, problem: Invalid },
    #[error("{from} has no ZONEMD that can be checked (zonemd = \"require\")")]
    Missing { from: String },
    #[error(
        "zonemd_generate: {from} is signed, and a signed zone's ZONEMD must be signed too: \
         make it with the signer (dnssec-signzone -z, ldns-signzone -z) instead"
    )]
    Signed { from: String },
    #[error("zonemd_generate: the ZONEMD cannot be put in {from}: {why}")]
    Stamp { from: String, why: String },
}

impl ZoneZonemd {
    pub fn new(config: &ZoneConfig) -> ZoneZonemd {
        ZoneZonemd {
            zone: config.name.clone(),
            mode: config.zonemd,
            generate: config.zonemd_generate,
        }
    }

    /// A primary's loaded version: stamped when it generates ZONEMD,
    /// else verified.
    pub fn prepare_load(
        &self,
        from: &str,
        version: ZoneVersion,
    ) -> Result<ZoneVersion, ZonemdRefused> {
        if self.generate.is_none() {
            self.check(from, &version)?;
            return Ok(version);
        }
        match self.stamp_change(from, &version)? {
            Some(change) => version.apply(&change).map_err(|e| ZonemdRefused::Stamp {
                from: from.to_owned(),
                why: e.to_string(),
            }),
            None => Ok(version),
        }
    }

    /// When the zone generates ZONEMD: the change that stamps `version`
    /// (to apply to it, and to fold into the change that made it).
    pub fn stamp_change(
        &self,
        from: &str,
        version: &ZoneVersion,
    ) -> Result<Option<Changeset>, ZonemdRefused> {
        let Some(alg) = self.generate else {
            return Ok(None);
        };
        if crate::dnssec::is_signed(version) {
            return Err(ZonemdRefused::Signed {
                from: from.to_owned(),
            });
        }
        let started = Instant::now();
        let change = zonemd::stamp_change(version, alg);
        tracing::debug!(
            zone = self.zone,
            serial = %version.serial(),
            ms = started.elapsed().as_millis() as u64,
            "ZONEMD generated"
        );
        Ok(change)
    }

    /// Verifies `version`'s ZONEMD as `zonemd` says.
    pub fn check(&self, from: &str, version: &ZoneVersion) -> Result<(), ZonemdRefused> {
        if self.mode == ZonemdMode::Off {
            return Ok(());
        }
        let started = Instant::now();
        match zonemd::verify(version) {
            Verdict::Verified { hash, digest } => {
                tracing::info!(
                    zone = self.zone,
                    serial = %version.serial(),
                    hash = %hash,
                    digest,
                    ms = started.elapsed().as_millis() as u64,
                    "ZONEMD verified"
                );
                Ok(())
            }
            Verdict::Absent | Verdict::Unsupported if self.mode == ZonemdMode::Require => {
                Err(ZonemdRefused::Missing {
                    from: from.to_owned(),
                })
            }
            Verdict::Absent => Ok(()),
            Verdict::Unsupported => {
                tracing::warn!(
                    zone = self.zone,
                    serial = %version.serial(),
                    "ZONEMD of an unknown scheme or algorithm only: not checked"
                );
                Ok(())
            }
            Verdict::Invalid(problem) => Err(ZonemdRefused::Invalid {
                from: from.to_owned(),
                problem,
            }),
        }
    }
}

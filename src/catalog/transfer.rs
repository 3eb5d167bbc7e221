//! A catalog's member list read over the network (AXFR from a primary,
//! unsigned), for the verifier and the monitor, which watch members
//! without serving them.

use crate::xfr::incoming::{self, Limits, Payload, Primary};
use std::net::SocketAddr;

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogReadError {
    #[error("{0}")]
    Transfer(String),
    #[error("the primary did not send the whole catalog")]
    NotWhole,
    #[error("the catalog's records do not make a zone: {0}")]
    Zone(String),
    #[error(transparent)]
    Catalog(#[from] super::members::CatalogError),
}

/// The member zones (lower-case wire, in canonical order) of the catalog
/// `catalog` (wire) as `primary` serves it. Blocking.
pub fn members_from(primary: SocketAddr, catalog: &[u8]) -> Result<Vec<Vec<u8>>, CatalogReadError> {
    let from = Primary::new(primary, None);
    let fetched = incoming::fetch(&from, catalog, None, &Limits::default())
        .map_err(|e| CatalogReadError::Transfer(e.to_string()))?;
    let Payload::Full { soa, records } = fetched.payload else {
        return Err(CatalogReadError::NotWhole);
    };
    let version = crate::replication::secondary::build_full(catalog, &soa, &records)
        .map_err(|e| CatalogReadError::Zone(e.to_string()))?;
    let members = super::members::read(&version, |_| None)?;
    for p in &members.problems {
        tracing::warn!(catalog = %crate::name::display(catalog), "{p}");
    }
    Ok(members.members.into_keys().collect())
}

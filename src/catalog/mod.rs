//! Catalog zones (RFC 9432): zones that list the zones a fleet of
//! secondaries serves. `members` reads a catalog's member list from one
//! version of it; `consumer` plans what a new member list changes in the
//! zones served; `producer` writes a catalog of the zones that name it;
//! `transfer` reads a catalog's members from a primary (verify, monitor).

pub mod consumer;
pub mod members;
pub mod producer;
pub mod transfer;

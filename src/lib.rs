//! zonesync: an authoritative DNS server built around zone replication.
//!
//! See ARCHITECTURE.md for the map of the modules.

pub mod acl;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod control;
pub mod csync;
pub mod dnssec;
pub mod durable;
pub mod exchange;
pub mod journal;
pub mod loader;
pub mod logging;
pub mod manual;
pub mod memory;
pub mod monitor;
pub mod name;
pub mod net;
pub mod notify;
pub mod peers;
pub mod privileges;
pub mod query;
pub mod rdata;
pub mod replication;
pub mod sd_notify;
pub mod serial;
pub mod server;
#[cfg(test)]
pub mod testing;
pub mod tls;
pub mod tsig;
pub mod update;
pub mod verify;
pub mod wire;
pub mod xfr;
pub mod zone;
pub mod zonefile;
pub mod zonemd;

//! Zone transfers, by direction.
//!
//! - [`outgoing`]: AXFR and IXFR answered to our secondaries (TCP, and
//!   IXFR over UDP when it fits), from a version snapshot or the journal.
//! - [`incoming`]: a secondary's side: the SOA query and the transfer from
//!   a primary, IXFR with AXFR fallback, checked before anything is applied.
//! - [`client`]: the transfer-in reader both `incoming` and `zonesync xfr`
//!   use (the `Tracker` state machine over a message stream, TSIG).
//! - [`command`]: `zonesync xfr`'s arguments and its dig-like printer.

pub mod client;
pub mod command;
pub mod incoming;
pub mod outgoing;

pub use outgoing::{answer_soa_serial, pack_changes, pack_zone, Transfers, XfrCounters, XfrZone};

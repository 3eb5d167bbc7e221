//! Listeners: UDP and TCP on each configured address, TLS on each
//! `tls_listen` address.
//!
//! UDP runs on plain OS threads, one socket per thread bound with
//! SO_REUSEPORT so the kernel spreads queries across cores; each thread
//! owns its receive and send buffers, so the UDP path allocates nothing
//! per query. TCP runs on the tokio runtime, one task per connection, with
//! a cap on connections that cannot take threads away from UDP, and a
//! cap per client address (`limit`). TLS is TCP's connection after a
//! handshake (`tls`).

pub mod http;
pub mod limit;
mod tcp;
mod tls;
mod udp;

pub use tcp::{serve_tcp, TcpSettings};
pub use tls::serve_tls;
pub use udp::{bind_udp, spawn_udp_workers};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set once to ask every listener to stop.
#[derive(Debug, Default, Clone)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

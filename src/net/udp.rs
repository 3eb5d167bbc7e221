//! UDP: one socket and one thread per worker.

use super::Shutdown;
use crate::query::{Answerer, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a blocked receive wakes to notice a shutdown.
const POLL: Duration = Duration::from_millis(200);

/// Binds `count` UDP sockets to `addr` with SO_REUSEPORT. Binding happens
/// before any thread starts, so a port already in use is reported at once.
pub fn bind_udp(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    (0..count.max(1))
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.set_reuse_port(true)?;
            // Bursts queue in the kernel rather than being dropped.
            let _ = socket.set_recv_buffer_size(4 << 20);
            socket.bind(&addr.into())?;
            socket.set_read_timeout(Some(POLL))?;
            Ok(socket.into())
        })
        .collect()
}

/// Starts one thread per socket answering queries until `shutdown`.
pub fn spawn_udp_workers(
    sockets: Vec<UdpSocket>,
    answerer: Arc<Answerer>,
    shutdown: Shutdown,
) -> io::Result<Vec<JoinHandle<()>>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let answerer = answerer.clone();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || udp_worker(socket, &answerer, &shutdown))
        })
        .collect()
}

fn udp_worker(socket: UdpSocket, answerer: &Answerer, shutdown: &Shutdown) {
    let mut request = vec![0u8; 65535];
    let mut response = vec![0u8; 65535];
    while !shutdown.is_triggered() {
        let (len, peer) = match socket.recv_from(&mut request) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let Some(query) = request.get(..len) else {
            continue;
        };
        if let Some(n) = answerer.answer(query, Transport::Udp, &mut response) {
            if let Err(e) = socket.send_to(&response[..n], peer) {
                tracing::debug!(error = %e, %peer, "UDP send failed");
            }
        }
    }
}

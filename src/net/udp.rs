//! UDP: one socket and one thread per worker, moving datagrams in batches
//! with recvmmsg/sendmmsg as NSD and Knot do: under load one system call
//! carries many queries, which is most of the cost of a UDP answer.

use super::Shutdown;
use crate::query::{Answerer, Transport, WarmBatch};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a blocked receive wakes to notice a shutdown.
const POLL: Duration = Duration::from_millis(200);
/// Datagrams moved per system call at most.
const BATCH: usize = 32;
/// Receive buffer per datagram. A query longer than this (none is, in
/// practice) arrives truncated and is answered FORMERR or dropped.
const RECV_SIZE: usize = 4096;
/// Distance between two receive buffers: a line more than a page, so the
/// batch's first lines (the headers and names read first) do not all
/// fall in the same set of the CPU's cache, as a stride of whole pages
/// would make them.
const RECV_STRIDE: usize = RECV_SIZE + 64;
/// Send buffer per datagram: the largest DNS message.
const SEND_SIZE: usize = 65535;
/// The send area: replies are written one after the other (each at a
/// cache line), so a batch of small replies touches a page or two, not
/// a page each; room for a batch of replies of the largest size.
const SEND_AREA: usize = BATCH * (SEND_SIZE + 64);
/// Rounds of [`Batches::warm`] after the first level: the trie of a zone
/// of a million names is three levels deep, and the last round fetches
/// the node.
const WARM_ROUNDS: usize = 3;

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
            let _ = socket.set_send_buffer_size(4 << 20);
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
            // Shared with the answers to UPDATE, sent from elsewhere.
            let socket = Arc::new(socket);
            std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || Batches::new().run(&socket, &answerer, &shutdown))
        })
        .collect()
}

/// The buffers and message headers of one worker, allocated once.
struct Batches {
    recv: Vec<u8>,
    send: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    recv_iov: Vec<libc::iovec>,
    send_iov: Vec<libc::iovec>,
    recv_hdr: Vec<libc::mmsghdr>,
    send_hdr: Vec<libc::mmsghdr>,
    /// The batch's lookups being fetched into the cache.
    warm: WarmBatch,
}

// SAFETY of the whole impl: the raw pointers in the headers point into the
// Vecs of the same struct, which are allocated once in `new` and never
// resized, so they stay valid for the struct's lifetime; the kernel writes
// at most the lengths we give it.
impl Batches {
    fn new() -> Batches {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let zeroed_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let zeroed_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = Batches {
            recv: vec![0; BATCH * RECV_STRIDE],
            send: vec![0; SEND_AREA],
            addrs: vec![zeroed_addr; BATCH],
            recv_iov: vec![iov; BATCH],
            send_iov: vec![iov; BATCH],
            recv_hdr: vec![zeroed_hdr; BATCH],
            send_hdr: vec![zeroed_hdr; BATCH],
            warm: WarmBatch::new(BATCH),
        };
        for i in 0..BATCH {
            b.recv_iov[i].iov_base = b.recv[i * RECV_STRIDE..].as_mut_ptr().cast();
            b.recv_iov[i].iov_len = RECV_SIZE;
            let h = &mut b.recv_hdr[i].msg_hdr;
            h.msg_iov = &mut b.recv_iov[i];
            h.msg_iovlen = 1;
            h.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
        }
        b
    }

    fn run(&mut self, socket: &Arc<UdpSocket>, answerer: &Answerer, shutdown: &Shutdown) {
        let fd = socket.as_raw_fd();
        while !shutdown.is_triggered() {
            let received = match self.receive(fd) {
                Ok(n) => n,
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
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            self.warm(answerer, received);
            let mut replies = 0;
            // Where the next reply goes in the send area.
            let mut written = 0;
            for i in 0..received {
                let hdr = &self.recv_hdr[i];
                let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                let len = (hdr.msg_len as usize).min(RECV_SIZE);
                let namelen = hdr.msg_hdr.msg_namelen;
                let query = &self.recv[i * RECV_STRIDE..i * RECV_STRIDE + len];
                if truncated {
                    answerer.stats().count_dropped();
                    continue;
                }
                let out = &mut self.send[written..written + SEND_SIZE];
                // Only IXFR needs the peer (transfer ACL); the conversion
                // is a few loads, no allocation.
                let peer = socket_addr(&self.addrs[i]);
                if answerer.takes_update(query) {
                    if let Some(peer) = peer {
                        let socket = socket.clone();
                        answerer.update(
                            query,
                            peer,
                            Box::new(move |answer| {
                                let _ = socket.send_to(&answer, peer);
                            }),
                        );
                    }
                    continue;
                }
                let Some(n) = answerer.answer_from(query, Transport::Udp, peer, out) else {
                    continue;
                };
                self.send_iov[replies].iov_base = out.as_mut_ptr().cast();
                self.send_iov[replies].iov_len = n;
                let h = &mut self.send_hdr[replies].msg_hdr;
                h.msg_iov = &mut self.send_iov[replies];
                h.msg_iovlen = 1;
                h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = namelen;
                replies += 1;
                // At most BATCH replies of at most SEND_SIZE, each rounded
                // up to a line: within SEND_AREA.
                written += n.next_multiple_of(64);
            }
            // The warmed versions are let go at once: an idle worker must
            // not keep a replaced zone version in memory.
            self.warm.clear();
            self.send_all(fd, replies);
        }
    }

    /// Brings the lookup paths of the first `received` queries into the
    /// cache, all at once, a level per round: the misses of one round
    /// overlap, where answering one query after the other would wait for
    /// each in turn.
    fn warm(&mut self, answerer: &Answerer, received: usize) {
        for i in 0..received {
            let len = (self.recv_hdr[i].msg_len as usize).min(RECV_SIZE);
            if let Some(query) = self.recv.get(i * RECV_STRIDE..i * RECV_STRIDE + len) {
                answerer.warm(query, &mut self.warm);
            }
        }
        for _ in 0..WARM_ROUNDS {
            self.warm.step();
        }
    }

    /// Waits for at least one datagram and takes what else is queued.
    fn receive(&mut self, fd: i32) -> io::Result<usize> {
        for h in &mut self.recv_hdr {
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: see the impl comment; BATCH headers exist.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.recv_hdr.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Sends the first `count` replies; a reply the kernel refuses (e.g.
    /// an unreachable address) is skipped, not retried.
    fn send_all(&mut self, fd: i32, count: usize) {
        let mut sent = 0;
        let mut attempts = 0;
        while sent < count && attempts < 2 * BATCH {
            attempts += 1;
            // SAFETY: see the impl comment; `sent < count <= BATCH`.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.send_hdr[sent..].as_mut_ptr(),
                    (count - sent) as u32,
                    0,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::debug!(error = %e, "UDP send failed");
                    sent += 1;
                }
                continue;
            }
            sent += n as usize;
        }
    }
}

/// The address in a `sockaddr_storage` filled by `recvmmsg`.
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET, and
            // sockaddr_storage is large and aligned enough for it.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6 and AF_INET6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

//! DNS exchanges: a query to one server and the answer to it. Every
//! client's message ids come from [`crate::wire::random_id`].
//!
//! - [`udp`]: one exchange over UDP, blocking: the query sent, and the
//!   first datagram that answers it (our id, QR set) taken; anything else
//!   that arrives meanwhile (a stray, late or forged datagram) is ignored,
//!   so it does not end the wait. Shared by a secondary's SOA query
//!   (`xfr::incoming`, which signs it, and falls back to TCP on its own)
//!   and NOTIFY(CSYNC) (`csync::notify`), both on blocking threads.
//! - [`Client`] ([`client`]): the async client of the verifier, the
//!   monitor and the CSYNC scanner: UDP with retries, TCP on truncation,
//!   the unsigned-AXFR check, a semaphore bounding the queries in flight,
//!   so thousands of addresses are asked at once.
//!
//! Zone transfers (`xfr::client`, a stream of messages) and a NOTIFY
//! round (`notify::round`, many targets waited on from one socket, one
//! state machine) keep their own loops.

pub mod client;

pub use client::{Answer, Client, Query, QueryError, Transport};

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Instant;

/// Why an exchange brought no answer.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("no answer in time")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Sends `query` to `server` and returns the first answer to it (same id,
/// QR set) that arrives before `deadline`.
pub fn udp(server: SocketAddr, query: &[u8], deadline: Instant) -> Result<Vec<u8>, ExchangeError> {
    let id = query
        .get(..2)
        .ok_or_else(|| io::Error::other("query shorter than its id"))?;
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.send(query)?;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(ExchangeError::Timeout)?;
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ExchangeError::Timeout)
            }
            Err(e) => return Err(e.into()),
        };
        let reply = buf.get(..n).unwrap_or_default();
        let answers = reply.len() >= 12
            && reply.get(..2) == Some(id)
            && reply.get(2).is_some_and(|b| b & 0x80 != 0);
        if answers {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_the_answer_to_the_query_ends_the_wait() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = server.local_addr().unwrap();
        let responder = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let mut answer = buf[..n].to_vec();
            let mut other = answer.clone();
            other[0] ^= 0xff; // another id
            other[2] |= 0x80;
            server.send_to(&other, from).unwrap();
            server.send_to(&answer, from).unwrap(); // QR clear: a query
            answer[2] |= 0x80;
            answer[3] = 0x05; // REFUSED, still the answer
            server.send_to(&answer, from).unwrap();
        });
        let query = [0x12, 0x34, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let reply = udp(addr, &query, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(&reply[..4], &[0x12, 0x34, 0xa8, 0x05]);
        responder.join().unwrap();
    }

    #[test]
    fn silence_is_a_timeout() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let query = [0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let started = Instant::now();
        let e = udp(
            server.local_addr().unwrap(),
            &query,
            started + Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(matches!(e, ExchangeError::Timeout), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

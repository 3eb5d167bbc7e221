//! The async client (the verifier's, the monitor's and the CSYNC
//! scanner's): a query to one address over UDP (retried, TCP when
//! truncated) or TCP, with a bounded wait, and the first message of an
//! unsigned AXFR. Async (tokio), so thousands of addresses are asked at
//! once; a semaphore bounds the queries in flight (and so the sockets
//! open).

use domain::base::iana::OptionCode;
use domain::base::iana::Rtype;
use domain::base::message::Message;
use domain::base::message_builder::MessageBuilder;
use domain::base::name::Name;
use domain::base::rdata::UnknownRecordData;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout_at;

/// RFC 5001.
pub const OPTION_NSID: u16 = 3;
/// RFC 7314.
pub const OPTION_EXPIRE: u16 = 9;
/// RFC 9660.
pub const OPTION_ZONEVERSION: u16 = 19;

/// The EDNS UDP payload size we offer (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// What to ask.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: Name<Vec<u8>>,
    pub rtype: Rtype,
    /// RD: set for a resolver, clear for authoritative servers.
    pub recursion: bool,
    /// EDNS with DO and empty NSID, EXPIRE and ZONEVERSION options.
    pub probe_options: bool,
}

impl Query {
    /// An authoritative query (RD clear) with EDNS (DO set, no options).
    pub fn authoritative(name: &Name<Vec<u8>>, rtype: Rtype) -> Query {
        Query {
            name: name.clone(),
            rtype,
            recursion: false,
            probe_options: false,
        }
    }

    /// A query to a recursive resolver.
    pub fn recursive(name: &Name<Vec<u8>>, rtype: Rtype) -> Query {
        Query {
            recursion: true,
            ..Query::authoritative(name, rtype)
        }
    }
}

/// How an answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// An answer to our query (id, QR and question checked).
pub struct Answer {
    pub message: Message<Vec<u8>>,
    /// From sending the query (over the transport that answered) to the
    /// answer.
    pub rtt: Duration,
    pub transport: Transport,
}

/// Why there is no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Nothing came back in time.
    Timeout { tries: u32, transport: Transport },
    /// Port unreachable (UDP) or connection refused (TCP).
    Refused { transport: Transport },
    /// Any other socket failure.
    Io {
        transport: Transport,
        reason: String,
    },
    /// An answer came, but not one that could be used (TCP: a malformed
    /// message; over UDP such datagrams are ignored).
    Malformed { reason: String },
    /// Our side: the query could not be built.
    Local { reason: String },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Timeout { tries, transport } => {
                let s = if *tries == 1 { "try" } else { "tries" };
                write!(
                    f,
                    "no answer to {tries} {s} over {}",
                    transport.as_str().to_uppercase()
                )
            }
            QueryError::Refused {
                transport: Transport::Udp,
            } => f.write_str("port unreachable (UDP)"),
            QueryError::Refused {
                transport: Transport::Tcp,
            } => f.write_str("connection refused (TCP)"),
            QueryError::Io { transport, reason } => {
                write!(f, "{}: {reason}", transport.as_str().to_uppercase())
            }
            QueryError::Malformed { reason } => write!(f, "malformed answer: {reason}"),
            QueryError::Local { reason } => write!(f, "cannot query: {reason}"),
        }
    }
}

/// How to ask: one per run, shared by every task.
#[derive(Debug)]
pub struct Client {
    /// One try's wait (a TCP exchange gets this much in all).
    pub timeout: Duration,
    /// UDP tries after the first.
    pub retries: u32,
    /// TCP only, no UDP.
    pub tcp: bool,
    limiter: Semaphore,
    /// TCP connections open to one address at a time: servers' listen
    /// queues are short (BIND's is 10), and a SYN dropped from a full
    /// queue is sent again only after a second, so hundreds of connects at
    /// once to one server end in timeouts that say nothing about it.
    tcp_per_address: std::sync::Mutex<std::collections::HashMap<SocketAddr, Arc<Semaphore>>>,
}

/// See [`Client::tcp_per_address`].
const TCP_PER_ADDRESS: usize = 8;

impl Client {
    pub fn new(timeout: Duration, retries: u32, tcp: bool, concurrency: usize) -> Arc<Client> {
        Arc::new(Client {
            timeout,
            retries,
            tcp,
            limiter: Semaphore::new(concurrency.max(1)),
            tcp_per_address: Default::default(),
        })
    }

    /// Asks `addr`: UDP first (unless TCP only), TCP when the UDP answer
    /// is truncated.
    pub async fn query(&self, addr: SocketAddr, query: &Query) -> Result<Answer, QueryError> {
        let Ok(_permit) = self.limiter.acquire().await else {
            return Err(QueryError::Local {
                reason: "the query limiter is closed".into(),
            });
        };
        if self.tcp {
            return self.over_tcp(addr, query).await;
        }
        match self.over_udp(addr, query).await? {
            Some(answer) => Ok(answer),
            None => self.over_tcp(addr, query).await,
        }
    }

    /// `Ok(None)`: the answer is truncated.
    async fn over_udp(
        &self,
        addr: SocketAddr,
        query: &Query,
    ) -> Result<Option<Answer>, QueryError> {
        let io = |e: io::Error| match e.kind() {
            io::ErrorKind::ConnectionRefused => QueryError::Refused {
                transport: Transport::Udp,
            },
            _ => QueryError::Io {
                transport: Transport::Udp,
                reason: e.to_string(),
            },
        };
        let local: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        socket.connect(addr).await.map_err(io)?;
        let mut buf = vec![0u8; 65535];
        let tries = self.retries.saturating_add(1);
        for _ in 0..tries {
            // A fresh id per try: a late answer to an earlier try is
            // still taken (same question), the id just has to be ours.
            let (id, wire) = build(query)?;
            let sent = Instant::now();
            socket.send(&wire).await.map_err(io)?;
            let deadline = tokio::time::Instant::from_std(sent + self.timeout);
            loop {
                let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_elapsed) => break,
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(Err(e)) => return Err(io(e)),
                };
                let Some(bytes) = buf.get(..n) else { continue };
                let Some(message) = answer_to(bytes.to_vec(), id, query) else {
                    continue; // not ours, or unusable: keep waiting
                };
                if message.header().tc() {
                    return Ok(None);
                }
                return Ok(Some(Answer {
                    message,
                    rtt: sent.elapsed(),
                    transport: Transport::Udp,
                }));
            }
        }
        Err(QueryError::Timeout {
            tries,
            transport: Transport::Udp,
        })
    }

    async fn over_tcp(&self, addr: SocketAddr, query: &Query) -> Result<Answer, QueryError> {
        let gate = self.tcp_gate(addr);
        let Ok(_connection) = gate.acquire().await else {
            return Err(QueryError::Local {
                reason: "the connection limiter is closed".into(),
            });
        };
        let (id, wire) = build(query)?;
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let timed_out = QueryError::Timeout {
            tries: 1,
            transport: Transport::Tcp,
        };
        let exchange = async {
            let mut stream = connect(addr).await?;
            let sent = Instant::now();
            send_framed(&mut stream, &wire).await?;
            let bytes = recv_framed(&mut stream).await?;
            Ok::<_, QueryError>((bytes, sent.elapsed()))
        };
        let (bytes, rtt) = timeout_at(deadline, exchange)
            .await
            .map_err(|_| timed_out)??;
        let message = answer_to(bytes, id, query).ok_or_else(|| QueryError::Malformed {
            reason: "not an answer to our query".into(),
        })?;
        Ok(Answer {
            message,
            rtt,
            transport: Transport::Tcp,
        })
    }

    /// Whether `addr` starts an AXFR of `zone` for us without a key: the
    /// first message is read (NOERROR, the zone's SOA first), then the
    /// connection is closed. `Err` when that cannot be told.
    pub async fn axfr_open(
        &self,
        addr: SocketAddr,
        zone: &Name<Vec<u8>>,
    ) -> Result<bool, QueryError> {
        let Ok(_permit) = self.limiter.acquire().await else {
            return Err(QueryError::Local {
                reason: "the query limiter is closed".into(),
            });
        };
        let query = Query {
            name: zone.clone(),
            rtype: Rtype::AXFR,
            recursion: false,
            probe_options: false,
        };
        let (id, wire) = build_plain(&query)?;
        let gate = self.tcp_gate(addr);
        let Ok(_connection) = gate.acquire().await else {
            return Err(QueryError::Local {
                reason: "the connection limiter is closed".into(),
            });
        };
        let deadline = tokio::time::Instant::from_std(Instant::now() + self.timeout);
        let exchange = async {
            let mut stream = connect(addr).await?;
            // Once connected, a server that closes the connection (or
            // resets it) instead of answering refuses the transfer.
            let refused = |_| QueryError::Refused {
                transport: Transport::Tcp,
            };
            send_framed(&mut stream, &wire).await.map_err(refused)?;
            recv_framed(&mut stream).await.map_err(refused)
        };
        let bytes = match timeout_at(deadline, exchange).await {
            Err(_) => {
                return Err(QueryError::Timeout {
                    tries: 1,
                    transport: Transport::Tcp,
                })
            }
            Ok(Err(QueryError::Refused { .. })) => return Ok(false),
            Ok(result) => result?,
        };
        let Some(message) = answer_to(bytes, id, &query) else {
            return Ok(false);
        };
        if message.header().rcode() != domain::base::iana::Rcode::NOERROR {
            return Ok(false);
        }
        let first = message
            .answer()
            .ok()
            .and_then(|mut records| records.next())
            .and_then(Result::ok);
        Ok(first.is_some_and(|r| r.rtype() == Rtype::SOA && r.owner() == zone))
    }
}

impl Client {
    /// The semaphore bounding TCP connections to `addr`.
    fn tcp_gate(&self, addr: SocketAddr) -> Arc<Semaphore> {
        let mut gates = match self.tcp_per_address.lock() {
            Ok(gates) => gates,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(
            gates
                .entry(addr)
                .or_insert_with(|| Arc::new(Semaphore::new(TCP_PER_ADDRESS))),
        )
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, QueryError> {
    TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::ConnectionRefused => QueryError::Refused {
            transport: Transport::Tcp,
        },
        _ => QueryError::Io {
            transport: Transport::Tcp,
            reason: format!("cannot connect: {e}"),
        },
    })
}

fn tcp_io(e: io::Error) -> QueryError {
    let reason = match e.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_owned(),
        _ => e.to_string(),
    };
    QueryError::Io {
        transport: Transport::Tcp,
        reason,
    }
}

async fn send_framed(stream: &mut TcpStream, wire: &[u8]) -> Result<(), QueryError> {
    let len = u16::try_from(wire.len()).map_err(|_| QueryError::Local {
        reason: "query too long".into(),
    })?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await.map_err(tcp_io)
}

async fn recv_framed(stream: &mut TcpStream) -> Result<Vec<u8>, QueryError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(tcp_io)?;
    let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut bytes).await.map_err(tcp_io)?;
    Ok(bytes)
}

/// `bytes` parsed, when it is an answer to our query: our id, QR set, the
/// question echoed (case-insensitively) or absent (some servers drop it
/// from error answers).
fn answer_to(bytes: Vec<u8>, id: u16, query: &Query) -> Option<Message<Vec<u8>>> {
    let message = Message::from_octets(bytes).ok()?;
    let header = message.header();
    if header.id() != id || !header.qr() {
        return None;
    }
    let mut questions = message.question();
    match questions.next() {
        None => Some(message),
        Some(Ok(q)) if q.qtype() == query.rtype && q.qname() == &query.name => Some(message),
        Some(_) => None,
    }
}

/// The query with EDNS: DO set, and the probe's empty options when asked.
fn build(query: &Query) -> Result<(u16, Vec<u8>), QueryError> {
    let local = |e: domain::base::message_builder::PushError| QueryError::Local {
        reason: e.to_string(),
    };
    let id = crate::wire::random_id();
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_rd(query.recursion);
    let mut question = builder.question();
    question.push((&query.name, query.rtype)).map_err(local)?;
    let mut additional = question.additional();
    additional
        .opt(|opt| {
            opt.set_udp_payload_size(EDNS_PAYLOAD);
            opt.set_dnssec_ok(true);
            if query.probe_options {
                for code in [OPTION_NSID, OPTION_EXPIRE, OPTION_ZONEVERSION] {
                    opt.push_raw_option(OptionCode::from(code), 0, |_| Ok(()))?;
                }
            }
            Ok(())
        })
        .map_err(local)?;
    Ok((id, additional.finish()))
}

/// A query without EDNS (the AXFR check: as plain as a client can be).
fn build_plain(query: &Query) -> Result<(u16, Vec<u8>), QueryError> {
    let local = |e: domain::base::message_builder::PushError| QueryError::Local {
        reason: e.to_string(),
    };
    let id = crate::wire::random_id();
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    question.push((&query.name, query.rtype)).map_err(local)?;
    Ok((id, question.finish()))
}

/// The options of the answer's OPT record as (code, data), in order.
/// Malformed option data ends the list.
pub fn edns_options(message: &Message<Vec<u8>>) -> Vec<(u16, Vec<u8>)> {
    let mut options = Vec::new();
    let Ok(additional) = message.additional() else {
        return options;
    };
    for record in additional.flatten() {
        if record.rtype() != Rtype::OPT {
            continue;
        }
        let Ok(Some(record)) = record.into_record::<UnknownRecordData<&[u8]>>() else {
            return options;
        };
        let mut rest: &[u8] = record.data().data();
        while let (Some(code), Some(len)) = (rest.get(0..2), rest.get(2..4)) {
            let code = u16::from_be_bytes([code[0], code[1]]);
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let Some(value) = rest.get(4..4 + len) else {
                break;
            };
            options.push((code, value.to_vec()));
            rest = rest.get(4 + len..).unwrap_or_default();
        }
        break;
    }
    options
}

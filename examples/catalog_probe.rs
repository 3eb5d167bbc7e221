//! For `bench/catalog.sh`: runs a command (the catalog change) and
//! measures how long until a server serves every zone of a list at a
//! serial (SOA over UDP, many queries in flight on one socket).
//!
//!   catalog_probe --server ADDR --zones FILE --serial N [--timeout S] -- CMD [ARGS…]
//!
//! Prints `served N/N in MS ms` (and the time to the first and the half),
//! or exits 1 at the timeout with how many were served. `--serial 0`
//! waits until no zone is served any more (no SOA answer).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

/// Queries in flight at most: enough to keep a server busy without
/// flooding its socket buffer.
const IN_FLIGHT: usize = 64;

struct Args {
    server: SocketAddr,
    zones: Vec<String>,
    serial: u32,
    timeout: Duration,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut server, mut zones, mut serial, mut timeout) = (None, None, None, 600u64);
    let mut command = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--server" => server = Some(value()?.parse().map_err(|e| format!("--server: {e}"))?),
            "--zones" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                zones = Some(text.split_whitespace().map(str::to_owned).collect());
            }
            "--serial" => serial = Some(value()?.parse().map_err(|e| format!("--serial: {e}"))?),
            "--timeout" => timeout = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--" => {
                command = args.by_ref().collect();
                break;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        server: server.ok_or("--server ADDR")?,
        zones: zones.ok_or("--zones FILE")?,
        serial: serial.ok_or("--serial N")?,
        timeout: Duration::from_secs(timeout),
        command,
    })
}

/// An SOA query for `zone` with id `id`.
fn soa_query(id: u16, zone: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in zone.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    q
}

/// The id and SOA serial of an answer: the first answer record's, when
/// it is NOERROR and that record is an SOA; serial 0 otherwise.
fn answer_serial(msg: &[u8]) -> Option<(u16, u32)> {
    let id = u16::from_be_bytes([*msg.first()?, *msg.get(1)?]);
    let rcode = msg.get(3)? & 0x0f;
    let ancount = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    if rcode != 0 || ancount == 0 {
        return Some((id, 0));
    }
    let mut at = skip_name(msg, 12)? + 4; // the question
    at = skip_name(msg, at)?; // the answer's owner
    let rtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
    if rtype != 6 {
        return Some((id, 0));
    }
    at += 10; // type, class, TTL, RDLENGTH
    at = skip_name(msg, at)?; // MNAME
    at = skip_name(msg, at)?; // RNAME
    let serial = u32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?);
    Some((id, serial))
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("catalog_probe: {e}");
            std::process::exit(2);
        }
    };
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(args.server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let started = Instant::now();
    if let Some((program, rest)) = args.command.split_first() {
        let status = Command::new(program)
            .args(rest)
            .status()
            .expect("the command");
        if !status.success() {
            eprintln!("catalog_probe: the command failed: {status}");
            std::process::exit(2);
        }
    }
    let total = args.zones.len();
    let mut waiting: Vec<usize> = (0..total).collect();
    let mut served = 0usize;
    let (mut first, mut half) = (None, None);
    let mut next_id: u16 = 1;
    let mut buf = [0u8; 512];
    while !waiting.is_empty() {
        if started.elapsed() > args.timeout {
            println!(
                "timeout: served {served}/{total} in {} ms",
                args.timeout.as_millis()
            );
            std::process::exit(1);
        }
        // One pass: up to IN_FLIGHT queries, then their answers.
        let mut sent: HashMap<u16, usize> = HashMap::new();
        for &i in waiting.iter().take(IN_FLIGHT) {
            next_id = next_id.wrapping_add(1);
            if socket.send(&soa_query(next_id, &args.zones[i])).is_ok() {
                sent.insert(next_id, i);
            }
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut done = Vec::new();
        while !sent.is_empty() && Instant::now() < deadline {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            let Some((id, serial)) = answer_serial(&buf[..n]) else {
                continue;
            };
            if let Some(i) = sent.remove(&id) {
                if serial == args.serial {
                    done.push(i);
                }
            }
        }
        if done.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
        served += done.len();
        waiting.retain(|i| !done.contains(i));
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if served > 0 && first.is_none() {
            first = Some(ms);
        }
        if served * 2 >= total && half.is_none() {
            half = Some(ms);
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "served {served}/{total} in {ms:.0} ms (first {:.0} ms, half {:.0} ms)",
        first.unwrap_or(ms),
        half.unwrap_or(ms)
    );
}

//! The client of `bench/update.sh`: sends TSIG-signed RFC 2136 UPDATEs to
//! a primary one after the other over UDP (each waits for its answer), and
//! with `--secondary` polls that server's SOA after each answer until it
//! serves the new serial. Prints one line per UPDATE, then the medians.
//!
//!   update_probe --primary 127.0.0.1:5300 --zone example.com \
//!       --key hmac-sha256:name:BASE64 --count 50 [--secondary 127.0.0.1:5301]
//!       [--pause-ms 0] [--quiet]
//!
//! Each UPDATE replaces the A record of `probe.ZONE` (delete the RRset,
//! add one address), so the zone stays the same size. Latency "ack" is
//! from sending to the NOERROR answer; "serving" is from sending to the
//! secondary answering the serial the primary reached (asked of the
//! primary once the answer came). Polls every 100 µs, at most 10 s.
//!
//! `--watch-since NS` sends no UPDATE: it asks the primary's SOA, polls
//! the secondary until it serves that serial, and prints the time since
//! NS (nanoseconds since 1970, `date +%s%N` taken when the change was
//! made some other way, e.g. `knotc zone-commit`).

use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::message_builder::MessageBuilder;
use domain::base::name::Name;
use domain::base::rdata::UnknownRecordData;
use domain::base::{Message, Ttl};
use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;
use std::time::{Duration, Instant};
use zonesync::tsig::{ClientSigner, TsigKey};

struct Args {
    primary: SocketAddr,
    secondary: Option<SocketAddr>,
    zone: String,
    key: TsigKey,
    count: usize,
    pause: Duration,
    quiet: bool,
    watch_since: Option<u128>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut primary, mut secondary, mut zone, mut key) = (None, None, None, None);
    let (mut count, mut pause, mut quiet) = (50usize, Duration::ZERO, false);
    let mut watch_since = None;
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a}: needs a value"));
        match a.as_str() {
            "--primary" => primary = Some(value()?.parse().map_err(|e| format!("--primary: {e}"))?),
            "--secondary" => {
                secondary = Some(value()?.parse().map_err(|e| format!("--secondary: {e}"))?)
            }
            "--zone" => zone = Some(value()?),
            "--key" => {
                let v = value()?;
                let mut parts = v.splitn(3, ':');
                let (alg, name, secret) = (parts.next(), parts.next(), parts.next());
                let (Some(alg), Some(name), Some(secret)) = (alg, name, secret) else {
                    return Err("--key ALGORITHM:NAME:SECRET".into());
                };
                key = Some(TsigKey::from_config(name, alg, secret).map_err(|e| e.to_string())?);
            }
            "--count" => count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--pause-ms" => {
                pause =
                    Duration::from_millis(value()?.parse().map_err(|e| format!("--pause-ms: {e}"))?)
            }
            "--quiet" => quiet = true,
            "--watch-since" => {
                watch_since = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--watch-since: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        primary: primary.ok_or("--primary is required")?,
        secondary,
        zone: zone.ok_or("--zone is required")?,
        key: key.ok_or("--key is required")?,
        count,
        pause,
        quiet,
        watch_since,
    })
}

fn update_message(id: u16, zone: &Name<Vec<u8>>, owner: &Name<Vec<u8>>, n: usize) -> Vec<u8> {
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(id);
    b.header_mut().set_opcode(Opcode::UPDATE);
    let mut q = b.question();
    q.push((zone, Rtype::SOA)).expect("zone");
    let mut u = q.answer().authority();
    let empty = UnknownRecordData::from_octets(Rtype::A, Vec::new()).expect("rdata");
    u.push((owner, Class::ANY, Ttl::from_secs(0), empty))
        .expect("delete");
    let addr = vec![10, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    let data = UnknownRecordData::from_octets(Rtype::A, addr).expect("rdata");
    u.push((owner, Class::IN, Ttl::from_secs(60), data))
        .expect("add");
    u.finish()
}

/// One UDP exchange: the answer with our id, or an error after `wait`.
fn exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    msg: &[u8],
    wait: Duration,
) -> Result<Vec<u8>, String> {
    sock.send_to(msg, to).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer from {to}"));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n >= 12 && buf[..2] == msg[..2] {
            return Ok(buf[..n].to_vec());
        }
    }
}

fn soa_serial(sock: &UdpSocket, to: SocketAddr, zone: &Name<Vec<u8>>, id: u16) -> Option<u32> {
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(id);
    let mut q = b.question();
    q.push((zone, Rtype::SOA)).ok()?;
    let query = q.finish();
    let answer = exchange(sock, to, &query, Duration::from_millis(500)).ok()?;
    let m = Message::from_octets(answer).ok()?;
    let rr = m.answer().ok()?.next()?.ok()?;
    let soa = rr
        .into_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>()
        .ok()??;
    Some(soa.data().serial().into_int())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get((v.len() * 9 / 10).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("update_probe: {e}");
            std::process::exit(2);
        }
    };
    let zone = Name::<Vec<u8>>::from_str(&args.zone).expect("zone name");
    let owner = Name::<Vec<u8>>::from_str(&format!("probe.{}", args.zone)).expect("owner");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("socket");
    if let Some(since) = args.watch_since {
        let Some(secondary) = args.secondary else {
            eprintln!("update_probe: --watch-since needs --secondary");
            std::process::exit(2);
        };
        let Some(target) = soa_serial(&sock, args.primary, &zone, 0x4321) else {
            eprintln!("the primary does not answer its SOA");
            std::process::exit(1);
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut poll = 0u16;
        while soa_serial(&sock, secondary, &zone, poll)
            .is_none_or(|s| (s.wrapping_sub(target) as i32) < 0)
        {
            poll = poll.wrapping_add(1);
            if Instant::now() > deadline {
                eprintln!("{secondary} did not serve serial {target} within 10 s");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        println!(
            "serving {:.3} ms (serial {target})",
            now.saturating_sub(since) as f64 / 1e6
        );
        return;
    }
    let (mut acks, mut serving) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for n in 0..args.count {
        let id = (n as u16).wrapping_mul(7919).wrapping_add(1);
        let mut msg = update_message(id, &zone, &owner, n);
        let mut signer = ClientSigner::sign_request(&args.key, &mut msg).expect("sign");
        let t0 = Instant::now();
        let answer = match exchange(&sock, args.primary, &msg, Duration::from_secs(10)) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("update {n}: {e}");
                std::process::exit(1);
            }
        };
        let ack = t0.elapsed();
        let rcode = answer.get(3).map_or(0xff, |b| b & 0x0f);
        if rcode != 0 {
            eprintln!("update {n}: RCODE {rcode}");
            std::process::exit(1);
        }
        if let Err(e) = signer.verify_response(&answer) {
            eprintln!("update {n}: the answer's TSIG: {e}");
            std::process::exit(1);
        }
        acks.push(ack.as_secs_f64() * 1000.0);
        let mut line = format!("update {n}: ack {:.3} ms", ack.as_secs_f64() * 1000.0);
        if let Some(secondary) = args.secondary {
            let target = soa_serial(&sock, args.primary, &zone, id ^ 0x5555);
            let Some(target) = target else {
                eprintln!("update {n}: the primary does not answer its SOA");
                std::process::exit(1);
            };
            let deadline = t0 + Duration::from_secs(10);
            let mut poll = 0u16;
            loop {
                poll = poll.wrapping_add(1);
                let s = soa_serial(&sock, secondary, &zone, id ^ poll);
                if s.is_some_and(|s| (s.wrapping_sub(target) as i32) >= 0) {
                    break;
                }
                if Instant::now() > deadline {
                    eprintln!("update {n}: {secondary} did not serve serial {target} within 10 s");
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            let t = t0.elapsed().as_secs_f64() * 1000.0;
            serving.push(t);
            line.push_str(&format!(", serving {t:.3} ms (serial {target})"));
        }
        if !args.quiet {
            println!("{line}");
        }
        if !args.pause.is_zero() {
            std::thread::sleep(args.pause);
        }
    }
    let total = started.elapsed().as_secs_f64();
    let rate = args.count as f64 / total;
    print!(
        "updates {} ack median {:.3} ms p90 {:.3} ms rate {:.0}/s",
        args.count,
        median(&mut acks),
        p90(&mut acks),
        rate
    );
    if !serving.is_empty() {
        print!(
            " serving median {:.3} ms p90 {:.3} ms",
            median(&mut serving),
            p90(&mut serving)
        );
    }
    println!();
}

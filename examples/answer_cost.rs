//! Measures the query path alone, without sockets: loads a zone file and
//! answers a dnsperf-style query file (`NAME TYPE` per line) in a loop.
//!
//!     cargo run --release --example answer_cost -- ZONEFILE ORIGIN QUERYFILE [ROUNDS]
//!
//! Prints answers per second on one core; under `valgrind --tool=callgrind`
//! it gives repeatable instruction counts per query.

use std::sync::Arc;
use std::time::Instant;
use zonesync::loader::{load_zone_file, LoadOptions};
use zonesync::query::{Answerer, QueryConfig, QueryStats, Transport};
use zonesync::zone::{SharedZoneTable, Zone, ZoneTable};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, zonefile, origin, queryfile, rest @ ..] = &args[..] else {
        return Err("usage: answer_cost ZONEFILE ORIGIN QUERYFILE [ROUNDS]".into());
    };
    let rounds: usize = rest.first().map_or(Ok(5), |r| r.parse())?;
    let origin = zonesync::config::parse_zone_name(origin)?;
    let loaded = load_zone_file(
        zonefile.as_ref(),
        &origin,
        &LoadOptions {
            include_anywhere: false,
        },
    )?;
    let zone = Arc::new(Zone::new(&origin).ok_or("bad origin")?);
    zone.publish(Arc::new(loaded.version));
    let table = Arc::new(SharedZoneTable::from_pointee(ZoneTable::new([zone])));
    let answerer = Answerer::new(
        table,
        QueryConfig::default(),
        Arc::new(QueryStats::default()),
    );
    let queries: Vec<Vec<u8>> = std::fs::read_to_string(queryfile)?
        .lines()
        .filter_map(|line| {
            let (name, qtype) = line.split_once(' ')?;
            let qtype = match qtype.trim() {
                "A" => 1u16,
                "NS" => 2,
                "SOA" => 6,
                "MX" => 15,
                "TXT" => 16,
                "AAAA" => 28,
                "SRV" => 33,
                _ => return None,
            };
            let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            m.extend(zonesync::config::parse_zone_name(name).ok()?);
            m.extend(qtype.to_be_bytes());
            m.extend(1u16.to_be_bytes());
            Some(m)
        })
        .collect();
    let mut out = vec![0u8; 65535];
    let started = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        for q in &queries {
            bytes += answerer.answer(q, Transport::Udp, &mut out).unwrap_or(0);
        }
    }
    let n = rounds * queries.len();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} answers in {secs:.3} s: {:.0} answers/s, {:.0} ns each, {bytes} bytes",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
    Ok(())
}

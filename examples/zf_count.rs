//! Temporary: times parsing a zone file. Deleted after measuring.
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use zonesync::zonefile::{parse_file, ParseOptions};

fn vmhwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("")
        .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = Path::new(&args[1]);
    let origin = zonesync::zonefile::name_from_presentation(
        args.get(3).map_or("bench.example.", |s| s.as_str()),
        b"\0",
    )
    .unwrap();
    let opts = ParseOptions::new(origin);
    if args.get(2).map(|s| s.as_str()) == Some("dump") {
        let out = std::io::stdout();
        let mut out = std::io::BufWriter::new(out.lock());
        match parse_file(path, &opts) {
            Ok(z) => {
                for r in &z.records {
                    writeln!(
                        out,
                        "{:?} {} {} {} {:?} {}",
                        r.owner, r.rtype, r.class, r.ttl, r.rdata, r.pos
                    )
                    .unwrap();
                }
                for w in &z.warnings {
                    writeln!(out, "W {w}").unwrap();
                }
            }
            Err(es) => {
                for e in &es {
                    writeln!(out, "E {e}").unwrap();
                }
            }
        }
        return;
    }
    if args.get(2).map(|s| s.as_str()) == Some("each") {
        let start = Instant::now();
        let mut n = 0usize;
        zonesync::zonefile::parse_file_each(path, &opts, &mut |_r| n += 1).unwrap();
        let el = start.elapsed();
        println!(
            "mode=each records={n} time={:.3}s {}",
            el.as_secs_f64(),
            vmhwm()
        );
        return;
    }
    let start = Instant::now();
    let zone = parse_file(path, &opts).unwrap();
    let n = zone.records.len();
    let el = start.elapsed();
    println!(
        "mode=parse_file records={n} time={:.3}s {}",
        el.as_secs_f64(),
        vmhwm()
    );
}

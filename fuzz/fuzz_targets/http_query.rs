//! The query-string decoding the control interface and the dashboard share
//! (`net::http::percent_decode`), compared with a plain reference decoder.
//! The request parsers themselves are hyper's and the routing is private:
//! see fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::net::http::percent_decode;

fn reference(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(percent_decode(s), reference(s), "percent_decode({s:?})");
});

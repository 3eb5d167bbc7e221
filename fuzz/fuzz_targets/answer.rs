//! Request parsing and answering: every input is answered over UDP and TCP
//! by three answerers — the shipped example zones (examples/zones, with
//! NSID and DNS COOKIEs on), and the presigned fixtures with NSEC and with
//! NSEC3 (tests/fixtures/dnssec) — and every answer must be a DNS message
//! `domain` reads whole that echoes the question (see `check_answer`).
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zonesync::query::cookie::Secret;
use zonesync::query::{Answerer, QueryConfig, Transport};
use zonesync_fuzz::{answerer, check_answer, load_fixture};

fn answerers() -> &'static [Answerer; 3] {
    static A: OnceLock<[Answerer; 3]> = OnceLock::new();
    A.get_or_init(|| {
        let shipped = answerer(
            vec![
                load_fixture("examples/zones/example.com.zone", "example.com."),
                load_fixture("examples/zones/example.net.zone", "example.net."),
            ],
            QueryConfig {
                nsid: Some(b"fuzz".to_vec().into_boxed_slice()),
                cookies: Some(Secret::new([7; 16])),
                ..QueryConfig::default()
            },
        );
        let nsec = answerer(
            vec![load_fixture(
                "tests/fixtures/dnssec/nsec.zone",
                "example.com.",
            )],
            QueryConfig::default(),
        );
        let nsec3 = answerer(
            vec![load_fixture(
                "tests/fixtures/dnssec/nsec3.zone",
                "example.com.",
            )],
            QueryConfig::default(),
        );
        [shipped, nsec, nsec3]
    })
}

fuzz_target!(|data: &[u8]| {
    let peer: SocketAddr = "192.0.2.9:5353".parse().unwrap();
    let mut out = vec![0u8; 65535];
    for a in answerers() {
        for transport in [Transport::Udp, Transport::Tcp] {
            if let Some(n) = a.answer_from(data, transport, Some(peer), &mut out) {
                assert!(n <= out.len());
                check_answer(data, &out[..n], transport);
            }
        }
    }
});

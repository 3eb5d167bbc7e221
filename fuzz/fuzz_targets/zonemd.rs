//! ZONEMD (RFC 8976). Byte 0 even: the rest is ZONEMD RDATA
//! (`zonemd::Zonemd::parse`). Odd: the rest is zone-file text appended to a
//! small example.com. zone (SOA, NS, A); when that builds, `zonemd::verify`
//! must not panic, and the zone stamped with a fresh ZONEMD
//! (`zonemd::stamp_change` applied with `ZoneVersion::apply`) must verify,
//! for SHA-384 and SHA-512, unless it is signed (the stamp carries no
//! RRSIG, so a signed zone is refused as unsigned, rightly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::zonemd::{self, HashAlg, Invalid, Verdict, Zonemd};
use zonesync_fuzz::{version_from_text, wire_name};

const BASE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 2026010101 7200 1800 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Some(z) = Zonemd::parse(rest) {
            let _ = format!("{z:?}");
        }
        return;
    }
    let text = format!("{BASE}{}", String::from_utf8_lossy(rest));
    let origin = wire_name("example.com.");
    let Some(version) = version_from_text(&origin, &text) else {
        return;
    };
    let _ = zonemd::verify(&version);
    for alg in [HashAlg::Sha384, HashAlg::Sha512] {
        let stamped = zonemd::stamp_change(&version, alg).map(|change| {
            version
                .apply(&change)
                .unwrap_or_else(|e| panic!("the ZONEMD stamp does not apply: {e}"))
        });
        match zonemd::verify(stamped.as_ref().unwrap_or(&version)) {
            Verdict::Verified { .. } => {}
            Verdict::Invalid(Invalid::Unsigned) => {}
            other => panic!("a zone just stamped with {alg} does not verify: {other:?}"),
        }
    }
});

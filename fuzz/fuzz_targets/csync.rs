//! CSYNC RDATA (RFC 7477, `rdata::csync::Csync`). Byte 0 even: the rest is
//! wire RDATA (`from_wire`); odd: presentation tokens (`parse_presentation`,
//! the rest as text split on white space). Whatever reads must write
//! (`to_wire`) and read back to the same value, and its presentation
//! (`Display`) must read back to it too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::rdata::csync::Csync;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let parsed = if mode & 1 == 0 {
        Csync::from_wire(rest)
    } else {
        let text = String::from_utf8_lossy(rest);
        Csync::parse_presentation(text.split_whitespace())
    };
    let Ok(csync) = parsed else {
        return;
    };
    let mut wire = Vec::new();
    csync.to_wire(&mut wire);
    let again = Csync::from_wire(&wire).expect("our own CSYNC wire form must read");
    assert_eq!(again, csync, "CSYNC wire round trip");
    let text = csync.to_string();
    let from_text = Csync::parse_presentation(text.split_whitespace())
        .unwrap_or_else(|e| panic!("our own CSYNC text {text:?} does not read: {e}"));
    assert_eq!(
        from_text, csync,
        "CSYNC presentation round trip of {text:?}"
    );
});

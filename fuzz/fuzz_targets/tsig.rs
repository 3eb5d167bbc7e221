//! TSIG (RFC 8945) verification. Byte 0 chooses:
//! - even: the rest is a request checked as the server does
//!   (`tsig::check_request_at`, key `fuzz-key.`); a verified one has its
//!   answer signed (`SignedRequest::sign_response_at`), and a rejected one
//!   gives an error answer that must be a DNS message.
//! - odd: the rest is a message the target signs itself
//!   (`ClientSigner::sign_request_at`); a message it could sign must then
//!   verify on the server side, and the server's signed answer (the request
//!   with QR set) must verify on the client side; with bit 1 of byte 0 set,
//!   one octet of the signed request (chosen by byte 1) is flipped first,
//!   and the server's check of it must merely not panic. The strict checks
//!   apply to messages zonesync's request parser reads and that carry no
//!   TSIG of their own.
#![no_main]

use domain::base::Message;
use libfuzzer_sys::fuzz_target;
use zonesync::tsig::{check_request_at, ClientSigner, RequestAuth};
use zonesync_fuzz::fuzz_key;

const NOW: u64 = 1_780_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = zonesync::tsig::Keys::new([fuzz_key()]).expect("one key");
    if mode & 1 == 0 {
        server_side(&keys, rest);
        return;
    }
    let Some((&flip, message)) = rest.split_first() else {
        return;
    };
    if message.len() < 12 {
        return;
    }
    let mut request = message.to_vec();
    let Ok(mut client) = ClientSigner::sign_request_at(&fuzz_key(), &mut request, NOW) else {
        return;
    };
    if mode & 2 != 0 && !request.is_empty() {
        let at = usize::from(flip) * request.len() / 256;
        request[at] ^= 0x01;
        server_side(&keys, &request);
        return;
    }
    match check_request_at(&keys, &request, NOW) {
        RequestAuth::Signed(mut signed) => {
            // The answer: the request as it was before signing, QR set.
            let mut response = message.to_vec();
            response[2] |= 0x80;
            // Setting QR changes what a compression pointer into the
            // header reads: the echo is an answer only if it still reads.
            if domain_reads(&response) && signed.sign_response_at(&mut response, NOW).is_ok() {
                client
                    .verify_response_at(&response, NOW)
                    .expect("our own signed answer must verify");
            }
        }
        // A compression pointer into the header reads other octets once
        // signing has changed ARCOUNT: the strict checks need the request
        // as sent to read too.
        RequestAuth::Unsigned if well_formed(message) && domain_reads(&request) => {
            panic!("a request we signed reads as unsigned")
        }
        RequestAuth::Rejected(f) if well_formed(message) && domain_reads(&request) => {
            panic!("a request we signed is rejected: {}", f.rcode_name())
        }
        _ => {}
    }
});

fn server_side(keys: &zonesync::tsig::Keys, request: &[u8]) {
    match check_request_at(keys, request, NOW) {
        RequestAuth::Unsigned => {}
        RequestAuth::Signed(mut signed) => {
            let mut response = request.to_vec();
            if response.len() >= 12 {
                response[2] |= 0x80;
            }
            let _ = signed.sign_response_at(&mut response, NOW);
        }
        RequestAuth::Rejected(failure) => {
            if let Some(answer) = failure.response() {
                Message::from_octets(answer).expect("TSIG error answer is a DNS message");
            }
        }
    }
}

/// A message zonesync's request parser reads, without a TSIG of its own,
/// and whose every record `domain` reads too (the signer appends the TSIG
/// after whatever the message holds).
fn well_formed(message: &[u8]) -> bool {
    zonesync::wire::parse_request(message).is_ok_and(|r| !r.tsig) && domain_reads(message)
}

fn domain_reads(message: &[u8]) -> bool {
    let Ok(msg) = Message::from_octets(message) else {
        return false;
    };
    if msg.question().any(|q| q.is_err()) {
        return false;
    }
    let Ok(mut section) = msg.answer() else {
        return false;
    };
    loop {
        for rr in section {
            if rr.is_err() {
                return false;
            }
        }
        match section.next_section() {
            Ok(Some(next)) => section = next,
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

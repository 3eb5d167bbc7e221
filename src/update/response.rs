//! The answer to an UPDATE (RFC 2136 §3.8): the request's id and opcode,
//! QR, the RCODE, the zone section echoed (as BIND and Knot do), signed
//! with the request's TSIG key when it was signed.

use crate::tsig::SignedRequest;
use domain::base::iana::Rcode;
use domain::base::message::Message;
use domain::base::message_builder::MessageBuilder;

/// The answer to `request` with `rcode`. A request too broken to echo
/// gets its header alone back (id and opcode kept, counts zero).
pub fn answer(request: &[u8], rcode: u16, signer: Option<&mut SignedRequest>) -> Option<Vec<u8>> {
    let mut out = echoed(request, rcode).or_else(|| header_only(request, rcode))?;
    if let Some(signer) = signer {
        if let Err(e) = signer.sign_response(&mut out) {
            tracing::warn!(error = %e, "cannot sign the UPDATE answer; sending it unsigned");
        }
    }
    Some(out)
}

fn echoed(request: &[u8], rcode: u16) -> Option<Vec<u8>> {
    let message = Message::from_octets(request).ok()?;
    let rcode = Rcode::checked_from_int(u8::try_from(rcode).ok()?)?;
    let builder = MessageBuilder::new_vec()
        .start_answer(&message, rcode)
        .ok()?;
    let mut out = builder.finish();
    // RD means nothing in an UPDATE: the bit is "zero" there (§2.2).
    if let Some(flags) = out.get_mut(2) {
        *flags &= !0x01;
    }
    Some(out)
}

/// A header echoing the id and opcode, QR set, `rcode`; `None` when the
/// request has no header (then nothing is sent).
pub fn header_only(request: &[u8], rcode: u16) -> Option<Vec<u8>> {
    let head = request.get(..4)?;
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&head[..2]);
    out[2] = 0x80 | (head[2] & 0x78);
    out[3] = (rcode & 0x0f) as u8;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::testing::update_message;

    #[test]
    fn echoes_id_opcode_and_zone_with_the_rcode() {
        let request = update_message(
            "example.com.",
            &[],
            &[("a.example.com.", "IN", "A", 300, "192.0.2.1")],
        );
        let out = answer(&request, crate::wire::rcode::NOTZONE, None).unwrap();
        let m = Message::from_octets(&out[..]).unwrap();
        assert_eq!(m.header().id(), 0x4242);
        assert!(m.header().qr());
        assert_eq!(m.header().opcode().to_int(), crate::wire::opcode::UPDATE);
        assert_eq!(m.header().rcode().to_int(), 10);
        assert_eq!(m.header_counts().qdcount(), 1);
        assert_eq!(m.header_counts().nscount(), 0, "the updates are not echoed");
        let bare = answer(&request[..12], crate::wire::rcode::FORMERR, None).unwrap();
        assert_eq!(&bare[..4], &[0x42, 0x42, 0xa8, 0x01]);
        assert!(answer(&request[..3], 1, None).is_none());
    }
}

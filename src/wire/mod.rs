//! DNS messages on the wire: parsing requests and writing responses.
//!
//! Why not `domain`'s message builder here: the query path must allocate
//! nothing per query, and `domain` 0.12.3's compressors keep their state in
//! heap maps (and its `unstable-new` compressor writes wrong pointers). This
//! module writes into a caller-owned buffer with a fixed-size compression
//! table. Parsing is equally small: a query is a header, one question and
//! perhaps an OPT record (RFC 1035 §4.1, RFC 6891 §6.1).

mod request;
mod writer;

pub use request::{opcode_of, parse_request, Edns, ParseError, Question, Request};
pub use writer::{Mark, MessageWriter, NameTable, Owner, Section, WriteError};

/// A message id for a query or NOTIFY we send, that nobody can predict
/// from the ones before (RFC 5452 §4.3: an answer is accepted on its id,
/// so a guessable one invites forged answers). Every client of ours takes
/// its ids here.
pub fn random_id() -> u16 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut id = [0u8; 2];
    if SystemRandom::new().fill(&mut id).is_ok() {
        return u16::from_be_bytes(id);
    }
    // No system randomness (should not happen): the process's random
    // hasher keys over a counter are still unknown to the network.
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed)) as u16
}

/// Response codes (RFC 1035 §4.1.1, RFC 6891 §9).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const YXRRSET: u16 = 7;
    pub const NXRRSET: u16 = 8;
    pub const NOTAUTH: u16 = 9;
    pub const NOTZONE: u16 = 10;
    pub const BADVERS: u16 = 16;

    /// The mnemonic of an RCODE, for logs.
    pub fn name(rcode: u16) -> &'static str {
        match rcode {
            NOERROR => "NOERROR",
            FORMERR => "FORMERR",
            SERVFAIL => "SERVFAIL",
            NXDOMAIN => "NXDOMAIN",
            NOTIMP => "NOTIMP",
            REFUSED => "REFUSED",
            YXDOMAIN => "YXDOMAIN",
            YXRRSET => "YXRRSET",
            NXRRSET => "NXRRSET",
            NOTAUTH => "NOTAUTH",
            NOTZONE => "NOTZONE",
            BADVERS => "BADVERS",
            _ => "RCODE?",
        }
    }
}

/// Opcodes (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
pub mod opcode {
    pub const QUERY: u8 = 0;
    pub const NOTIFY: u8 = 4;
    pub const UPDATE: u8 = 5;

    /// The opcodes the query path answers. Their requests are laid out as
    /// a query (one question; RFC 1996 §3.7 for NOTIFY), so one that does
    /// not read as such is a format error. UPDATE never gets here: the
    /// listeners hand it to the server (`Answerer::takes_update`), or, in
    /// a server without one, it is answered NOTIMP like any other opcode,
    /// whatever follows its header (RFC 8906 §3.1.4).
    pub fn is_implemented(opcode: u8) -> bool {
        matches!(opcode, QUERY | NOTIFY)
    }
}

/// Header flag bits, as in the 16-bit flags word.
pub mod flag {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// EDNS option codes we understand (IANA registry).
pub mod option {
    pub const NSID: u16 = 3;
    pub const EXPIRE: u16 = 9;
    pub const COOKIE: u16 = 10;
    /// RFC 9660: the zone version an answer came from.
    pub const ZONEVERSION: u16 = 19;
}

/// ZONEVERSION TYPE values (RFC 9660 §2.1, IANA registry).
pub mod zoneversion {
    /// VERSION is the zone's 32-bit SOA SERIAL.
    pub const SOA_SERIAL: u8 = 0;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// The size of a DNS header.
pub const HEADER_LEN: usize = 12;
/// Largest DNS message (TCP framing limit).
pub const MAX_MESSAGE: usize = 65535;

#[cfg(test)]
mod random_id_tests {
    #[test]
    fn message_ids_do_not_repeat_in_a_pattern() {
        let ids: std::collections::HashSet<u16> = (0..1000).map(|_| super::random_id()).collect();
        // 1000 draws from 65536 values: about 8 collisions expected.
        assert!(ids.len() > 950, "{} distinct ids", ids.len());
    }
}

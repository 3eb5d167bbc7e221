//! A zone version written out as a master file (RFC 1035 §5): what a
//! primary changed by UPDATE flushes back to its zone file, so the file
//! stays the source of truth. Names in canonical order, the SOA first,
//! every owner absolute, one record per line, no `$INCLUDE` (a flushed
//! file is self-contained, as Knot's). Reading it back gives exactly the
//! records written (same octets, so the same content digest): the common
//! types are written in their usual form, every other type in the RFC 3597
//! generic form, which every parser reads back unchanged.

use crate::name;
use crate::rdata::csync::Csync;
use crate::rdata::rtype_to_presentation;
use crate::zone::{rtype, Node, ZoneVersion};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The whole zone as master-file text.
pub fn zone_text(version: &ZoneVersion, header: &str) -> String {
    let mut out = String::with_capacity(version.record_count() * 48 + 256);
    for line in header.lines() {
        let _ = writeln!(out, "; {line}");
    }
    records_text(version, None, &mut out);
    out
}

/// Every record of `version` (of type `only` when given), one line each,
/// names in canonical order (the apex, and its SOA, first).
pub fn records_text(version: &ZoneVersion, only: Option<u16>, out: &mut String) {
    let mut nodes: Vec<_> = version
        .nodes()
        .filter(|n| !n.is_empty_nonterminal())
        .collect();
    // Keys sort in DNSSEC canonical order, the apex first.
    nodes.sort_unstable_by(|a, b| a.key().cmp(b.key()));
    for node in nodes {
        node_text(node, only, out);
    }
}

/// The records of one node (of type `only` when given), one line each,
/// the SOA first.
pub fn node_text(node: &Node, only: Option<u16>, out: &mut String) {
    let mut owner = Vec::new();
    node.name_into(&mut owner);
    let owner_text = name::display(&owner);
    let mut sets: Vec<_> = node
        .rrsets()
        .filter(|s| only.is_none_or(|t| t == s.rtype()))
        .collect();
    sets.sort_by_key(|s| (s.rtype() != rtype::SOA, s.rtype()));
    for set in sets {
        for rdata in set.rdatas() {
            record_line(out, &owner_text, set.ttl(), set.rtype(), rdata);
        }
        if let Some(sigs) = set.sigs() {
            for rdata in sigs.rdatas() {
                record_line(out, &owner_text, sigs.ttl, rtype::RRSIG, rdata);
            }
        }
    }
}

/// One record as a zone-file line (no newline).
pub fn record_text(owner: &[u8], ttl: u32, t: u16, rdata: &[u8]) -> String {
    let mut out = String::new();
    record_line(&mut out, &name::display(owner), ttl, t, rdata);
    out.pop();
    out
}

fn record_line(out: &mut String, owner: &str, ttl: u32, t: u16, rdata: &[u8]) {
    let _ = write!(out, "{owner} {ttl} IN ");
    match usual_form(t, rdata) {
        Some(text) => {
            let _ = writeln!(out, "{} {text}", rtype_to_presentation(t));
        }
        None => {
            let _ = write!(out, "TYPE{t} \\# {}", rdata.len());
            if !rdata.is_empty() {
                out.push(' ');
                for b in rdata {
                    let _ = write!(out, "{b:02x}");
                }
            }
            out.push('\n');
        }
    }
}

/// RDATA in its usual presentation form, for the types written that way;
/// `None`: use the generic form (also for RDATA that is not well formed
/// for its type, so it survives as it is).
pub fn usual_form(t: u16, rdata: &[u8]) -> Option<String> {
    match t {
        rtype::A => Some(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?).to_string()),
        rtype::AAAA => Some(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?).to_string()),
        rtype::NS | rtype::CNAME | rtype::DNAME | rtype::PTR => whole_name(rdata),
        rtype::MX => {
            let (pref, rest) = (rdata.get(..2)?, rdata.get(2..)?);
            let pref = u16::from_be_bytes([pref[0], pref[1]]);
            Some(format!("{pref} {}", whole_name(rest)?))
        }
        rtype::SRV => {
            let fields = rdata.get(..6)?;
            let f = |i: usize| u16::from_be_bytes([fields[i], fields[i + 1]]);
            let target = whole_name(rdata.get(6..)?)?;
            Some(format!("{} {} {} {target}", f(0), f(2), f(4)))
        }
        rtype::SOA => {
            let mname_len = name::wire_len(rdata)?;
            let rname_len = name::wire_len(rdata.get(mname_len..)?)?;
            let numbers = rdata.get(mname_len + rname_len..)?;
            if numbers.len() != 20 {
                return None;
            }
            let mut text = format!(
                "{} {}",
                name::display(rdata.get(..mname_len)?),
                name::display(rdata.get(mname_len..mname_len + rname_len)?)
            );
            for field in numbers.chunks_exact(4) {
                let _ = write!(
                    text,
                    " {}",
                    u32::from_be_bytes([field[0], field[1], field[2], field[3]])
                );
            }
            Some(text)
        }
        rtype::TXT => character_strings(rdata),
        rtype::CSYNC => {
            let c = Csync::from_wire(rdata).ok()?;
            let mut wire = Vec::new();
            c.to_wire(&mut wire);
            // Only when the text reads back as the same octets.
            (wire == rdata).then(|| c.to_string())
        }
        crate::zonemd::ZONEMD => {
            let z = crate::zonemd::Zonemd::parse(rdata)?;
            Some(format!(
                "{} {} {} {}",
                z.serial.0,
                z.scheme,
                z.hash,
                crate::zonemd::hex(z.digest)
            ))
        }
        _ => None,
    }
}

/// RDATA that is exactly one name.
fn whole_name(rdata: &[u8]) -> Option<String> {
    (name::wire_len(rdata)? == rdata.len()).then(|| name::display(rdata))
}

/// TXT: each character-string quoted, `"` and `\` escaped, octets outside
/// printable ASCII as `\DDD`.
fn character_strings(rdata: &[u8]) -> Option<String> {
    if rdata.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let s = tail.get(..usize::from(len))?;
        rest = tail.get(usize::from(len)..)?;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        for &b in s {
            match b {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        out.push('"');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::test_version;

    #[test]
    fn reads_back_as_the_same_records() {
        let text = r#"$ORIGIN example.com.
$TTL 300
@ IN SOA ns1 Host.Example.com. 42 3600 600 86400 300
@ NS ns1
@ NS NS2.other.net.
@ MX 10 Mail
@ TXT "v=spf1 -all" "a \"quoted\" \\ back" "\200\001"
@ CSYNC 42 3 A NS AAAA
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
www 60 CNAME @
_sip._tcp SRV 0 5 5060 sip
sub NS ns.sub
ns.sub A 192.0.2.53
caa CAA 0 issue "letsencrypt.org"
sshfp SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
odd TYPE65280 \# 3 010203
empty TYPE65281 \# 0
sp\ ace A 192.0.2.9
"#;
        let v = test_version("example.com.", text);
        let written = zone_text(&v, "written by zonesync\nat serial 42");
        assert!(
            written.starts_with("; written by zonesync\n; at serial 42\nexample.com. 300 IN SOA "),
            "{written}"
        );
        let back = test_version("example.com.", &written);
        assert_eq!(back.record_count(), v.record_count(), "{written}");
        assert_eq!(back.content_digest(), v.content_digest(), "{written}");
        assert_eq!(back.serial(), crate::serial::Serial(42));
        assert!(
            written
                .contains("IN TXT \"v=spf1 -all\" \"a \\\"quoted\\\" \\\\ back\" \"\\200\\001\""),
            "{written}"
        );
        assert!(written.contains("IN MX 10 Mail.example.com."), "{written}");
        assert!(
            written.contains("sp\\032ace.example.com. 300 IN A 192.0.2.9"),
            "{written}"
        );
    }
}

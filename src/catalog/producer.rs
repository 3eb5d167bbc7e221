//! The producer's side (RFC 9432 §4): a catalog zone generated from the
//! zones that name it (`catalog_zone`), as zone-file text. The server
//! writes it under `data_dir/catalogs/` and loads it like any primary's
//! file, so the serial policy, journal, IXFR, NOTIFY and TSIG of a
//! primary apply unchanged: a change of membership is one more load.

use crate::serial::Serial;

/// One member zone of a produced catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedMember {
    /// Presentation format (a final dot is added).
    pub zone: String,
    pub group: Option<String>,
}

/// A member's unique ID (RFC 9432 §4.2): the first 64 bits of the
/// SHA-256 of its lower-case wire name, in hex. Stable across restarts
/// and servers, so a consumer never sees a member reset unless the zone
/// left the catalog and came back under another name.
pub fn member_id(zone_wire: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, &zone_wire.to_ascii_lowercase());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The catalog `catalog` (presentation) at `serial` listing `members`:
/// SOA and NS as RFC 9432 §4.1 suggests (`invalid.`), `version` "2", a
/// PTR per member and its `group`. Members that are not domain names are
/// left out (the configuration checks them first).
pub fn zone_text(catalog: &str, serial: Serial, members: &[ProducedMember]) -> String {
    let origin = catalog.trim_end_matches('.');
    let mut out = format!(
        "$ORIGIN {origin}.\n$TTL 0\n@ SOA invalid. invalid. {} 3600 600 2147483646 0\n\
         @ NS invalid.\nversion TXT \"2\"\n",
        serial.get()
    );
    let mut listed: Vec<(String, &ProducedMember)> = members
        .iter()
        .filter_map(|m| {
            let wire = crate::config::parse_zone_name(&m.zone).ok()?;
            Some((member_id(&wire), m))
        })
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    listed.dedup_by(|a, b| a.0 == b.0);
    for (id, m) in listed {
        out.push_str(&format!(
            "{id}.zones PTR {}.\n",
            m.zone.trim_end_matches('.')
        ));
        if let Some(group) = &m.group {
            out.push_str(&format!("group.{id}.zones TXT \"{}\"\n", escape(group)));
        }
    }
    out
}

/// A TXT string in a zone file: quotes and backslashes escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::members;
    use crate::zone::test_version;

    #[test]
    fn a_produced_catalog_reads_back_as_its_members() {
        let members = [
            ProducedMember {
                zone: "example.com".into(),
                group: Some("fast \"one\"".into()),
            },
            ProducedMember {
                zone: "Example.NET.".into(),
                group: None,
            },
        ];
        let text = zone_text("catz.example.", Serial(7), &members);
        let version = test_version("catz.example", &text);
        assert_eq!(version.serial(), Serial(7));
        let read = members::read(&version, |_| None).expect("a catalog");
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        let com = read
            .members
            .get(&crate::name::test_wire("example.com"))
            .expect("example.com");
        assert_eq!(com.groups, ["fast \"one\""]);
        assert_eq!(
            String::from_utf8_lossy(&com.id),
            member_id(&crate::name::test_wire("example.com"))
        );
        assert!(read
            .members
            .contains_key(&crate::name::test_wire("example.net")));
    }

    #[test]
    fn member_ids_are_stable_and_ignore_case() {
        let a = member_id(&crate::name::test_wire("example.com"));
        assert_eq!(a.len(), 16);
        assert_eq!(a, member_id(&crate::name::test_wire("EXAMPLE.com")));
        assert_ne!(a, member_id(&crate::name::test_wire("example.net")));
    }
}

//! Control transactions (`zonesync ctl zone-begin/zone-set/zone-unset/
//! zone-diff/zone-get/zone-commit/zone-abort`, as Knot's `knotc`): an
//! operator's changes collected as RFC 2136 update operations, shown
//! before they are made, and committed as one changeset through the same
//! path as an UPDATE. One open transaction per zone.
//!
//! A transaction holds operations, not a copy of the zone: `zone-diff`
//! and `zone-get` show them applied to the version served now, and the
//! commit applies them to the version served then (an UPDATE or a reload
//! meanwhile is not lost; a change that no longer applies is refused and
//! the transaction stays open).

use super::message::{class, UpdateMessage, UpdateRr};
use crate::config::SerialPolicy;
use crate::journal::{Changeset, Record};
use crate::name;
use crate::serial::Serial;
use crate::zone::{rtype, ZoneVersion};

/// An open transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The serial served at `zone-begin`, for the report.
    pub began_at: Serial,
    ops: Vec<UpdateRr>,
}

/// A request of the transaction commands that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("owner {0:?} is not a name in the zone")]
    Owner(String),
    #[error("unknown record type {0:?}")]
    Type(String),
    #[error("{0}")]
    Record(String),
}

impl Transaction {
    pub fn new(began_at: Serial) -> Transaction {
        Transaction {
            began_at,
            ops: Vec::new(),
        }
    }

    /// `zone-set OWNER [TTL] TYPE RDATA`: the record added (an equal one
    /// replaced). Without TTL: the RRset's TTL (as the transaction left
    /// it) when it exists, else the SOA's.
    pub fn set(
        &mut self,
        version: &ZoneVersion,
        owner: &str,
        ttl: Option<u32>,
        rtype: &str,
        rdata: &str,
    ) -> Result<(), TxnError> {
        let owner = owner_name(version, owner)?;
        let t = record_type(rtype)?;
        let earlier = self
            .ops
            .iter()
            .rev()
            .find(|op| op.class == class::IN && op.rtype == t && op.owner == owner)
            .map(|op| op.ttl);
        let ttl = ttl
            .or(earlier)
            .unwrap_or_else(|| default_ttl(version, &owner, t));
        let rdata = parse_rdata(version, t, rtype, rdata)?;
        self.ops.push(UpdateRr {
            owner,
            class: class::IN,
            rtype: t,
            ttl,
            rdata,
        });
        Ok(())
    }

    /// `zone-unset OWNER [TYPE [RDATA]]`: every RRset at the name, one
    /// RRset, or one record removed.
    pub fn unset(
        &mut self,
        version: &ZoneVersion,
        owner: &str,
        rtype: Option<&str>,
        rdata: Option<&str>,
    ) -> Result<(), TxnError> {
        let owner = owner_name(version, owner)?;
        let op = match (rtype, rdata) {
            (None, _) => UpdateRr {
                owner,
                class: class::ANY,
                rtype: rtype::ANY,
                ttl: 0,
                rdata: Vec::new(),
            },
            (Some(text), None) => UpdateRr {
                owner,
                class: class::ANY,
                rtype: record_type(text)?,
                ttl: 0,
                rdata: Vec::new(),
            },
            (Some(text), Some(data)) => {
                let t = record_type(text)?;
                UpdateRr {
                    owner,
                    class: class::NONE,
                    rtype: t,
                    ttl: 0,
                    rdata: parse_rdata(version, t, text, data)?,
                }
            }
        };
        self.ops.push(op);
        Ok(())
    }

    /// The changeset the transaction makes of `version` (none: nothing).
    pub fn changeset(
        &self,
        version: &ZoneVersion,
        policy: SerialPolicy,
        now_unix: u64,
    ) -> Result<Option<Changeset>, super::Failure> {
        let message = UpdateMessage {
            id: 0,
            zone: version.origin().to_vec(),
            zone_class: class::IN,
            prerequisites: Vec::new(),
            updates: self.ops.clone(),
        };
        super::plan::changeset_as(
            version,
            &message,
            policy,
            now_unix,
            super::plan::Mode::Strict,
        )
    }
}

/// A changeset as `zone-diff` shows it: `-` and `+` lines, the SOA first.
pub fn diff_lines(change: &Changeset) -> Vec<String> {
    let mut out = vec![
        format!("- {}", record_text(&change.old_soa)),
        format!("+ {}", record_text(&change.new_soa)),
    ];
    out.extend(
        change
            .removed
            .iter()
            .map(|r| format!("- {}", record_text(r))),
    );
    out.extend(change.added.iter().map(|r| format!("+ {}", record_text(r))));
    out
}

/// The records of `version` at `owner` (every name when none), of
/// `rtype` (every type when none), in zone-file form.
pub fn get_lines(
    version: &ZoneVersion,
    owner: Option<&str>,
    rtype: Option<&str>,
) -> Result<Vec<String>, TxnError> {
    let t = rtype.map(record_type).transpose()?;
    let mut text = String::new();
    match owner {
        Some(owner) => {
            let wire = owner_name(version, owner)?;
            let node = name::key_of(&wire).and_then(|k| version.get(&k));
            if let Some(node) = node {
                crate::zonefile::write::node_text(node, t, &mut text);
            }
        }
        None => crate::zonefile::write::records_text(version, t, &mut text),
    }
    Ok(text.lines().map(str::to_string).collect())
}

fn record_text(r: &Record) -> String {
    crate::zonefile::write::record_text(&r.owner, r.ttl, r.rtype, &r.rdata)
}

/// An owner as an operator writes it: absolute (`www.example.com.`),
/// relative to the zone (`www`), or `@`.
fn owner_name(version: &ZoneVersion, text: &str) -> Result<Vec<u8>, TxnError> {
    let bad = || TxnError::Owner(text.to_string());
    let origin = version.origin();
    let mut wire = if text == "@" {
        origin.to_vec()
    } else {
        crate::zonefile::name_from_presentation(text, origin).map_err(|_| bad())?
    };
    name::make_lowercase(&mut wire);
    if !name::is_subdomain(&wire, origin) {
        return Err(bad());
    }
    Ok(wire)
}

fn record_type(text: &str) -> Result<u16, TxnError> {
    crate::rdata::rtype_from_presentation(text).ok_or_else(|| TxnError::Type(text.to_string()))
}

fn default_ttl(version: &ZoneVersion, owner: &[u8], t: u16) -> u32 {
    let existing =
        name::key_of(owner).and_then(|k| version.get(&k).and_then(|n| n.rrset(t)).map(|s| s.ttl()));
    existing.unwrap_or_else(|| version.soa().map_or(3600, |s| s.ttl()))
}

/// RDATA in presentation form, read by the zone-file parser (relative
/// names are relative to the zone).
fn parse_rdata(
    version: &ZoneVersion,
    t: u16,
    type_text: &str,
    text: &str,
) -> Result<Vec<u8>, TxnError> {
    let line = format!("@ 0 IN {type_text} {text}\n");
    let opts = crate::zonefile::ParseOptions::new(version.origin().to_vec());
    let parsed = crate::zonefile::parse_str(&line, std::path::Path::new("zone-set"), &opts)
        .map_err(|errors| {
            TxnError::Record(
                errors
                    .first()
                    .map_or_else(|| "cannot read the record".into(), |e| e.message.clone()),
            )
        })?;
    match parsed.records.as_slice() {
        [r] if r.rtype == t => Ok(r.rdata.clone()),
        _ => Err(TxnError::Record(format!(
            "{type_text} {text}: not one record"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::test_version;

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 h 10 3600 600 86400 120\n@ NS ns1\nns1 A 192.0.2.1\n\
        www 600 A 192.0.2.10\nold TXT \"x\"\n";

    #[test]
    fn set_and_unset_make_one_changeset_with_the_serial_moved() {
        let v = test_version("example.com.", ZONE);
        let mut t = Transaction::new(v.serial());
        t.set(&v, "www", None, "A", "192.0.2.11").unwrap();
        t.set(&v, "new.example.com.", Some(60), "MX", "10 mail")
            .unwrap();
        t.set(&v, "fresh", None, "AAAA", "2001:db8::1").unwrap();
        t.unset(&v, "old", None, None).unwrap();
        t.unset(&v, "www", Some("A"), Some("192.0.2.10")).unwrap();
        let c = t.changeset(&v, SerialPolicy::Keep, 0).unwrap().unwrap();
        assert_eq!((c.from_serial, c.to_serial), (Serial(10), Serial(11)));
        let lines = diff_lines(&c);
        let has = |l: &str| lines.iter().any(|x| x == l);
        assert!(has("+ www.example.com. 600 IN A 192.0.2.11"), "{lines:?}");
        assert!(has("- www.example.com. 600 IN A 192.0.2.10"), "{lines:?}");
        assert!(
            has("+ new.example.com. 60 IN MX 10 mail.example.com."),
            "{lines:?}"
        );
        assert!(
            has("+ fresh.example.com. 300 IN AAAA 2001:db8::1"),
            "SOA TTL: {lines:?}"
        );
        assert!(has("- old.example.com. 300 IN TXT \"x\""), "{lines:?}");
        let next = v.apply(&c).unwrap();
        assert_eq!(
            get_lines(&next, Some("www"), Some("A")).unwrap(),
            ["www.example.com. 600 IN A 192.0.2.11"]
        );
        assert_eq!(
            get_lines(&next, Some("old"), None).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let v = test_version("example.com.", ZONE);
        let mut t = Transaction::new(Serial(10));
        assert_eq!(
            t.set(&v, "www.example.org.", None, "A", "192.0.2.1"),
            Err(TxnError::Owner("www.example.org.".into()))
        );
        assert_eq!(
            t.set(&v, "www", None, "NOPE", "1"),
            Err(TxnError::Type("NOPE".into()))
        );
        assert!(matches!(
            t.set(&v, "www", None, "A", "not-an-address"),
            Err(TxnError::Record(_))
        ));
        assert_eq!(
            t.changeset(&v, SerialPolicy::Keep, 0),
            Ok(None),
            "nothing was added"
        );
        // What UPDATE would silently ignore is refused, naming the record.
        t.set(&v, "www", None, "CNAME", "ns1").unwrap();
        let err = t.changeset(&v, SerialPolicy::Keep, 0).unwrap_err();
        assert_eq!(err.rcode, crate::wire::rcode::REFUSED);
        assert!(err.reason.contains("www.example.com. CNAME"), "{err}");
    }
}

//! Who may change what: a zone's `allow_update` rules. Every rule names
//! the TSIG key that must sign the UPDATE, and may narrow it to source
//! addresses, to names (exact, a name and everything below it, or a
//! wildcard pattern: BIND's `update-policy` `name`/`subdomain`/`wildcard`,
//! Knot's `update-owner-match`) and to record types. No rule: no UPDATE
//! (REFUSED). Each record of the update section must be allowed by one
//! rule of the key that signed the request; prerequisites are not
//! restricted (they change nothing).

use super::message::UpdateRr;
use crate::acl::Prefix;
use crate::name;
use crate::zone::rtype;
use serde::Deserialize;
use std::net::IpAddr;

/// How a rule's `names` match an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameMatch {
    /// The name itself.
    Exact,
    /// The name or any name below it.
    #[default]
    Subdomain,
    /// `*.name`: any name strictly below `name`.
    Wildcard,
}

/// `[[zone.allow_update]]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleConfig {
    /// The TSIG key (`[[key]]` name) that must sign the UPDATE.
    pub key: String,
    /// Source address prefix; none: any address.
    #[serde(default)]
    pub from: Option<Prefix>,
    /// Names the key may change; none: the whole zone.
    #[serde(default)]
    pub names: Vec<String>,
    /// How `names` match.
    #[serde(default, rename = "match")]
    pub name_match: NameMatch,
    /// Types the key may change (mnemonics); none: any type.
    #[serde(default)]
    pub types: Vec<String>,
}

/// A rule that cannot be used; names the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("names[{index}]: {name:?} is not a domain name")]
    BadName { index: usize, name: String },
    #[error("names[{index}]: {name:?} is not in the zone")]
    OutOfZone { index: usize, name: String },
    #[error("names[{index}]: {name:?}: a wildcard pattern starts with \"*.\"")]
    NotWildcard { index: usize, name: String },
    #[error("types[{index}]: unknown record type {name:?}")]
    BadType { index: usize, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    key: String,
    from: Option<Prefix>,
    /// Lower-case wire format; for wildcards, the name below the `*`.
    names: Vec<Vec<u8>>,
    name_match: NameMatch,
    types: Vec<u16>,
}

/// A zone's rules, ready to judge requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePolicy {
    rules: Vec<Rule>,
}

impl UpdatePolicy {
    /// The rules of the zone `origin` (wire format).
    pub fn new(
        origin: &[u8],
        rules: &[UpdateRuleConfig],
    ) -> Result<UpdatePolicy, (usize, PolicyError)> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::new(origin, r).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(UpdatePolicy { rules })
    }

    /// Whether any UPDATE can be allowed at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a request from `peer` signed with `key` may make the update
    /// `rr`.
    pub fn permits(&self, peer: IpAddr, key: &str, rr: &UpdateRr) -> bool {
        self.rules.iter().any(|r| r.permits(peer, key, rr))
    }

    /// The first record of `updates` the request may not make.
    pub fn first_denied<'u>(
        &self,
        peer: IpAddr,
        key: &str,
        updates: &'u [UpdateRr],
    ) -> Option<&'u UpdateRr> {
        updates.iter().find(|rr| !self.permits(peer, key, rr))
    }
}

impl Rule {
    fn new(origin: &[u8], config: &UpdateRuleConfig) -> Result<Rule, PolicyError> {
        let mut names = Vec::with_capacity(config.names.len());
        for (index, text) in config.names.iter().enumerate() {
            let bad = || PolicyError::BadName {
                index,
                name: text.clone(),
            };
            let text_below = match config.name_match {
                NameMatch::Wildcard => text.strip_prefix("*.").ok_or(PolicyError::NotWildcard {
                    index,
                    name: text.clone(),
                })?,
                _ => text.as_str(),
            };
            let wire = crate::config::parse_zone_name(text_below).map_err(|_| bad())?;
            if !name::is_subdomain(&wire, origin) {
                return Err(PolicyError::OutOfZone {
                    index,
                    name: text.clone(),
                });
            }
            names.push(wire);
        }
        let types = config
            .types
            .iter()
            .enumerate()
            .map(|(index, t)| {
                crate::rdata::rtype_from_presentation(t).ok_or(PolicyError::BadType {
                    index,
                    name: t.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Rule {
            key: config.key.to_ascii_lowercase(),
            from: config.from,
            names,
            name_match: config.name_match,
            types,
        })
    }

    fn permits(&self, peer: IpAddr, key: &str, rr: &UpdateRr) -> bool {
        key.eq_ignore_ascii_case(&self.key)
            && self.from.is_none_or(|p| p.contains(peer))
            && (self.names.is_empty() || self.names.iter().any(|n| self.name_matches(n, &rr.owner)))
            // Deleting every type at a name (type ANY) needs a rule
            // for every type.
            && (self.types.is_empty() || (rr.rtype != rtype::ANY && self.types.contains(&rr.rtype)))
    }

    fn name_matches(&self, name: &[u8], owner: &[u8]) -> bool {
        match self.name_match {
            NameMatch::Exact => owner == name,
            NameMatch::Subdomain => name::is_subdomain(owner, name),
            NameMatch::Wildcard => owner != name && name::is_subdomain(owner, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::message::class;

    fn policy(toml_rules: &str) -> UpdatePolicy {
        #[derive(Deserialize)]
        struct Rules {
            allow_update: Vec<UpdateRuleConfig>,
        }
        let r: Rules = toml::from_str(toml_rules).unwrap();
        UpdatePolicy::new(&name::test_wire("example.com."), &r.allow_update).unwrap()
    }

    fn rr(owner: &str, t: u16) -> UpdateRr {
        UpdateRr {
            owner: name::test_wire(owner),
            class: class::IN,
            rtype: t,
            ttl: 300,
            rdata: Vec::new(),
        }
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_rule_binds_a_key_to_names_and_types() {
        let p = policy(
            r#"
            [[allow_update]]
            key = "acme"
            names = ["_acme-challenge.example.com."]
            match = "exact"
            types = ["TXT"]
            [[allow_update]]
            key = "dhcp"
            names = ["*.dyn.example.com."]
            match = "wildcard"
            types = ["A", "AAAA"]
            [[allow_update]]
            key = "admin"
            from = "127.0.0.0/8"
            "#,
        );
        let acme = rr("_acme-challenge.example.com.", rtype::TXT);
        assert!(p.permits(LOCAL, "ACME", &acme), "key names without case");
        assert!(!p.permits(LOCAL, "acme", &rr("_acme-challenge.example.com.", rtype::A)));
        assert!(!p.permits(
            LOCAL,
            "acme",
            &rr("x._acme-challenge.example.com.", rtype::TXT)
        ));
        assert!(!p.permits(
            LOCAL,
            "acme",
            &rr("_acme-challenge.example.com.", rtype::ANY)
        ));
        assert!(p.permits(LOCAL, "dhcp", &rr("host.dyn.example.com.", rtype::A)));
        assert!(p.permits(LOCAL, "dhcp", &rr("a.b.dyn.example.com.", rtype::AAAA)));
        assert!(!p.permits(LOCAL, "dhcp", &rr("dyn.example.com.", rtype::A)));
        assert!(!p.permits(LOCAL, "dhcp", &rr("host.dyn.example.com.", rtype::TXT)));
        assert!(p.permits(LOCAL, "admin", &rr("example.com.", rtype::ANY)));
        let far: IpAddr = "::1".parse().unwrap();
        assert!(!p.permits(far, "admin", &acme), "outside the rule's prefix");
        assert!(!p.permits(LOCAL, "other", &acme));
        let updates = [acme.clone(), rr("www.example.com.", rtype::A)];
        assert_eq!(p.first_denied(LOCAL, "acme", &updates), Some(&updates[1]));
        assert!(UpdatePolicy::default().is_empty());
    }

    #[test]
    fn bad_rules_name_their_part() {
        let origin = name::test_wire("example.com.");
        let rule = |names: &[&str], m: NameMatch, types: &[&str]| UpdateRuleConfig {
            key: "k".into(),
            from: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            name_match: m,
            types: types.iter().map(|s| s.to_string()).collect(),
        };
        let err = |r| UpdatePolicy::new(&origin, &[r]).unwrap_err().1.to_string();
        assert!(err(rule(&["www.example.org."], NameMatch::Exact, &[])).contains("not in the zone"));
        assert!(err(rule(&["dyn.example.com."], NameMatch::Wildcard, &[])).contains("*."));
        assert!(err(rule(&[], NameMatch::Exact, &["NOPE"])).contains("types[0]"));
    }
}

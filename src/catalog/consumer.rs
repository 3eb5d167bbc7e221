//! The consumer's side (RFC 9432 §5): what a catalog's member list, as
//! just transferred, changes in the zones this server serves. A pure
//! function of the members read, the members this catalog provisioned
//! before, and who else serves each zone; the server carries it out.

use super::members::Members;
use crate::name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A member zone a catalog provisioned, as kept in the catalog's state
/// file (`state/<catalog>.catalog.toml`) so a restart serves it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioned {
    /// The member zone, presentation format without the final dot.
    pub zone: String,
    /// Its unique ID in the catalog.
    pub id: String,
    /// The `[[template]]` it was made from.
    pub template: String,
    /// The catalog it is moving to (`coo`), when the catalog says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coo: Option<String>,
}

/// Who serves a zone besides the catalog being processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Nobody,
    /// Configured in the file, or added with `ctl zone-add`.
    Operator,
    /// A member of another catalog (its apex, wire), which may name a
    /// catalog it moves to (`coo`, wire).
    Catalog {
        catalog: Vec<u8>,
        coo: Option<Vec<u8>>,
        id: String,
    },
}

/// One change to the served zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new member: serve it (a secondary: transfer it).
    Add(Provisioned),
    /// No longer a member: stop serving it and delete its data (§5.3).
    Remove(Provisioned),
    /// Its unique ID changed: its data is deleted and transferred anew
    /// (§5.6, "zone associated state reset"). `from`: the catalog it
    /// belonged to, when another (a change of ownership).
    Reset {
        member: Provisioned,
        from: Option<Vec<u8>>,
    },
    /// Same zone, other settings (its group names another template, or it
    /// moved here from catalog `from` with the same ID): served again
    /// with the new template, its data kept.
    Reconfigure {
        member: Provisioned,
        from: Option<Vec<u8>>,
    },
}

/// The plan for one catalog, and what it left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// The catalog's members after the plan (its new state file).
    pub provisioned: Vec<Provisioned>,
    pub notes: Vec<String>,
}

/// Plans what `members` of `catalog` (wire) change, given the members it
/// `provisioned` before, who else serves a zone (`owner`), and the
/// catalog's `templates` (the first is the default; a member's `group`
/// picks the template of that name, RFC 9432 §4.4.2).
pub fn plan(
    catalog: &[u8],
    members: &Members,
    provisioned: &[Provisioned],
    owner: impl Fn(&[u8]) -> Owner,
    templates: &[String],
) -> Plan {
    let mut out = Plan::default();
    let Some(default) = templates.first() else {
        out.notes
            .push("no templates: the catalog provisions nothing".into());
        out.provisioned = provisioned.to_vec();
        return out;
    };
    let before: BTreeMap<Vec<u8>, &Provisioned> = provisioned
        .iter()
        .filter_map(|p| Some((crate::config::parse_zone_name(&p.zone).ok()?, p)))
        .collect();
    for (zone, member) in &members.members {
        let shown = name::display(zone).trim_end_matches('.').to_owned();
        let template = member
            .groups
            .iter()
            .find_map(|g| templates.iter().find(|t| *t == g))
            .unwrap_or(default)
            .clone();
        if !member.groups.is_empty() && !templates.iter().any(|t| member.groups.contains(t)) {
            out.notes.push(format!(
                "{shown}: group {:?} names none of the catalog's templates; the default {default:?} is used",
                member.groups
            ));
        }
        let next = Provisioned {
            zone: shown.clone(),
            id: String::from_utf8_lossy(&member.id).into_owned(),
            template,
            coo: member
                .coo
                .as_ref()
                .map(|c| name::display(c).trim_end_matches('.').to_owned()),
        };
        match before.get(zone) {
            Some(had) if had.id != next.id => out.changes.push(Change::Reset {
                member: next.clone(),
                from: None,
            }),
            Some(had) if had.template != next.template => out.changes.push(Change::Reconfigure {
                member: next.clone(),
                from: None,
            }),
            Some(_) => {}
            None => match owner(zone) {
                Owner::Nobody => out.changes.push(Change::Add(next.clone())),
                Owner::Operator => {
                    out.notes.push(format!(
                        "{shown}: served from the configuration or zone-add; the catalog's entry is ignored"
                    ));
                    continue;
                }
                Owner::Catalog {
                    catalog: other,
                    coo,
                    id,
                } if coo.as_deref() == Some(catalog) => {
                    let from = Some(other);
                    out.changes.push(if id == next.id {
                        Change::Reconfigure {
                            member: next.clone(),
                            from,
                        }
                    } else {
                        Change::Reset {
                            member: next.clone(),
                            from,
                        }
                    });
                }
                Owner::Catalog { catalog: other, .. } => {
                    out.notes.push(format!(
                        "{shown}: a member of catalog {} (no coo to this catalog); ignored here",
                        name::display(&other)
                    ));
                    continue;
                }
            },
        }
        out.provisioned.push(next);
    }
    for (zone, had) in &before {
        if !members.members.contains_key(zone) {
            out.changes.push(Change::Remove((*had).clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::members::Member;

    fn wire(s: &str) -> Vec<u8> {
        crate::name::test_wire(s)
    }

    fn members(list: &[(&str, &str, &[&str], Option<&str>)]) -> Members {
        let mut m = Members::default();
        for (zone, id, groups, coo) in list {
            m.members.insert(
                wire(zone),
                Member {
                    zone: wire(zone),
                    id: id.as_bytes().to_vec(),
                    groups: groups.iter().map(|g| g.to_string()).collect(),
                    coo: coo.map(wire),
                },
            );
        }
        m
    }

    fn had(zone: &str, id: &str, template: &str) -> Provisioned {
        Provisioned {
            zone: zone.into(),
            id: id.into(),
            template: template.into(),
            coo: None,
        }
    }

    fn templates() -> Vec<String> {
        vec!["mirror".into(), "fast".into()]
    }

    #[test]
    fn new_members_are_added_with_the_template_their_group_names() {
        let m = members(&[
            ("a.example", "1", &[], None),
            ("b.example", "2", &["fast"], None),
            ("c.example", "3", &["unknown"], None),
        ]);
        let p = plan(&wire("catz"), &m, &[], |_| Owner::Nobody, &templates());
        assert_eq!(
            p.changes,
            vec![
                Change::Add(had("a.example", "1", "mirror")),
                Change::Add(had("b.example", "2", "fast")),
                Change::Add(had("c.example", "3", "mirror")),
            ]
        );
        assert_eq!(p.provisioned.len(), 3);
        assert!(
            p.notes.iter().any(|n| n.contains("c.example: group")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn removed_reset_and_regrouped_members() {
        let before = [
            had("a.example", "1", "mirror"),
            had("b.example", "2", "mirror"),
            had("c.example", "3", "mirror"),
        ];
        let m = members(&[
            ("b.example", "9", &[], None),
            ("c.example", "3", &["fast"], None),
        ]);
        let p = plan(&wire("catz"), &m, &before, |_| Owner::Nobody, &templates());
        assert_eq!(
            p.changes,
            vec![
                Change::Reset {
                    member: had("b.example", "9", "mirror"),
                    from: None
                },
                Change::Reconfigure {
                    member: had("c.example", "3", "fast"),
                    from: None
                },
                Change::Remove(had("a.example", "1", "mirror")),
            ]
        );
        let unchanged = plan(
            &wire("catz"),
            &m,
            &p.provisioned,
            |_| Owner::Nobody,
            &templates(),
        );
        assert!(unchanged.changes.is_empty(), "{:?}", unchanged.changes);
    }

    #[test]
    fn zones_served_otherwise_are_left_alone_unless_coo_moves_them_here() {
        let m = members(&[
            ("mine.example", "1", &[], None),
            ("other.example", "2", &[], None),
            ("moving.example", "3", &[], None),
            ("moving2.example", "4", &[], None),
        ]);
        let owner = |zone: &[u8]| match crate::name::display(zone).as_str() {
            "mine.example." => Owner::Operator,
            "other.example." => Owner::Catalog {
                catalog: wire("old"),
                coo: None,
                id: "2".into(),
            },
            "moving.example." => Owner::Catalog {
                catalog: wire("old"),
                coo: Some(wire("catz")),
                id: "3".into(),
            },
            _ => Owner::Catalog {
                catalog: wire("old"),
                coo: Some(wire("catz")),
                id: "other".into(),
            },
        };
        let p = plan(&wire("catz"), &m, &[], owner, &templates());
        assert_eq!(
            p.changes,
            vec![
                Change::Reconfigure {
                    member: had("moving.example", "3", "mirror"),
                    from: Some(wire("old"))
                },
                Change::Reset {
                    member: had("moving2.example", "4", "mirror"),
                    from: Some(wire("old"))
                },
            ]
        );
        assert_eq!(p.provisioned.len(), 2);
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    }
}

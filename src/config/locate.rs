//! Where in the file a setting is written, so that a problem found after
//! parsing (a bad prefix in `zone[2].allow_transfer[0]`) names its line;
//! and every key the reference does not know, each with its line (serde
//! stops at the first).
//!
//! `toml_edit` (the parser under `toml`) keeps the byte spans of keys and
//! values; this walks its document along the paths our errors use.

use super::reference;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

/// A configuration's text, parsed with spans.
pub struct Source<'a> {
    text: &'a str,
    doc: ImDocument<&'a str>,
}

/// A key the reference does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    pub line: usize,
    /// Bytes of `key = value`, when known.
    pub span: Option<Range<usize>>,
    /// Its path, as errors spell it: `zone[1].primaries[0].adress`.
    pub at: String,
    /// The keys that table takes.
    pub expected: Vec<&'static str>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: unknown key; this table takes {}",
            self.at,
            self.expected.join(", ")
        )
    }
}

impl<'a> Source<'a> {
    pub fn parse(text: &'a str) -> Result<Source<'a>, toml_edit::TomlError> {
        let doc = ImDocument::parse(text)?;
        Ok(Source { text, doc })
    }

    /// The line (from 1) where `path` (`zone[2].allow_transfer[0].from`)
    /// is written; the line of its nearest written parent when the key
    /// itself is absent (a missing `file` points at its `[[zone]]`).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut node = Node::Table(self.doc.as_table());
        let mut found: Option<Range<usize>> = None;
        for (name, index) in segments(path)? {
            let Some((span, child)) = node.child(name) else {
                break;
            };
            found = span.or(found);
            node = child;
            if let Some(i) = index {
                let Some((span, element)) = node.element(i) else {
                    break;
                };
                found = span.or(found);
                node = element;
            }
        }
        found.map(|span| line_at(self.text, span.start))
    }

    /// Every key not in the reference, in the order of the file.
    pub fn unknown_keys(&self) -> Vec<UnknownKey> {
        let mut out = Vec::new();
        self.walk(self.doc.as_table(), "", "", &mut out);
        out.sort_by_key(|u| u.line);
        out
    }

    fn walk(&self, table: &dyn TableLike, path: &str, at: &str, out: &mut Vec<UnknownKey>) {
        let Some(known) = reference::table(path) else {
            return;
        };
        for (name, _) in table.iter() {
            let Some((key, item)) = table.get_key_value(name) else {
                continue;
            };
            let child_at = if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}.{name}")
            };
            if !known.keys.iter().any(|k| k.name == name) {
                let span = key.span().or_else(|| item.span());
                out.push(UnknownKey {
                    line: span.as_ref().map_or(0, |s| line_at(self.text, s.start)),
                    span: key.span().zip(item.span()).map(|(k, v)| k.start..v.end),
                    at: child_at,
                    expected: known.keys.iter().map(|k| k.name).collect(),
                });
                continue;
            }
            let child_path = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            self.walk_item(item, &child_path, &child_at, out);
        }
    }

    /// A known key's value: descend into the tables it holds.
    fn walk_item(&self, item: &Item, path: &str, at: &str, out: &mut Vec<UnknownKey>) {
        match item {
            Item::Table(t) => self.walk(t, path, at, out),
            Item::ArrayOfTables(tables) => {
                for (i, t) in tables.iter().enumerate() {
                    self.walk(t, path, &format!("{at}[{i}]"), out);
                }
            }
            Item::Value(Value::InlineTable(t)) => self.walk(t, path, at, out),
            Item::Value(Value::Array(values)) => {
                for (i, v) in values.iter().enumerate() {
                    if let Value::InlineTable(t) = v {
                        self.walk(t, path, &format!("{at}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Source<'_> {
    /// The path of the innermost setting written at byte `offset`
    /// (`zone[0].allow_transfer[0].from`), to name where serde failed.
    pub fn path_at(&self, offset: usize) -> Option<String> {
        let mut at = String::new();
        let mut node = Node::Table(self.doc.as_table());
        while let Some((step, next)) = node.table_like().and_then(|t| step_to(t, offset)) {
            at = join(&at, &step);
            node = next;
        }
        (!at.is_empty()).then_some(at)
    }

    /// The text with every unknown key (and its value) blanked out, lines
    /// kept: serde's first error in it is then a problem of another kind,
    /// with its own line. `None` when a key's extent is not known.
    pub fn without_unknown_keys(&self) -> Option<String> {
        let mut bytes = self.text.as_bytes().to_vec();
        for unknown in self.unknown_keys() {
            let span = unknown.span?;
            let span = with_separator(self.text, span);
            for b in bytes.get_mut(span)? {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        String::from_utf8(bytes).ok()
    }
}

/// The child of `table` that holds `offset`: a key whose key or value
/// spans it, else the table (or element of an array of tables) whose
/// header is the last before it, as a TOML table's body runs to the next
/// header.
fn step_to(table: &dyn TableLike, offset: usize) -> Option<(String, Node<'_>)> {
    let mut best: Option<(usize, String, Node<'_>)> = None;
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        let is_value = matches!(item, Item::Value(_));
        if is_value && (contains(key.span(), offset) || contains(item.span(), offset)) {
            return Some(match item {
                Item::Value(Value::Array(values)) => {
                    match values.iter().position(|v| contains(v.span(), offset)) {
                        Some(i) => (format!("{name}[{i}]"), Node::Value(values.get(i)?)),
                        None => (name.to_owned(), Node::Item(item)),
                    }
                }
                _ => (name.to_owned(), Node::Item(item)),
            });
        }
        let headers: Vec<(usize, String, Node<'_>)> = match item {
            Item::Table(t) => t
                .span()
                .map(|s| (s.start, name.to_owned(), Node::Table(t)))
                .into_iter()
                .collect(),
            Item::ArrayOfTables(tables) => tables
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    Some((t.span()?.start, format!("{name}[{i}]"), Node::Table(t)))
                })
                .collect(),
            _ => Vec::new(),
        };
        for h in headers {
            if h.0 <= offset && best.as_ref().is_none_or(|b| h.0 > b.0) {
                best = Some(h);
            }
        }
    }
    best.map(|(_, step, node)| (step, node))
}

fn contains(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// `span` widened to a comma that separates it from a neighbour in an
/// inline table (before it, else after it), so what is left still parses.
fn with_separator(text: &str, span: Range<usize>) -> Range<usize> {
    let before = text.get(..span.start).unwrap_or("");
    let trimmed = before.trim_end_matches([' ', '\t']);
    if trimmed.ends_with(',') {
        return trimmed.len() - 1..span.end;
    }
    let after = text.get(span.end..).unwrap_or("");
    let rest = after.trim_start_matches([' ', '\t']);
    if rest.starts_with(',') {
        return span.start..span.end + (after.len() - rest.len()) + 1;
    }
    span
}

/// One step of a walk: a table, an item of one, or a value in an array.
enum Node<'d> {
    Table(&'d Table),
    Item(&'d Item),
    Value(&'d Value),
}

impl<'d> Node<'d> {
    fn table_like(&self) -> Option<&'d dyn TableLike> {
        match self {
            Node::Table(t) => Some(*t as &dyn TableLike),
            Node::Item(i) => i.as_table_like(),
            Node::Value(Value::InlineTable(t)) => Some(t as &dyn TableLike),
            Node::Value(_) => None,
        }
    }

    fn child(&self, name: &str) -> Option<(Option<Range<usize>>, Node<'d>)> {
        let (key, item) = self.table_like()?.get_key_value(name)?;
        Some((key.span().or_else(|| item.span()), Node::Item(item)))
    }

    fn element(&self, index: usize) -> Option<(Option<Range<usize>>, Node<'d>)> {
        match self {
            Node::Item(Item::ArrayOfTables(tables)) => {
                let t = tables.get(index)?;
                Some((t.span(), Node::Table(t)))
            }
            Node::Item(Item::Value(Value::Array(values))) => {
                let v = values.get(index)?;
                Some((v.span(), Node::Value(v)))
            }
            _ => None,
        }
    }
}

/// `zone[2].allow_transfer[0].from` → (zone, 2), (allow_transfer, 0),
/// (from, -); `None` for what is not such a path (`zone "x.example"`).
fn segments(path: &str) -> Option<Vec<(&str, Option<usize>)>> {
    path.split('.')
        .map(|part| match part.split_once('[') {
            None if is_bare_key(part) => Some((part, None)),
            None => None,
            Some((name, rest)) => {
                let index = rest.strip_suffix(']')?.parse().ok()?;
                is_bare_key(name).then_some((name, Some(index)))
            }
        })
        .collect()
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The line (from 1) of a byte offset.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[[zone]]\nname = \"a\"\nrole = \"primary\"\nfile = \"a.zone\"\n\n[[zone]]\nname = \"b\"\nrole = \"secondary\"\nprimaries = [\n  { address = \"127.0.0.1:5300\" },\n  { adress = \"127.0.0.1:5301\" },\n]\nallow_transfer = [{ from = \"::1\", kee = \"k\" }]\n\n[zone.catalog]\nrole = \"consumer\"\ntemplate = [\"t\"]\n\n[[zone.allow_update]]\nkey = \"k\"\nnames = []\n";

    #[test]
    fn paths_find_their_lines() {
        let s = Source::parse(TEXT).unwrap();
        assert_eq!(s.line_of("server.listen"), Some(2));
        assert_eq!(s.line_of("zone[0].file"), Some(7));
        assert_eq!(s.line_of("zone[1]"), Some(9));
        assert_eq!(s.line_of("zone[1].primaries[1]"), Some(14));
        assert_eq!(s.line_of("zone[1].allow_transfer[0].from"), Some(16));
        assert_eq!(s.line_of("zone[1].catalog.templates"), Some(18));
        assert_eq!(s.line_of("zone[1].allow_update[0].key"), Some(23));
        // Absent: the nearest written parent.
        assert_eq!(s.line_of("zone[0].notify"), Some(4));
        assert_eq!(s.line_of("zone \"x.example\""), None);
    }

    #[test]
    fn an_offset_names_its_setting() {
        let s = Source::parse(TEXT).unwrap();
        let at = |needle: &str| s.path_at(TEXT.find(needle).unwrap());
        assert_eq!(at("\"127.0.0.1:53\"").as_deref(), Some("server.listen[0]"));
        assert_eq!(at("\"a.zone\"").as_deref(), Some("zone[0].file"));
        assert_eq!(
            at("\"::1\"").as_deref(),
            Some("zone[1].allow_transfer[0].from")
        );
        assert_eq!(
            at("names").as_deref(),
            Some("zone[1].allow_update[0].names")
        );
    }

    #[test]
    fn every_unknown_key_is_found_with_its_line() {
        let s = Source::parse(TEXT).unwrap();
        let found: Vec<(usize, String)> = s
            .unknown_keys()
            .into_iter()
            .map(|u| (u.line, u.at))
            .collect();
        assert_eq!(
            found,
            vec![
                (14, "zone[1].primaries[1].adress".to_owned()),
                (16, "zone[1].allow_transfer[0].kee".to_owned()),
                (20, "zone[1].catalog.template".to_owned()),
            ]
        );
        let t = "[[template]]\nname = \"t\"\nrole = \"secondary\"\nprimary = []\n";
        let u = Source::parse(t).unwrap().unknown_keys();
        assert_eq!(u.len(), 1, "{u:?}");
        assert_eq!((u[0].line, u[0].at.as_str()), (4, "template[0].primary"));
        assert!(u[0].expected.contains(&"primaries"));
    }

    #[test]
    fn unknown_keys_blank_out_leaving_toml_with_the_same_lines() {
        let s = Source::parse(TEXT).unwrap();
        let clean = s.without_unknown_keys().unwrap();
        assert_eq!(clean.lines().count(), TEXT.lines().count());
        let again = Source::parse(&clean).unwrap();
        assert_eq!(again.unknown_keys(), vec![]);
        assert_eq!(again.line_of("zone[1].allow_transfer[0].from"), Some(16));
    }
}

//! Problems of structure (a value of the wrong type, a required key
//! missing) in every section, not only the first: serde stops at the
//! first, so each `[server]`, `[[zone]]`, `[[key]]`, `[[template]]` and
//! `[monitor]` is deserialised on its own as well.

use super::locate::{line_at, Source};
use super::{Config, KeyConfig, Problem, ServerConfig, ZoneConfig};
use crate::monitor::config::MonitorConfig;
use serde::de::DeserializeOwned;

/// What is wrong with the structure of `text`, whose whole parse failed
/// with `whole`. Unknown keys are left out: `Source::unknown_keys` names
/// each of them with its line.
pub fn problems(text: &str, source: &Source, whole: &toml::de::Error) -> Vec<Problem> {
    let whole_line = whole.span().map(|s| line_at(text, s.start));
    let whole_text = match whole.span().and_then(|s| source.path_at(s.start)) {
        Some(at) => format!("{at}: {}", whole.message()),
        None => whole.message().to_owned(),
    };
    let mut sections = sections(text, source);
    sections.sort_by_key(|s| s.line);
    let mut out = Vec::new();
    let mut whole_reported = is_unknown_key(whole.message());
    for (i, section) in sections.iter().enumerate() {
        let Some(message) = &section.error else {
            continue;
        };
        if is_unknown_key(message) {
            continue;
        }
        let next = sections.get(i + 1).and_then(|s| s.line);
        let holds_whole = match (whole_line, section.line) {
            (Some(w), Some(start)) => w >= start && next.is_none_or(|n| w < n),
            _ => false,
        };
        // The whole parse's error, where it is in this section, has the
        // line of the key itself.
        let text = if holds_whole && !whole_reported {
            whole_reported = true;
            whole_text.clone()
        } else {
            format!("{}: {message}", section.at)
        };
        let line = if holds_whole {
            whole_line
        } else {
            section.line
        };
        out.push(Problem { line, text });
    }
    if !whole_reported {
        out.push(Problem {
            line: whole_line,
            text: whole_text,
        });
    }
    out
}

struct Section {
    at: String,
    line: Option<usize>,
    error: Option<String>,
}

fn sections(text: &str, source: &Source) -> Vec<Section> {
    let Ok(top) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in top {
        match name.as_str() {
            "server" => out.push(section::<ServerConfig>(source, name.clone(), value)),
            "monitor" => out.push(section::<MonitorConfig>(source, name.clone(), value)),
            "rrl" => out.push(section::<super::RrlConfig>(source, name.clone(), value)),
            "zone" | "template" => out.extend(list::<ZoneConfig>(source, &name, value)),
            "key" => out.extend(list::<KeyConfig>(source, &name, value)),
            _ => {}
        }
    }
    // What the sections cannot see: the tables' own types (`zone = 1`).
    if out.iter().all(|s| s.error.is_none()) {
        if let Err(e) = toml::from_str::<Config>(text) {
            out.push(Section {
                at: "(top level)".into(),
                line: e.span().map(|s| line_at(text, s.start)),
                error: Some(e.message().to_owned()),
            });
        }
    }
    out
}

fn list<T: DeserializeOwned>(source: &Source, name: &str, value: toml::Value) -> Vec<Section> {
    match value {
        toml::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| section::<T>(source, format!("{name}[{i}]"), v))
            .collect(),
        other => vec![section::<Vec<T>>(source, name.to_owned(), other)],
    }
}

fn section<T: DeserializeOwned>(source: &Source, at: String, value: toml::Value) -> Section {
    Section {
        line: source.line_of(&at),
        error: value.try_into::<T>().err().map(|e| e.message().to_owned()),
        at,
    }
}

fn is_unknown_key(message: &str) -> bool {
    message.starts_with("unknown field")
}

//! A small writer of the Prometheus text exposition format, version 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! ```
//! use zonesync::monitor::prometheus::{Exposition, Kind};
//! let mut out = Exposition::new();
//! out.family("zonesync_monitor_up", Kind::Gauge, "1 when the address answers");
//! out.sample("zonesync_monitor_up", &[("zone", "example.com.")], 1.0);
//! let text = out.finish();
//! // (A doc test hides lines starting with `#`, hence no line breaks here.)
//! let want = "# HELP zonesync_monitor_up 1 when the address answers\n# TYPE zonesync_monitor_up gauge\n";
//! assert_eq!(text, format!("{want}zonesync_monitor_up{{zone=\"example.com.\"}} 1\n"));
//! ```
//!
//! Families are written in the order they were declared, each once, with
//! all its samples together (in the order they were added), whatever order
//! the samples came in.
//!
//! Mistakes are skipped, not returned: metric and label names are constants
//! in our code, so a bad one is a programming error that the tests catch
//! (see [`Exposition::skipped`]), and a scrape is better served with every
//! other metric than refused. Each skip is logged at debug level and
//! recorded. Skipped: an invalid metric or label name (label names may not
//! contain `:` nor start with `__`, which the format reserves), a family
//! declared again with another kind or help, a sample of a family not
//! declared, a label repeated within a sample, and a second sample with the
//! same labels. Label *values* are data (zone and server names) and are
//! always written, escaped.

use std::collections::HashSet;
use std::fmt::Write as _;

/// The `Content-Type` of [`Exposition::finish`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

struct Family {
    name: String,
    kind: Kind,
    help: String,
    /// Sample lines, each ending in a newline.
    lines: String,
    /// The label part of each sample written, to refuse duplicates (a
    /// scraper rejects the whole exposition over one).
    seen: HashSet<String>,
}

/// An exposition being built: declare families, add samples, then
/// [`finish`](Exposition::finish).
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
    skipped: Vec<String>,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Declares a family. Declaring it again with the same kind and help
    /// does nothing (so a loop may declare as it goes).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        if !valid_metric_name(name) {
            self.skip(format!("invalid metric name {name:?}"));
            return;
        }
        if let Some(f) = self.families.iter().find(|f| f.name == name) {
            if f.kind != kind || f.help != help {
                self.skip(format!("family {name} declared again differently"));
            }
            return;
        }
        self.families.push(Family {
            name: name.to_owned(),
            kind,
            help: help.to_owned(),
            lines: String::new(),
            seen: HashSet::new(),
        });
    }

    /// Adds a sample to the declared family `name`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let Some(index) = self.families.iter().position(|f| f.name == name) else {
            self.skip(format!("sample of undeclared family {name:?}"));
            return;
        };
        let mut label_text = String::new();
        for (i, (label, label_value)) in labels.iter().enumerate() {
            if !valid_label_name(label) {
                self.skip(format!("{name}: invalid label name {label:?}"));
                return;
            }
            if labels.iter().take(i).any(|(other, _)| other == label) {
                self.skip(format!("{name}: label {label} repeated"));
                return;
            }
            if i > 0 {
                label_text.push(',');
            }
            label_text.push_str(label);
            label_text.push_str("=\"");
            escape_label_value(label_value, &mut label_text);
            label_text.push('"');
        }
        let Some(family) = self.families.get_mut(index) else {
            return;
        };
        if !family.seen.insert(label_text.clone()) {
            self.skip(format!(
                "{name}: second sample with labels {{{label_text}}}"
            ));
            return;
        }
        family.lines.push_str(name);
        if !labels.is_empty() {
            family.lines.push('{');
            family.lines.push_str(&label_text);
            family.lines.push('}');
        }
        family.lines.push(' ');
        write_value(value, &mut family.lines);
        family.lines.push('\n');
    }

    /// What was skipped so far, one line each (empty when all was well).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The exposition text. A family without samples is still written
    /// (its HELP and TYPE), so the metric is documented before it has data.
    pub fn finish(self) -> String {
        let mut out = String::new();
        for f in &self.families {
            out.push_str("# HELP ");
            out.push_str(&f.name);
            out.push(' ');
            escape_help(&f.help, &mut out);
            out.push('\n');
            out.push_str("# TYPE ");
            out.push_str(&f.name);
            out.push(' ');
            out.push_str(f.kind.as_str());
            out.push('\n');
            out.push_str(&f.lines);
        }
        out
    }

    fn skip(&mut self, why: String) {
        tracing::debug!(%why, "metric skipped");
        self.skipped.push(why);
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes only backslash and line feed (quotes are literal).
fn escape_help(help: &str, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Values as Go's `ParseFloat` reads them: `NaN`, `+Inf`, `-Inf`; whole
/// numbers that an f64 holds exactly as plain integers (a serial reads as
/// 2024010101, not 2.024010101e9); other numbers in the shortest form that
/// reads back to the same f64, in exponent form when plain decimals would
/// be long.
fn write_value(value: f64, out: &mut String) {
    /// 2^53: every whole number up to here is exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if value.fract() == 0.0 && value.abs() <= EXACT {
        // Exact by the bound above; `as` also turns -0.0 into 0.
        let _ = write!(out, "{}", value as i64);
    } else if (1e-4..1e15).contains(&value.abs()) {
        let _ = write!(out, "{value}");
    } else {
        let _ = write!(out, "{value:e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_text_of_a_small_case() {
        let mut out = Exposition::new();
        out.family(
            "zonesync_monitor_serial",
            Kind::Gauge,
            "The SOA serial a server serves",
        );
        out.family(
            "zonesync_monitor_checks_total",
            Kind::Counter,
            "Checks run, by \"zone\"\nsecond line \\ backslash",
        );
        out.family("zonesync_monitor_empty", Kind::Gauge, "");
        // Out of order: the counter's sample comes between the gauge's.
        out.sample(
            "zonesync_monitor_serial",
            &[("zone", "example.com."), ("server", "ns1@192.0.2.1:53")],
            2024010101.0,
        );
        out.sample("zonesync_monitor_checks_total", &[], 17.0);
        out.sample(
            "zonesync_monitor_serial",
            &[("zone", "a\"b\\c\nd,e=f}"), ("server", "")],
            0.5,
        );
        assert!(out.skipped().is_empty(), "{:?}", out.skipped());
        assert_eq!(
            out.finish(),
            "# HELP zonesync_monitor_serial The SOA serial a server serves\n\
             # TYPE zonesync_monitor_serial gauge\n\
             zonesync_monitor_serial{zone=\"example.com.\",server=\"ns1@192.0.2.1:53\"} 2024010101\n\
             zonesync_monitor_serial{zone=\"a\\\"b\\\\c\\nd,e=f}\",server=\"\"} 0.5\n\
             # HELP zonesync_monitor_checks_total Checks run, by \"zone\"\\nsecond line \\\\ backslash\n\
             # TYPE zonesync_monitor_checks_total counter\n\
             zonesync_monitor_checks_total 17\n\
             # HELP zonesync_monitor_empty \n\
             # TYPE zonesync_monitor_empty gauge\n"
        );
    }

    #[test]
    fn values() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-42.0, "-42"),
            (4294967295.0, "4294967295"),
            (9007199254740992.0, "9007199254740992"),
            (1e16, "1e16"),
            (1e300, "1e300"),
            (0.25, "0.25"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-5"),
            (123456.789, "123456.789"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            let mut s = String::new();
            write_value(v, &mut s);
            assert_eq!(s, want, "{v:?}");
            if v.is_finite() {
                // Reads back to the same number.
                assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
            }
        }
    }

    #[test]
    fn names_are_validated_and_mistakes_skipped() {
        assert!(valid_metric_name("a"));
        assert!(valid_metric_name("_a:b_9"));
        assert!(valid_metric_name(":x"));
        assert!(!valid_metric_name(""));
        assert!(!valid_metric_name("9a"));
        assert!(!valid_metric_name("a-b"));
        assert!(!valid_metric_name("a b"));
        assert!(!valid_metric_name("é"));
        assert!(valid_label_name("zone"));
        assert!(valid_label_name("_x9"));
        assert!(!valid_label_name("a:b"));
        assert!(!valid_label_name("__name__"));
        assert!(!valid_label_name("1a"));
        assert!(!valid_label_name(""));

        let mut out = Exposition::new();
        out.family("bad-name", Kind::Gauge, "x");
        out.family("good", Kind::Gauge, "x");
        out.family("good", Kind::Gauge, "x"); // same again: fine
        out.family("good", Kind::Counter, "x"); // different: skipped
        out.sample("bad-name", &[], 1.0);
        out.sample("undeclared", &[], 1.0);
        out.sample("good", &[("a:b", "v")], 1.0);
        out.sample("good", &[("__x", "v")], 1.0);
        out.sample("good", &[("z", "1"), ("z", "2")], 1.0);
        out.sample("good", &[("z", "1")], 1.0);
        out.sample("good", &[("z", "1")], 2.0); // duplicate series
        assert_eq!(out.skipped().len(), 8, "{:?}", out.skipped());
        assert_eq!(
            out.finish(),
            "# HELP good x\n# TYPE good gauge\ngood{z=\"1\"} 1\n"
        );
    }

    /// Undoes the label-value escaping, for reading back what the
    /// independent parser hands over raw (it does not unescape).
    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn parses_with_prometheus_parse() {
        // prometheus-parse is a simple parser: it splits label pairs at `,`
        // and `=` and ends them at `}`, so values with those characters (which
        // the format allows, see the exact-text test) are left out here.
        let tricky = [
            "example.com.",
            "ns1.example.com.@[2001:db8::1]:53",
            "back\\slash",
            "say \"hi\" now",
            "two\nlines",
            "ünïcödé ✓ zone.",
            "tab\there",
            "",
        ];
        let mut out = Exposition::new();
        out.family(
            "zonesync_monitor_serial",
            Kind::Gauge,
            "The SOA serial \\ served",
        );
        out.family("zonesync_monitor_checks_total", Kind::Counter, "Checks run");
        for (i, value) in tricky.iter().enumerate() {
            out.sample(
                "zonesync_monitor_serial",
                &[("zone", value), ("n", &i.to_string())],
                i as f64 + 0.5,
            );
            out.sample(
                "zonesync_monitor_checks_total",
                &[("zone", value), ("n", &i.to_string())],
                i as f64,
            );
        }
        out.sample("zonesync_monitor_serial", &[("special", "nan")], f64::NAN);
        out.sample(
            "zonesync_monitor_serial",
            &[("special", "inf")],
            f64::INFINITY,
        );
        out.sample(
            "zonesync_monitor_serial",
            &[("special", "-inf")],
            f64::NEG_INFINITY,
        );
        out.sample("zonesync_monitor_serial", &[("special", "big")], 4e20);
        assert!(out.skipped().is_empty(), "{:?}", out.skipped());
        let text = out.finish();

        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        assert_eq!(scrape.samples.len(), 2 * tricky.len() + 4, "{text}");
        assert_eq!(
            scrape
                .docs
                .get("zonesync_monitor_serial")
                .map(String::as_str),
            Some("The SOA serial \\\\ served")
        );
        for (i, value) in tricky.iter().enumerate() {
            let n = i.to_string();
            let found: Vec<_> = scrape
                .samples
                .iter()
                .filter(|s| s.labels.get("n") == Some(n.as_str()))
                .collect();
            assert_eq!(found.len(), 2, "{value:?} in\n{text}");
            for s in found {
                assert_eq!(
                    unescape(s.labels.get("zone").unwrap_or("?")),
                    *value,
                    "{text}"
                );
                match (s.metric.as_str(), &s.value) {
                    ("zonesync_monitor_serial", prometheus_parse::Value::Gauge(v)) => {
                        assert_eq!(*v, i as f64 + 0.5)
                    }
                    ("zonesync_monitor_checks_total", prometheus_parse::Value::Counter(v)) => {
                        assert_eq!(*v, i as f64)
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        let special = |name: &str| {
            scrape
                .samples
                .iter()
                .find(|s| s.labels.get("special") == Some(name))
                .map(|s| s.value.clone())
                .unwrap()
        };
        assert!(matches!(special("nan"), prometheus_parse::Value::Gauge(v) if v.is_nan()));
        assert_eq!(
            special("inf"),
            prometheus_parse::Value::Gauge(f64::INFINITY)
        );
        assert_eq!(
            special("-inf"),
            prometheus_parse::Value::Gauge(f64::NEG_INFINITY)
        );
        assert_eq!(special("big"), prometheus_parse::Value::Gauge(4e20));
    }
}

//! The monitor's side of healing (docs/design/replication-doctor.md §4):
//! a row whose diagnosis a NOTIFY would cure (`not-notified`,
//! `notify-unacknowledged`, `never-asked`) gets an *episode*: the monitor
//! asks the primary's zone to plan heal NOTIFYs to it
//! (`replication::heal`), turns each try it then finds in the peer history
//! into a `heal` event, and ends the episode with `healed` (and the
//! catch-up time) when the row serves the serial, or with `heal-failed`
//! (and what was tried) when the tries are spent and `heal_after` has
//! passed. One episode per row and reference serial: tries are bounded
//! per change.
//!
//! [`step`] is the whole rule, a pure function of one check, so every
//! path is unit-tested; the monitor applies what it returns (events,
//! asks to the primary, counters) outside its state lock.

use super::doctor::PrimarySide;
use crate::peers::diagnose::{clock, Diagnosis};
use crate::peers::report::{HealKind, NotifyResult, WhatView};
use crate::peers::PeerView;
use crate::replication::heal::HealPlan;
use crate::serial::Serial;
use crate::verify::{Source, Target};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// What the monitor is doing to bring one row up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HealEpisode {
    /// The diagnosis that started it.
    pub code: &'static str,
    /// The reference serial the row should reach.
    pub serial: Serial,
    pub to: SocketAddr,
    pub started_ms: u64,
    pub max: u32,
    /// The heal NOTIFYs found in the peer history: when, and how each
    /// ended.
    pub tries: Vec<(u64, String)>,
    /// What was tried, once `heal-failed` was said.
    pub failed: Option<String>,
}

/// What one check brings to a row's episode.
pub(super) struct HealCheck<'a> {
    pub to: SocketAddr,
    /// The serial the row serves; none when lame.
    pub served: Option<Serial>,
    pub reference: Option<Serial>,
    pub diagnosis: Option<&'a Diagnosis>,
    /// The row IP's history, when the doctor read it this check.
    pub peer: Option<&'a PeerView>,
    /// The primary's plan for the row, when the doctor read it.
    pub plan: Option<&'a HealPlan>,
    /// Healing may start for this row ([`may_heal`], `heal = true`, and
    /// the primary is the server the monitor runs in).
    pub allowed: bool,
    pub tries: u32,
    pub heal_after_ms: u64,
    pub now: u64,
}

/// Something to ask of the primary's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HealAsk {
    Notify {
        to: SocketAddr,
        tries: u32,
        spacing: Duration,
    },
    Stop {
        to: SocketAddr,
    },
}

/// What a check of one row's episode gives.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct HealOutcome {
    /// Store events: (kind, detail).
    pub events: Vec<(&'static str, String)>,
    pub asks: Vec<HealAsk>,
    /// For `zonesync_monitor_heals_total`: (action, result).
    pub counts: Vec<(&'static str, &'static str)>,
    /// The `heal-failed` alert's text, once.
    pub failed: Option<String>,
}

/// A row may be healed only when the monitor probed that address because
/// the operator named it (`ns =`) or the zone's apex NS set holds it, and
/// it is none of our own: nothing is sent to an address only the
/// parent's delegation names, nor to the primary.
pub(super) fn may_heal(target: &Target, own: &[SocketAddr]) -> bool {
    let named: BTreeSet<Source> = [Source::Explicit, Source::Child].into();
    !target.sources.is_disjoint(&named)
        && !target.sources.contains(&Source::Primary)
        && !own.iter().any(|o| {
            *o == target.addr
                || (o.ip().is_unspecified()
                    && o.port() == target.addr.port()
                    && target.addr.ip().is_loopback())
        })
}

/// One check of a row: continues, ends or starts its episode.
pub(super) fn step(episode: &mut Option<HealEpisode>, check: &HealCheck<'_>) -> HealOutcome {
    let mut out = HealOutcome::default();
    if let Some(ep) = episode.as_mut() {
        let newer = check.reference.is_some_and(|r| r.is_after(ep.serial));
        if newer {
            // A newer change: its own episode, with its own tries.
            out.asks.push(HealAsk::Stop { to: ep.to });
            *episode = None;
        } else {
            follow(ep, check, &mut out);
            if caught_up(ep, check) {
                healed(ep, check, &mut out);
                *episode = None;
            }
            return out;
        }
    }
    start(episode, check, &mut out);
    out
}

fn caught_up(ep: &HealEpisode, check: &HealCheck<'_>) -> bool {
    check.served.is_some_and(|s| !s.is_before(ep.serial))
}

/// The episode's new tries, and `heal-failed` once they are spent.
fn follow(ep: &mut HealEpisode, check: &HealCheck<'_>, out: &mut HealOutcome) {
    let last_seen = ep.tries.last().map_or(0, |t| t.0);
    let mut new: Vec<(u64, &NotifyResult)> = check
        .peer
        .into_iter()
        .flat_map(|p| &p.events)
        .filter(|e| e.at_ms > last_seen && e.at_ms >= ep.started_ms)
        .filter_map(|e| match &e.what {
            WhatView::Notify {
                heal: true,
                outcome,
                ..
            } => Some((e.at_ms, outcome)),
            _ => None,
        })
        .collect();
    new.sort_by_key(|t| t.0);
    for (at, outcome) in new {
        let (label, text) = result_of(outcome);
        ep.tries.push((at, text.clone()));
        out.counts.push(("notify", label));
        out.events.push((
            "heal",
            format!(
                "NOTIFY to {}, try {} of {}: {text}",
                ep.to,
                ep.tries.len(),
                ep.max
            ),
        ));
    }
    let spent = match check.plan {
        Some(plan) => plan.spent(),
        // The primary has no plan (it restarted): the tries seen are all.
        None => ep.tries.len() >= ep.max as usize,
    };
    let last = ep.tries.last().map_or(ep.started_ms, |t| t.0);
    if spent
        && ep.failed.is_none()
        && !caught_up(ep, check)
        && check.now.saturating_sub(last) >= check.heal_after_ms
    {
        let text = failure_text(ep, check.served);
        ep.failed = Some(text.clone());
        out.counts.push(("notify", "failed"));
        out.events.push(("heal-failed", text.clone()));
        out.failed = Some(text);
    }
}

fn healed(ep: &HealEpisode, check: &HealCheck<'_>, out: &mut HealOutcome) {
    let text = match ep.tries.last() {
        Some(&(at, _)) => format!(
            "healed by NOTIFY at {}, caught up {} ms later",
            clock(at),
            check.now.saturating_sub(at)
        ),
        None => format!(
            "caught up {} ms after the heal was asked, before its NOTIFY was seen",
            check.now.saturating_sub(ep.started_ms)
        ),
    };
    out.counts.push(("notify", "healed"));
    out.events.push(("healed", text));
    out.asks.push(HealAsk::Stop { to: ep.to });
}

fn start(episode: &mut Option<HealEpisode>, check: &HealCheck<'_>, out: &mut HealOutcome) {
    let Some(d) = check.diagnosis.filter(|d| d.heal == Some(HealKind::Notify)) else {
        return;
    };
    let Some(serial) = check.reference.filter(|_| check.allowed && check.tries > 0) else {
        return;
    };
    let code = d.code.name();
    out.asks.push(HealAsk::Notify {
        to: check.to,
        tries: check.tries,
        spacing: Duration::from_millis(check.heal_after_ms.max(1_000)),
    });
    out.counts.push(("notify", "asked"));
    out.events.push((
        "heal",
        format!(
            "{code}: NOTIFY to {} planned, up to {} tries",
            check.to, check.tries
        ),
    ));
    *episode = Some(HealEpisode {
        code,
        serial,
        to: check.to,
        started_ms: check.now,
        max: check.tries,
        tries: Vec::new(),
        failed: None,
    });
}

/// A try's result: the metric's label and the words.
fn result_of(outcome: &NotifyResult) -> (&'static str, String) {
    match outcome {
        NotifyResult::Acknowledged { rcode: 0 } => ("acknowledged", "acknowledged".to_owned()),
        NotifyResult::Acknowledged { rcode } => ("refused", format!("answered RCODE {rcode}")),
        NotifyResult::NoAnswer => ("no-answer", "no answer".to_owned()),
        NotifyResult::SendFailed { error } => ("send-failed", format!("not sent: {error}")),
        NotifyResult::TsigFailed { error } => ("refused", format!("answer failed TSIG: {error}")),
        NotifyResult::CutShort => ("cut-short", "cut short".to_owned()),
    }
}

/// "tried NOTIFY ×3 (12:00:03 no answer, …); still serving 20".
fn failure_text(ep: &HealEpisode, served: Option<Serial>) -> String {
    let mut text = format!("{}: tried NOTIFY ×{} (", ep.code, ep.tries.len());
    for (i, (at, result)) in ep.tries.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(text, "{sep}{} {result}", clock(*at));
    }
    text.push(')');
    match served {
        Some(s) => {
            let _ = write!(text, "; still serving {s}, not {}", ep.serial);
        }
        None => {
            let _ = write!(text, "; still not serving the zone (serial {})", ep.serial);
        }
    }
    text
}

/// Carries out `asks` for `zone` on the primary's side (blocking: called
/// on a blocking thread); what failed, as event details.
pub(super) fn ask(side: &dyn PrimarySide, zone: &str, asks: &[HealAsk]) -> Vec<String> {
    let mut failed = Vec::new();
    for a in asks {
        match a {
            HealAsk::Notify { to, tries, spacing } => {
                if let Err(e) = side.heal_notify(zone, *to, *tries, *spacing) {
                    tracing::warn!(zone, peer = %to, "monitor: cannot heal: {e}");
                    failed.push(format!("NOTIFY to {to} not planned: {e}"));
                }
            }
            HealAsk::Stop { to } => side.heal_stop(zone, *to),
        }
    }
    failed
}

#[cfg(test)]
#[path = "heal_tests.rs"]
mod tests;

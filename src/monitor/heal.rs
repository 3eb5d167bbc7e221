//! The monitor's side of healing (docs/design/replication-doctor.md §4):
//! a row whose diagnosis names a heal gets an *episode*, one per row and
//! reference serial, so that tries are bounded per change:
//!
//! 1. NOTIFY (`not-notified`, `notify-unacknowledged`, `never-asked`): the
//!    monitor asks the primary's zone to plan heal NOTIFYs to the row
//!    (`replication::heal`) and turns each try it then finds in the peer
//!    history into a `heal` event;
//! 2. for a zonesync secondary named in `[[monitor.secondary]]`, through
//!    its control interface: `refresh` (`heal_after` after the NOTIFYs are
//!    spent, or at once for `notify-refused` and `transfer-failed`), then
//!    `retransfer` `heal_after` later (at once for
//!    `served-old-after-transfer`).
//!
//! It ends with `healed` (and the catch-up time after the last action)
//! when the row serves the serial, or with `heal-failed` (what was tried)
//! when every action is spent and `heal_after` has passed.
//!
//! [`step`] is the whole rule, a pure function of one check, so every
//! path is unit-tested; the monitor applies what it returns (events,
//! asks to the primary, counters) outside its state lock.

use super::doctor::PrimarySide;
use crate::monitor::config::MonitorConfig;
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
    /// Heal NOTIFYs were planned.
    pub notified: bool,
    /// The heal NOTIFYs found in the peer history: when, and how each
    /// ended.
    pub tries: Vec<(u64, String)>,
    /// The row's control interface (`[[monitor.secondary]]`), when known.
    pub control: Option<SocketAddr>,
    /// What was asked through it.
    pub controls: Vec<ControlTry>,
    /// What was tried, once `heal-failed` was said.
    pub failed: Option<String>,
}

/// One `refresh` or `retransfer` asked through a secondary's control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ControlTry {
    pub at: u64,
    pub action: HealKind,
    /// "queued", or the error; none until the control answered.
    pub result: Option<String>,
}

impl HealEpisode {
    /// When the last action went (the episode's start before any).
    fn last_action(&self) -> u64 {
        let tried = self.tries.last().map(|t| t.0);
        let asked = self.controls.last().map(|c| c.at);
        tried.max(asked).unwrap_or(self.started_ms)
    }

    /// The last action in words: "NOTIFY", "refresh via [::1]:5381".
    fn last_action_text(&self) -> String {
        let tried = self.tries.last().map(|t| t.0);
        match self.controls.last() {
            Some(c) if Some(c.at) >= tried => control_text(c.action, self.control),
            _ => "NOTIFY".to_owned(),
        }
    }
}

fn control_text(action: HealKind, control: Option<SocketAddr>) -> String {
    match control {
        Some(c) => format!("{} via {c}", action.name()),
        None => action.name().to_owned(),
    }
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
    /// Heal NOTIFYs may go to this row ([`may_heal`], `heal = true`,
    /// the row answers, and the primary is the server the monitor runs
    /// in).
    pub allowed: bool,
    /// The row's control interface, when `[[monitor.secondary]]` names it
    /// (and `heal = true`, and the row answers).
    pub control: Option<SocketAddr>,
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
    /// `refresh` or `retransfer` through the row's control.
    Control {
        to: SocketAddr,
        action: HealKind,
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
    let spent = !ep.notified
        || match check.plan {
            Some(plan) => plan.spent(),
            // The primary has no plan (it restarted): the tries seen are
            // all.
            None => ep.tries.len() >= ep.max as usize,
        };
    let waited = check.now.saturating_sub(ep.last_action()) >= check.heal_after_ms;
    if !spent || !waited || ep.failed.is_some() || caught_up(ep, check) {
        return;
    }
    if let Some(action) = next_control(ep) {
        ask_control(ep, action, check.now, out);
        return;
    }
    let text = failure_text(ep, check.served);
    ep.failed = Some(text.clone());
    out.counts.push(("heal", "failed"));
    out.events.push(("heal-failed", text.clone()));
    out.failed = Some(text);
}

/// The control action still to try: refresh, then retransfer (only the
/// latter for a row that did not load a complete transfer).
fn next_control(ep: &HealEpisode) -> Option<HealKind> {
    ep.control?;
    let asked = |a: HealKind| ep.controls.iter().any(|c| c.action == a);
    if ep.code != "served-old-after-transfer" && !asked(HealKind::Refresh) {
        Some(HealKind::Refresh)
    } else if !asked(HealKind::Retransfer) {
        Some(HealKind::Retransfer)
    } else {
        None
    }
}

fn ask_control(ep: &mut HealEpisode, action: HealKind, now: u64, out: &mut HealOutcome) {
    ep.controls.push(ControlTry {
        at: now,
        action,
        result: None,
    });
    out.asks.push(HealAsk::Control { to: ep.to, action });
    out.counts.push((action_label(action), "asked"));
    out.events.push((
        "heal",
        format!("{}: {} asked", ep.code, control_text(action, ep.control)),
    ));
}

/// The metric's `action` label.
pub(super) fn action_label(action: HealKind) -> &'static str {
    match action {
        HealKind::Notify => "notify",
        HealKind::Refresh => "refresh",
        HealKind::Retransfer => "retransfer",
    }
}

fn healed(ep: &HealEpisode, check: &HealCheck<'_>, out: &mut HealOutcome) {
    let text = if ep.tries.is_empty() && ep.controls.is_empty() {
        format!(
            "caught up {} ms after the heal was asked, before its NOTIFY was seen",
            check.now.saturating_sub(ep.started_ms)
        )
    } else {
        let at = ep.last_action();
        format!(
            "healed by {} at {}, caught up {} ms later",
            ep.last_action_text(),
            clock(at),
            check.now.saturating_sub(at)
        )
    };
    out.counts.push(("heal", "healed"));
    out.events.push(("healed", text));
    if ep.notified {
        out.asks.push(HealAsk::Stop { to: ep.to });
    }
}

fn start(episode: &mut Option<HealEpisode>, check: &HealCheck<'_>, out: &mut HealOutcome) {
    let Some(kind) = check.diagnosis.and_then(|d| d.heal) else {
        return;
    };
    let Some(serial) = check.reference else {
        return;
    };
    let notify = kind == HealKind::Notify && check.allowed && check.tries > 0;
    if !notify && check.control.is_none() {
        return;
    }
    let code = check.diagnosis.map_or("unknown", |d| d.code.name());
    let mut ep = HealEpisode {
        code,
        serial,
        to: check.to,
        started_ms: check.now,
        max: check.tries,
        notified: notify,
        tries: Vec::new(),
        control: check.control,
        controls: Vec::new(),
        failed: None,
    };
    if notify {
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
    } else if let Some(action) = next_control(&ep) {
        // Nothing to NOTIFY first (or no primary to send it): the
        // control's action at once.
        ask_control(&mut ep, action, check.now, out);
    }
    *episode = Some(ep);
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

/// "never-asked: tried NOTIFY ×3 (12:00:03 no answer, …), refresh via
/// [::1]:5381 at 12:04:03 (queued); still serving 20, not 21".
fn failure_text(ep: &HealEpisode, served: Option<Serial>) -> String {
    let mut parts = Vec::new();
    if ep.notified {
        let mut tried = format!("NOTIFY ×{} (", ep.tries.len());
        for (i, (at, result)) in ep.tries.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(tried, "{sep}{} {result}", clock(*at));
        }
        tried.push(')');
        parts.push(tried);
    }
    for c in &ep.controls {
        parts.push(format!(
            "{} at {} ({})",
            control_text(c.action, ep.control),
            clock(c.at),
            c.result.as_deref().unwrap_or("no answer yet")
        ));
    }
    let mut text = format!("{}: tried {}", ep.code, parts.join(", "));
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

/// What carrying out one ask gave: the row, the control action and its
/// answer ("queued" or the error), or a NOTIFY plan refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Asked {
    Control {
        to: SocketAddr,
        action: HealKind,
        result: Result<(), String>,
    },
    NotifyRefused {
        to: SocketAddr,
        error: String,
    },
}

/// Carries out `asks` for `zone` (blocking: called on a blocking thread):
/// NOTIFY plans on the primary's side, when there is one; control
/// actions through the row's `[[monitor.secondary]]`, each recorded in
/// the primary's peer history.
pub(super) fn ask(
    side: Option<&dyn PrimarySide>,
    config: &MonitorConfig,
    zone: &str,
    asks: &[HealAsk],
) -> Vec<Asked> {
    let mut done = Vec::new();
    for a in asks {
        match (a, side) {
            (HealAsk::Notify { to, tries, spacing }, Some(side)) => {
                if let Err(error) = side.heal_notify(zone, *to, *tries, *spacing) {
                    tracing::warn!(zone, peer = %to, "monitor: cannot heal: {error}");
                    done.push(Asked::NotifyRefused { to: *to, error });
                }
            }
            (HealAsk::Notify { to, .. }, None) => done.push(Asked::NotifyRefused {
                to: *to,
                error: "no primary to send it".to_owned(),
            }),
            (HealAsk::Stop { to }, Some(side)) => side.heal_stop(zone, *to),
            (HealAsk::Stop { .. }, None) => {}
            (HealAsk::Control { to, action }, _) => {
                let result = control(config, zone, *to, *action);
                if let Some(side) = side {
                    let text = result
                        .as_ref()
                        .map_or_else(Clone::clone, |()| "queued".into());
                    side.record_heal(zone, *to, *action, &text);
                }
                done.push(Asked::Control {
                    to: *to,
                    action: *action,
                    result,
                });
            }
        }
    }
    done
}

/// `refresh` (or `retransfer`) of `zone` through the control of the
/// `[[monitor.secondary]]` at `to`, signed with its key when it has one.
fn control(
    config: &MonitorConfig,
    zone: &str,
    to: SocketAddr,
    action: HealKind,
) -> Result<(), String> {
    let spec = config
        .secondary_at(to)
        .ok_or_else(|| format!("no [[monitor.secondary]] at {to}"))?;
    let client =
        crate::control::Client::new(spec.control).with_timeout(super::doctor::CONTROL_TIMEOUT);
    let client = match &spec.control_key {
        Some(name) => client.with_key(config.control_key(name)?),
        None => client,
    };
    let result = client
        .refresh(zone, action == HealKind::Retransfer)
        .map(|_| ())
        .map_err(|e| e.to_string());
    match &result {
        Ok(()) => {
            tracing::info!(zone, peer = %to, control = %spec.control, action = action.name(), "monitor: heal asked through the secondary's control")
        }
        Err(e) => {
            tracing::warn!(zone, peer = %to, control = %spec.control, action = action.name(), "monitor: heal through the secondary's control failed: {e}")
        }
    }
    result
}

/// A control action's answer, into the row's episode: its result, and
/// the words of its event.
pub(super) fn answered(
    episode: &mut Option<HealEpisode>,
    action: HealKind,
    result: &Result<(), String>,
) -> Option<String> {
    let ep = episode.as_mut()?;
    let text = match result {
        Ok(()) => "queued".to_owned(),
        Err(e) => format!("failed: {e}"),
    };
    if let Some(c) = ep.controls.iter_mut().rev().find(|c| c.action == action) {
        c.result = Some(text.clone());
    }
    Some(format!("{}: {text}", control_text(action, ep.control)))
}

#[cfg(test)]
#[path = "heal_tests.rs"]
mod tests;

//! The replication doctor's NOTIFYs (docs/design/replication-doctor.md
//! §4). The monitor inside `serve` finds a peer behind that a NOTIFY
//! would bring up to date (not notified, NOTIFY unanswered, never asked)
//! and asks the zone to heal it; the zone keeps one plan per peer and its
//! [`HealNotify`](super::events::Event::HealNotify) event sends the
//! NOTIFYs due, one round for all of them, with back-off
//! ([`timing::heal_retry_at`](super::timing::heal_retry_at)), until the
//! plan's tries are spent or the monitor stops it (the peer caught up).
//!
//! A NOTIFY is harmless (RFC 1996: the peer only checks our SOA), and the
//! tries are bounded per plan and the plans per zone. Plans are not kept
//! over a restart: the monitor diagnoses again and asks again.

use super::events::Event;
use super::timing::heal_retry_at;
use super::ZoneCore;
use crate::clock::UnixMs;
use crate::notify::{Notifier, NotifySettings, NotifyTarget};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The most peers of one zone healed at once.
pub const PLANS_MAX: usize = 16;

/// The NOTIFYs planned for one peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealPlan {
    pub to: SocketAddr,
    /// NOTIFY rounds sent to it so far.
    pub tries: u32,
    /// The most it gets (`heal_tries`).
    pub max: u32,
    /// The first gap between two rounds; it doubles after each.
    pub spacing_ms: u64,
    pub started_ms: UnixMs,
    /// When the last round to it started.
    pub last_ms: Option<UnixMs>,
    /// When the next goes; none once the tries are spent.
    pub next_ms: Option<UnixMs>,
}

impl HealPlan {
    /// Every try made.
    pub fn spent(&self) -> bool {
        self.next_ms.is_none()
    }
}

/// Why a zone does not heal a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealRefused {
    #[error("{0} is one of this server's own addresses")]
    Own(SocketAddr),
    #[error("the zone already heals {PLANS_MAX} peers")]
    Full,
    #[error("heal_tries is 0")]
    NoTries,
}

/// A zone's heal plans, and how its NOTIFYs are sent: the server's NOTIFY
/// settings, and the key of a peer configured in the zone's `notify`.
pub struct Healer {
    notifier: Notifier,
    own: Vec<SocketAddr>,
    plans: Mutex<Vec<HealPlan>>,
}

impl Healer {
    /// `targets`: the zone's configured NOTIFY targets (a heal NOTIFY to
    /// one of them is signed with its key); `settings`: the server's.
    pub fn new(targets: Vec<NotifyTarget>, settings: NotifySettings) -> Healer {
        let own = settings.own.clone();
        let settings = NotifySettings {
            notify_ns: false,
            ..settings
        };
        Healer {
            notifier: Notifier::new(targets, settings),
            own,
            plans: Mutex::new(Vec::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<HealPlan>) -> R) -> R {
        match self.plans.lock() {
            Ok(mut p) => f(&mut p),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// One of our own listen addresses (a wildcard one at that port too).
    fn is_own(&self, to: SocketAddr) -> bool {
        self.own.iter().any(|o| {
            *o == to
                || (o.ip().is_unspecified()
                    && o.port() == to.port()
                    && (to.ip().is_loopback() || to.ip().is_unspecified()))
        })
    }

    /// The earliest next try of any plan.
    fn next(&self) -> Option<UnixMs> {
        self.with(|plans| plans.iter().filter_map(|p| p.next_ms).min())
    }

    /// Counts a try for every plan due at `now`, and says where they go.
    fn take_due(&self, now: UnixMs) -> Vec<SocketAddr> {
        self.with(|plans| {
            let mut due = Vec::new();
            for plan in plans
                .iter_mut()
                .filter(|p| p.next_ms.is_some_and(|t| t <= now))
            {
                plan.tries += 1;
                plan.last_ms = Some(now);
                plan.next_ms = (plan.tries < plan.max)
                    .then(|| heal_retry_at(now, plan.spacing_ms, plan.tries));
                due.push(plan.to);
            }
            due
        })
    }
}

impl ZoneCore {
    /// Plans NOTIFYs to `to` for the version served: the first at once,
    /// at most `tries`, `spacing` apart and doubling. A plan for `to`
    /// already there starts over (a newer change); a zone heals at most
    /// [`PLANS_MAX`] peers, dropping a spent plan to make room.
    pub fn heal_notify(
        &self,
        to: SocketAddr,
        tries: u32,
        spacing: Duration,
    ) -> Result<(), HealRefused> {
        if self.healer.is_own(to) {
            return Err(HealRefused::Own(to));
        }
        if tries == 0 {
            return Err(HealRefused::NoTries);
        }
        let now = self.deps.clock.now();
        let plan = HealPlan {
            to,
            tries: 0,
            max: tries,
            spacing_ms: u64::try_from(spacing.as_millis()).unwrap_or(u64::MAX),
            started_ms: now,
            last_ms: None,
            next_ms: Some(now),
        };
        self.healer.with(|plans| {
            plans.retain(|p| p.to != to);
            if plans.len() >= PLANS_MAX {
                let spent = plans.iter().position(HealPlan::spent);
                plans.remove(spent.ok_or(HealRefused::Full)?);
            }
            plans.push(plan);
            Ok(())
        })?;
        tracing::info!(zone = self.name(), peer = %to, tries, "replication doctor: NOTIFY planned to heal a peer");
        self.events.schedule(Event::HealNotify, now);
        Ok(())
    }

    /// Ends the plan for `to` (it caught up); false when there was none.
    pub fn heal_stop(&self, to: SocketAddr) -> bool {
        self.healer.with(|plans| {
            let before = plans.len();
            plans.retain(|p| p.to != to);
            plans.len() != before
        })
    }

    /// The plan for `to`, as it stands.
    pub fn heal_plan(&self, to: SocketAddr) -> Option<HealPlan> {
        self.healer
            .with(|plans| plans.iter().find(|p| p.to == to).cloned())
    }

    /// The HealNotify event: one round of NOTIFY to every peer whose try
    /// is due (each outcome goes to the peer history, marked as a heal),
    /// then the event planned at the next try of any plan.
    pub async fn heal_round(&self) {
        let before = self.events.deadline(Event::HealNotify);
        let due = self.healer.take_due(self.deps.clock.now());
        if !due.is_empty() {
            let superseded = || self.events.is_retired();
            self.healer
                .notifier
                .heal_round(
                    &self.zone,
                    &due,
                    self.deps.clock.as_ref(),
                    &self.peers,
                    superseded,
                    self.events.planned(),
                )
                .await;
        }
        self.events
            .replan(Event::HealNotify, before, self.healer.next());
    }
}

//! Refresh (RFC 1034 §4.3.5, RFC 1996 §4.7): a secondary asks every
//! primary for its SOA and transfers from the newest one ahead of it
//! (IXFR, AXFR on failure); with `force_axfr` (the Transfer event, `ctl
//! retransfer`) it transfers the whole zone whatever the serials.
//!
//! Then it plans what follows, by `replication::timing`: after success
//! the next Refresh at REFRESH and Expire at EXPIRE (the one place Expire
//! moves later); after a failure the next Refresh at RETRY, doubled per
//! failure in a row. Both are stored (`<zone>.secondary.toml`) before they
//! are planned.

use super::Event;
use crate::replication::secondary::{soa_timers, unix_to_time, SecondaryZone};
use crate::replication::timing::{self, Jitter};
use crate::replication::Publication;
use std::sync::atomic::Ordering::Relaxed;

pub fn handle(zone: &SecondaryZone, force_axfr: bool) {
    let started = std::time::Instant::now();
    // A refresh planned from now on (a NOTIFY after our SOA query) is
    // kept when the next one is planned below.
    let planned = zone.events().deadline(Event::Refresh);
    let before = zone.zone().snapshot();
    let serial_before = before.as_ref().map(|v| v.serial());
    let outcome = zone.refresh_once(force_axfr);
    if outcome.is_ok() && zone.zone().snapshot().is_none() {
        // Expired while this refresh ran, which then confirmed the copy
        // with a primary: it is good again.
        if let Some(v) = before {
            zone.core()
                .publish(v, "the copy confirmed again", Publication::Revived);
        }
    }
    let current = zone.zone().snapshot();
    let serial_now = current.as_ref().map(|v| v.serial());
    if serial_now.is_some() && serial_now != serial_before {
        zone.notify_news_taken();
    }
    let soa = current.as_deref().and_then(soa_timers);
    // Deadlines are stored in whole seconds.
    let now = zone.clock().now_unix();
    let now_ms = now * 1000;
    let jitter = Jitter::random(zone.clock().now());
    match outcome {
        Ok(result) => {
            let next =
                timing::after_success(zone.timing(), soa, result.expire_hint, now_ms, jitter);
            let refresh = next.refresh_secs;
            let (next_refresh, expires_at) = (next.next_refresh / 1000, next.expires_at / 1000);
            zone.set_timers(|t| {
                t.next_refresh = next_refresh;
                t.expires_at = expires_at;
                t.failures = 0;
            });
            zone.zone().set_expires_at(expires_at);
            let served = zone.zone().snapshot().is_some();
            zone.events()
                .replan(Event::Refresh, planned, Some(next_refresh * 1000));
            zone.events()
                .set(Event::Expire, served.then_some(expires_at * 1000));
            if current.is_some() && served {
                zone.update_status(|s| s.expired = false);
            }
            tracing::info!(zone = zone.name(), serial = ?current.as_ref().map(|v| v.serial()), next_refresh_s = refresh, ms = started.elapsed().as_millis() as u64, "refresh: {}", result.summary);
            zone.update_status(|s| {
                s.last_refresh = Some(zone.clock().now_system());
                s.last_result = Some(result.summary.clone());
                s.last_error = None;
                s.next_refresh = unix_to_time(next_refresh);
                s.expires_at = unix_to_time(expires_at);
            });
        }
        Err(why) => {
            let why = why.to_string();
            zone.transfers_in_counters().failed.fetch_add(1, Relaxed);
            let failures = zone.timers().failures + 1;
            let (retry, _) = timing::after_failure(zone.timing(), soa, failures, now_ms, jitter);
            let next_refresh = now + u64::from(retry);
            zone.set_timers(|t| {
                t.next_refresh = next_refresh;
                t.failures = failures;
            });
            zone.events()
                .replan(Event::Refresh, planned, Some(next_refresh * 1000));
            tracing::warn!(
                zone = zone.name(),
                failures,
                retry_s = retry,
                "refresh failed: {why}"
            );
            zone.update_status(|s| {
                s.last_refresh = Some(zone.clock().now_system());
                s.last_result = Some(format!("failed: {why}"));
                s.last_error = Some(why.clone());
                s.next_refresh = unix_to_time(next_refresh);
            });
        }
    }
}

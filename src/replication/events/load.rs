//! Load: a primary reads its zone file and publishes what changed
//! (`ManagedZone::load`: serial policy, state file, journal, publish),
//! for SIGHUP (only zones whose files changed) and `ctl reload` (which
//! waits for the outcome). Asks that arrive before it runs are answered by
//! one load. At most `PARALLEL_LOADS` zones load at once, so a SIGHUP over
//! thousands of zones keeps the disk busy without holding many large
//! zones in memory at the same time.

use crate::replication::ManagedZone;
use std::sync::{Condvar, Mutex};

/// Loads running at once across all zones (as at start-up).
const PARALLEL_LOADS: usize = 8;

/// A counting gate over blocking threads.
struct Gate {
    running: Mutex<usize>,
    freed: Condvar,
}

static GATE: Gate = Gate {
    running: Mutex::new(0),
    freed: Condvar::new(),
};

/// A place in the gate, given back on drop.
struct Place;

impl Gate {
    fn enter(&'static self) -> Place {
        let mut running = match self.running.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        while *running >= PARALLEL_LOADS {
            running = match self.freed.wait(running) {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        *running += 1;
        Place
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut running = match GATE.running.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        *running = running.saturating_sub(1);
        GATE.freed.notify_one();
    }
}

pub fn handle(zone: &ManagedZone) {
    let asks = zone.take_load_asks();
    if asks.is_empty() {
        return;
    }
    let force = asks.iter().any(|a| a.force);
    let asked = force || asks.iter().any(|a| !a.if_changed);
    if !asked && !zone.needs_reload() {
        return;
    }
    let outcome = {
        let _place = GATE.enter();
        zone.load(force)
    };
    for reply in asks.into_iter().filter_map(|a| a.reply) {
        let _ = reply.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::{ServerConfig, ZoneConfig};
    use crate::replication::events::{self, step, Event};
    use crate::replication::{LoadAsk, LoadKind, ZoneDeps};
    use crate::zone::Zone;
    use std::sync::Arc;
    use std::time::Duration;

    fn write_zone(path: &std::path::Path, serial: u32) {
        let text = format!(
            "$ORIGIN example.com.\n@ 300 SOA ns host {serial} 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.{serial}\n"
        );
        std::fs::write(path, text).unwrap();
    }

    fn primary(dir: &std::path::Path) -> Arc<ManagedZone> {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("example.com.zone");
        write_zone(&file, 1);
        let config: ZoneConfig = toml::from_str(&format!(
            "name = \"example.com\"\nrole = \"primary\"\nfile = \"{}\"",
            file.display()
        ))
        .unwrap();
        let server = ServerConfig {
            data_dir: dir.join("data"),
            ..ServerConfig::default()
        };
        let zone = Arc::new(Zone::new(&crate::name::test_wire("example.com")).unwrap());
        let deps = ZoneDeps::with_clock(ManualClock::at(1_800_000_000_000).shared());
        Arc::new(ManagedZone::new(zone, config, &server, None, deps))
    }

    fn serial(z: &ManagedZone) -> Option<u32> {
        z.zone().snapshot().map(|v| v.serial().get())
    }

    #[test]
    fn a_sighup_load_runs_only_for_changed_files() {
        let dir = std::env::temp_dir().join(format!("zonesync-load-{}", std::process::id()));
        let z = primary(&dir);
        assert_eq!(z.load(false).kind, LoadKind::Loaded);
        let sighup = || LoadAsk {
            force: false,
            if_changed: true,
            reply: None,
        };
        z.ask_load(sighup());
        z.ask_load(sighup());
        assert_eq!(step(&z), [Event::Load], "two asks, one load");
        assert_eq!(serial(&z), Some(1));
        // A new file (its mtime moved on) is loaded.
        std::thread::sleep(Duration::from_millis(20));
        write_zone(&dir.join("example.com.zone"), 2);
        assert!(z.needs_reload());
        z.ask_load(sighup());
        assert_eq!(step(&z), [Event::Load]);
        assert_eq!(serial(&z), Some(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ctl_reload_waits_for_the_load_event() {
        let dir = std::env::temp_dir().join(format!("zonesync-load-wait-{}", std::process::id()));
        let z = primary(&dir);
        z.load(false);
        let dispatcher = tokio::spawn(events::run(z.clone()));
        let waiting = z.clone();
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || waiting.load_and_wait(false)),
        )
        .await
        .expect("answered")
        .unwrap();
        assert_eq!(outcome.kind, LoadKind::Unchanged);
        dispatcher.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

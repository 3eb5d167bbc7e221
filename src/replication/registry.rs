//! The server's one table of configured zones.
//!
//! Everything that asks about a zone by name or apex goes through
//! [`Zones`]: the control handler, metrics, NOTIFY and NOTIFY(CSYNC)
//! routing, and the SIGHUP reload. Zones are kept in configuration order
//! (status and metrics list them so; zones added at run time follow) and
//! found by apex without allocating (NOTIFY routing runs on the query
//! path).
//!
//! The set changes at run time (`ctl zone-add`, catalog zones): a
//! [`Registry`] holds the current [`Zones`], replaced whole on each
//! change, so readers never wait for a writer.

use super::{Managed, ManagedZone};
use crate::csync::agent::ParentAgent;
use crate::name::KeyBuf;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The current set of zones, read without locks; changes are made one at
/// a time and published whole.
pub struct Registry {
    current: ArcSwap<Zones>,
    /// Serialises changes (each reads the current set and replaces it).
    edit: Mutex<()>,
}

impl Registry {
    pub fn new(zones: Zones) -> Registry {
        Registry {
            current: ArcSwap::from_pointee(zones),
            edit: Mutex::new(()),
        }
    }

    /// The zones now (a guard: cheap, for one lookup or one pass).
    pub fn load(&self) -> arc_swap::Guard<Arc<Zones>> {
        self.current.load()
    }

    /// The zones now, to keep.
    pub fn snapshot(&self) -> Arc<Zones> {
        self.current.load_full()
    }

    /// Adds `zones` (a zone whose apex is already served is given back
    /// in the second list).
    pub fn add(&self, zones: Vec<Managed>) -> (Vec<Managed>, Vec<Managed>) {
        let _edit = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.current.load_full();
        let mut next = Zones::new(now.zones.clone(), now.agents.clone());
        let (mut added, mut refused) = (Vec::new(), Vec::new());
        for zone in zones {
            if next.insert(zone.clone()) {
                added.push(zone);
            } else {
                refused.push(zone);
            }
        }
        self.current.store(Arc::new(next));
        (added, refused)
    }

    /// Removes the zones with these apexes (wire format, any case);
    /// returns those that were there.
    pub fn remove(&self, origins: &[Vec<u8>]) -> Vec<Managed> {
        let _edit = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.current.load_full();
        let gone: std::collections::HashSet<Box<[u8]>> = origins
            .iter()
            .filter_map(|o| KeyBuf::new(o).map(|k| k.as_slice().into()))
            .collect();
        let (mut kept, mut removed) = (Vec::new(), Vec::new());
        for zone in now.zones.iter() {
            let key = KeyBuf::new(zone.zone().origin());
            match key {
                Some(k) if gone.contains(k.as_slice()) => removed.push(zone.clone()),
                _ => kept.push(zone.clone()),
            }
        }
        if !removed.is_empty() {
            self.current
                .store(Arc::new(Zones::new(kept, now.agents.clone())));
        }
        removed
    }
}

/// Every configured zone, and the CSYNC parental agents of those that
/// have one.
#[derive(Default)]
pub struct Zones {
    zones: Vec<Managed>,
    /// Index into `zones` by the apex's lookup key (case-insensitive).
    by_key: HashMap<Box<[u8]>, usize>,
    agents: Vec<Arc<ParentAgent>>,
}

impl Zones {
    /// The table of `zones`; a zone whose apex is already in it is left
    /// out (the configuration refuses duplicates before this).
    pub fn new(zones: Vec<Managed>, agents: Vec<Arc<ParentAgent>>) -> Zones {
        let mut table = Zones {
            zones: Vec::with_capacity(zones.len()),
            by_key: HashMap::with_capacity(zones.len()),
            agents,
        };
        for zone in zones {
            table.insert(zone);
        }
        table
    }

    /// Adds `zone` at the end unless its apex is already here.
    fn insert(&mut self, zone: Managed) -> bool {
        let Some(key) = KeyBuf::new(zone.zone().origin()) else {
            return false;
        };
        if self.by_key.contains_key(key.as_slice()) {
            return false;
        }
        self.by_key.insert(key.as_slice().into(), self.zones.len());
        self.zones.push(zone);
        true
    }

    /// Every zone, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Managed> {
        self.zones.iter()
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The primaries, in configuration order.
    pub fn primaries(&self) -> impl Iterator<Item = &Arc<ManagedZone>> {
        self.zones.iter().filter_map(|z| match z {
            Managed::Primary(p) => Some(p),
            Managed::Secondary(_) => None,
        })
    }

    /// The zone with this apex (wire format, any case).
    pub fn get(&self, origin: &[u8]) -> Option<&Managed> {
        let key = KeyBuf::new(origin)?;
        self.zones.get(*self.by_key.get(key.as_slice())?)
    }

    /// The zone configured as `name` (presentation format, with or
    /// without the final dot, any case).
    pub fn find(&self, name: &str) -> Option<&Managed> {
        self.get(&crate::config::parse_zone_name(name).ok()?)
    }

    /// Every CSYNC parental agent.
    pub fn agents(&self) -> &[Arc<ParentAgent>] {
        &self.agents
    }

    /// The agent of the parent zone with this apex.
    pub fn agent(&self, parent: &[u8]) -> Option<&Arc<ParentAgent>> {
        self.agents
            .iter()
            .find(|a| a.origin().eq_ignore_ascii_case(parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ServerConfig, ZoneConfig};
    use crate::zone::Zone;

    fn primary(name: &str, server: &ServerConfig) -> Managed {
        let config: ZoneConfig =
            toml::from_str(&format!("name = \"{name}\"\nrole = \"primary\"")).unwrap();
        let origin = crate::config::parse_zone_name(name).unwrap();
        let zone = Arc::new(Zone::new(&origin).unwrap());
        Managed::Primary(Arc::new(ManagedZone::new(
            zone,
            config,
            server,
            None,
            super::super::ZoneDeps::real(),
        )))
    }

    #[test]
    fn zones_are_found_by_apex_and_name_in_any_case() {
        let dir = std::env::temp_dir().join(format!("zonesync-registry-{}", std::process::id()));
        let server = ServerConfig {
            data_dir: dir.clone(),
            ..ServerConfig::default()
        };
        let zones = Zones::new(
            vec![
                primary("example.com", &server),
                primary("example.net", &server),
                primary("Example.COM.", &server),
            ],
            Vec::new(),
        );
        assert_eq!(zones.len(), 2, "the second example.com is left out");
        let names: Vec<&str> = zones.iter().map(|z| z.name()).collect();
        assert_eq!(names, ["example.com", "example.net"], "configuration order");
        assert_eq!(
            zones.find("EXAMPLE.net.").map(|z| z.name()),
            Some("example.net")
        );
        assert_eq!(
            zones.find("example.com").map(|z| z.name()),
            Some("example.com")
        );
        assert!(zones.find("example.org").is_none());
        assert!(zones.find("bad..name").is_none());
        let wire = b"\x07EXAMPLE\x03COM\x00";
        assert_eq!(zones.get(wire).map(|z| z.name()), Some("example.com"));
        assert!(zones.get(b"\x03com\x00").is_none(), "no match by suffix");
        assert_eq!(zones.primaries().count(), 2);
        assert!(zones.agent(wire).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The load event's decision: given what was published last and what the
//! zone file holds now, which serial to publish, or why not to.

use super::state::PublishedState;
use crate::config::SerialPolicy;
use crate::serial::{self, Serial};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to publish: same content, and no serial to move to.
    Unchanged,
    /// Publish the file's content at `serial`; `note` says why the serial
    /// is not simply the file's, or what is wrong with it.
    Publish {
        serial: Serial,
        note: Option<String>,
    },
    /// Keep serving what is served; the reason, for the log and `ctl`.
    Refuse(String),
}

/// What the file holds now.
#[derive(Debug, Clone, Copy)]
pub struct FileContent {
    pub serial: Serial,
    pub digest: u128,
}

/// Decides a load. `prev` is the last publication (from memory, or from
/// the state file after a restart); `serving` says whether a version is
/// being served now, i.e. whether refusing leaves the zone answered.
/// When nothing is served (first load after a start), a file that a
/// running server would refuse is served anyway, with a note, because
/// serving nothing is worse; secondaries will then not follow it until
/// its serial moves ahead.
pub fn decide(
    prev: Option<&PublishedState>,
    serving: bool,
    file: FileContent,
    policy: SerialPolicy,
    force: bool,
    now_unix: u64,
) -> Decision {
    let Some(prev) = prev else {
        return publish(file.serial, None);
    };
    let changed = file.digest != prev.digest;
    let same_as_served = || {
        if serving {
            Decision::Unchanged
        } else {
            publish(prev.served_serial, None)
        }
    };
    if !changed && file.serial == prev.file_serial {
        return same_as_served();
    }
    if force {
        let note = (!file.serial.is_after(prev.served_serial)).then(|| {
            format!(
                "forced: serial {} replaces {} although it is not ahead; secondaries will not follow it",
                file.serial, prev.served_serial
            )
        });
        return publish(file.serial, note);
    }
    if file.serial.is_after(prev.served_serial) {
        return publish(file.serial, None);
    }
    if file.serial != prev.file_serial && !file.serial.is_after(prev.file_serial) {
        let problem = format!(
            "the zone file's serial went backwards from {} to {}",
            prev.file_serial, file.serial
        );
        return refuse_or_serve(serving, file.serial, problem);
    }
    if !changed {
        return same_as_served();
    }
    match serial::next(policy, prev.served_serial, now_unix) {
        Some(s) => publish(
            s,
            Some(format!(
                "content changed but the file's serial {} is not ahead of the served serial {}; serial_policy gives {s}",
                file.serial, prev.served_serial
            )),
        ),
        None => refuse_or_serve(
            serving,
            file.serial,
            format!(
                "content changed but the serial {} was not increased (serial_policy = \"keep\")",
                file.serial
            ),
        ),
    }
}

fn publish(serial: Serial, note: Option<String>) -> Decision {
    Decision::Publish { serial, note }
}

fn refuse_or_serve(serving: bool, file_serial: Serial, problem: String) -> Decision {
    if serving {
        Decision::Refuse(format!(
            "{problem}; reload refused (`zonesync ctl reload ZONE --force` publishes it anyway)"
        ))
    } else {
        publish(
            file_serial,
            Some(format!(
                "{problem}; serving it since nothing else can be served, but secondaries will not follow it"
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SerialPolicy::*;

    const NOW: u64 = 1_795_262_400; // 2026-11-21 12:00 UTC

    fn prev(served: u32, file: u32, digest: u128) -> PublishedState {
        PublishedState {
            served_serial: Serial(served),
            file_serial: Serial(file),
            digest,
        }
    }

    fn file(serial: u32, digest: u128) -> FileContent {
        FileContent {
            serial: Serial(serial),
            digest,
        }
    }

    fn serial_of(d: Decision) -> Option<u32> {
        match d {
            Decision::Publish { serial, .. } => Some(serial.get()),
            _ => None,
        }
    }

    #[test]
    fn first_load_publishes_the_file() {
        let d = decide(None, false, file(5, 1), Keep, false, NOW);
        assert_eq!(d, publish(Serial(5), None));
    }

    #[test]
    fn unchanged_file_is_not_republished() {
        let p = prev(5, 5, 1);
        assert_eq!(
            decide(Some(&p), true, file(5, 1), Keep, false, NOW),
            Decision::Unchanged
        );
        // After a restart the same content comes back at the served serial.
        let p = prev(8, 5, 1);
        assert_eq!(
            serial_of(decide(Some(&p), false, file(5, 1), Increment, false, NOW)),
            Some(8)
        );
    }

    #[test]
    fn a_higher_serial_is_taken_as_is() {
        let p = prev(5, 5, 1);
        assert_eq!(
            serial_of(decide(Some(&p), true, file(6, 2), Keep, false, NOW)),
            Some(6)
        );
        // Only the serial moved: still a new version.
        assert_eq!(
            serial_of(decide(Some(&p), true, file(6, 1), Keep, false, NOW)),
            Some(6)
        );
        // Wrapping around 2^32 is forward (RFC 1982).
        let p = prev(u32::MAX, u32::MAX, 1);
        assert_eq!(
            serial_of(decide(Some(&p), true, file(3, 2), Keep, false, NOW)),
            Some(3)
        );
    }

    #[test]
    fn same_serial_with_new_content_follows_the_policy() {
        let p = prev(5, 5, 1);
        let f = file(5, 2);
        assert!(
            matches!(decide(Some(&p), true, f, Keep, false, NOW), Decision::Refuse(m) if m.contains("keep"))
        );
        assert_eq!(
            serial_of(decide(Some(&p), true, f, Increment, false, NOW)),
            Some(6)
        );
        assert_eq!(
            serial_of(decide(Some(&p), true, f, Unixtime, false, NOW)),
            Some(1_795_262_400)
        );
        assert_eq!(
            serial_of(decide(Some(&p), true, f, Dateserial, false, NOW)),
            Some(2_026_112_100)
        );
        // Policies count on from the served serial, not the file's.
        let p = prev(9, 5, 1);
        assert_eq!(
            serial_of(decide(Some(&p), true, f, Increment, false, NOW)),
            Some(10)
        );
        // A file serial raised but still behind the served one: policy too.
        assert_eq!(
            serial_of(decide(Some(&p), true, file(7, 2), Increment, false, NOW)),
            Some(10)
        );
    }

    #[test]
    fn backwards_serial_is_refused_unless_forced() {
        let p = prev(5, 5, 1);
        let f = file(4, 2);
        for policy in [Keep, Increment, Unixtime, Dateserial] {
            let d = decide(Some(&p), true, f, policy, false, NOW);
            assert!(
                matches!(&d, Decision::Refuse(m) if m.contains("backwards")),
                "{d:?}"
            );
        }
        assert!(matches!(decide(Some(&p), true, f, Keep, true, NOW),
            Decision::Publish { serial: Serial(4), note: Some(n) } if n.contains("forced")));
        // Same content, serial set back: also refused.
        assert!(matches!(
            decide(Some(&p), true, file(4, 1), Keep, false, NOW),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn nothing_served_means_serve_with_a_note() {
        let p = prev(5, 5, 1);
        assert!(matches!(
            decide(Some(&p), false, file(4, 2), Keep, false, NOW),
            Decision::Publish {
                serial: Serial(4),
                note: Some(_)
            }
        ));
        assert!(matches!(
            decide(Some(&p), false, file(5, 2), Keep, false, NOW),
            Decision::Publish {
                serial: Serial(5),
                note: Some(_)
            }
        ));
    }
}

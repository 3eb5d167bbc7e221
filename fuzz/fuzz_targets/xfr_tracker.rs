//! The transfer-in state machine (`xfr::client::Tracker`) over arbitrary
//! record sequences and message boundaries. It must never panic, and a
//! completed answer must really have the form it is reported as:
//! AXFR/full zone: an SOA, other records, the same SOA; IXFR up to date:
//! the server's SOA alone, not newer than ours; IXFR incremental: the
//! server's SOA, then changesets chained by serial from ours to the
//! server's, then the server's SOA. Once complete, it takes nothing more.
//!
//! Input: byte 0 picks AXFR (even) or IXFR (odd, our serial in bytes 1..5);
//! then a program of operations: 0 = a non-SOA record, 1 = an SOA with
//! the next 4 bytes as serial, 2 = an SOA with a serial near ours (next
//! byte), 3 = end of message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonesync::serial::Serial;
use zonesync::xfr::client::{Item, Kind, Outcome, Tracker};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let from = if mode & 1 == 1 {
        let Some(b) = rest.get(..4) else { return };
        let s = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        rest = &rest[4..];
        Some(Serial(s))
    } else {
        None
    };
    let kind = match from {
        Some(serial) => Kind::Ixfr { serial },
        None => Kind::Axfr,
    };
    let base = from.map_or(1000, |s| s.get());
    let mut tracker = Tracker::new(kind);
    // Every record taken, as the tracker accepted it.
    let mut items: Vec<Item> = Vec::new();
    let mut first_serial: Option<Serial> = None;
    let mut done: Option<Outcome> = None;
    let mut i = 0;
    while i < rest.len() {
        let op = rest[i] % 4;
        i += 1;
        let item = match op {
            0 => Item::Other,
            1 => {
                let Some(b) = rest.get(i..i + 4) else { break };
                i += 4;
                Item::Soa(Serial(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
            }
            2 => {
                let Some(&b) = rest.get(i) else { break };
                i += 1;
                Item::Soa(Serial(base.wrapping_add(u32::from(b % 8))))
            }
            _ => {
                tracker.end_of_message();
                let outcome = tracker.outcome();
                if let Some(d) = done {
                    assert_eq!(outcome, Some(d), "outcome changed after completion");
                }
                if let Some(o) = outcome {
                    done.get_or_insert(o);
                }
                continue;
            }
        };
        let result = tracker.record(item);
        if done.is_some() {
            assert!(
                result.is_err(),
                "a record taken after the answer was complete"
            );
            break;
        }
        if result.is_err() {
            // The transfer fails here; nothing after it is read.
            break;
        }
        items.push(item);
        if first_serial.is_none() {
            let Item::Soa(s) = item else {
                panic!("a first record that is not an SOA was taken")
            };
            first_serial = Some(s);
        }
        assert_eq!(tracker.serial(), first_serial, "the server's serial moved");
        done = tracker.outcome();
    }
    if let Some(outcome) = tracker.outcome() {
        check_form(outcome, from, &items);
    }
});

fn check_form(outcome: Outcome, from: Option<Serial>, items: &[Item]) {
    let soas: Vec<Serial> = items
        .iter()
        .filter_map(|i| match i {
            Item::Soa(s) => Some(*s),
            Item::Other => None,
        })
        .collect();
    let server = soas[0];
    match outcome {
        Outcome::Axfr | Outcome::FullZone => {
            assert_eq!(
                outcome == Outcome::Axfr,
                from.is_none(),
                "AXFR/IXFR form mixed up"
            );
            assert_eq!(soas.len(), 2, "full zone with {} SOAs", soas.len());
            assert_eq!(soas[1], server, "full zone closed with another serial");
            assert!(
                matches!(items.last(), Some(Item::Soa(_))),
                "full zone not closed by an SOA"
            );
        }
        Outcome::UpToDate => {
            let from = from.expect("up to date only for IXFR");
            assert_eq!(items.len(), 1, "up to date with more than the SOA");
            assert!(!server.is_after(from), "up to date with a newer serial");
        }
        Outcome::Incremental { changesets } => {
            let from = from.expect("incremental only for IXFR");
            let n = changesets as usize;
            assert!(n >= 1);
            assert_eq!(
                soas.len(),
                2 * n + 2,
                "{n} changesets with {} SOAs",
                soas.len()
            );
            assert_eq!(
                soas[1], from,
                "first changeset does not start at our serial"
            );
            for k in 1..n {
                // The new SOA of changeset k is the old SOA of changeset k+1.
                assert_eq!(soas[2 * k], soas[2 * k + 1], "changeset chain broken");
                assert_ne!(soas[2 * k], server, "went on past the server's serial");
            }
            assert_eq!(
                soas[2 * n],
                server,
                "last changeset does not reach the server's serial"
            );
            assert_eq!(soas[2 * n + 1], server, "not closed by the server's SOA");
        }
    }
}

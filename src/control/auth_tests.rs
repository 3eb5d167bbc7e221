//! The control key's header: each way a request is let in or not.

use super::*;

const SECRET: &str = "9MVwwJHRcOH6ehzi8+YC5jbRx+ls2Cj8au5T//5bscY=";
const NOW: u64 = 1_800_000_000;
const TARGET: &str = "/peers?zone=example.com";

fn key(name: &str, secret: &str) -> TsigKey {
    TsigKey::from_config(name, "hmac-sha256", secret).unwrap()
}

/// `secs` Unix seconds, as a time to sign at.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

fn verifier() -> Verifier {
    Verifier::new(&key("ctl-key", SECRET))
}

fn check(v: &Verifier, header: &str, now: u64) -> Result<(), AuthError> {
    v.check(Some(header.as_bytes()), "GET", TARGET, now)
}

#[test]
fn a_signed_request_is_let_in_and_its_mac_only_once() {
    let v = verifier();
    let header = sign(&key("ctl-key", SECRET), "GET", TARGET, at(NOW));
    assert!(
        header.starts_with("Zonesync-HMAC key=\"ctl-key\", time=\"1800000000.000000000\", mac=\"")
    );
    assert_eq!(check(&v, &header, NOW), Ok(()));
    // The same request again: replayed, even a second later.
    assert_eq!(check(&v, &header, NOW + 1), Err(AuthError::Replayed));
    // The same request signed a second later is another MAC.
    let next = sign(&key("ctl-key", SECRET), "GET", TARGET, at(NOW + 1));
    assert_eq!(check(&v, &next, NOW + 1), Ok(()));
    // Key names are compared as DNS names: without case.
    let upper = sign(&key("CTL-Key", SECRET), "GET", TARGET, at(NOW + 2));
    assert_eq!(check(&v, &upper, NOW + 2), Ok(()));
}

/// Two equal requests within one second are signed at other
/// nanoseconds: two MACs, both let in.
#[test]
fn equal_requests_within_a_second_are_not_replays() {
    let v = verifier();
    let k = key("ctl-key", SECRET);
    let first = sign(
        &k,
        "GET",
        TARGET,
        at(NOW) + std::time::Duration::from_nanos(1),
    );
    let second = sign(
        &k,
        "GET",
        TARGET,
        at(NOW) + std::time::Duration::from_millis(999),
    );
    assert!(first.contains("time=\"1800000000.000000001\""), "{first}");
    assert_eq!(check(&v, &first, NOW), Ok(()));
    assert_eq!(check(&v, &second, NOW), Ok(()));
    assert_eq!(check(&v, &second, NOW), Err(AuthError::Replayed));
    // TIME: digits, at most nine decimals.
    assert_eq!(seconds("1800000000"), Some(NOW));
    assert_eq!(seconds("1800000000.5"), Some(NOW));
    for bad in ["", ".5", "1.", "1.1234567890", "-1", "1e9", "1.5.5", " 1"] {
        assert_eq!(seconds(bad), None, "{bad:?}");
    }
}

#[test]
fn every_algorithm_of_a_key_signs_and_verifies() {
    for algorithm in ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"] {
        let k = TsigKey::from_config("ctl-key", algorithm, SECRET).unwrap();
        let v = Verifier::new(&k);
        assert_eq!(
            check(&v, &sign(&k, "GET", TARGET, at(NOW)), NOW),
            Ok(()),
            "{algorithm}"
        );
        // Another algorithm's MAC of the same text does not verify.
        let other = if algorithm == "hmac-sha256" {
            "hmac-sha512"
        } else {
            "hmac-sha256"
        };
        let o = TsigKey::from_config("ctl-key", other, SECRET).unwrap();
        assert_eq!(
            check(&v, &sign(&o, "GET", TARGET, at(NOW + 1)), NOW),
            Err(AuthError::BadMac),
            "{algorithm} against {other}"
        );
    }
}

#[test]
fn a_time_beyond_the_window_either_way_is_skewed() {
    let v = verifier();
    let k = key("ctl-key", SECRET);
    for (time, off) in [(NOW - 301, 301), (NOW + 301, 301), (0, NOW)] {
        let header = sign(&k, "GET", TARGET, at(time));
        assert_eq!(
            check(&v, &header, NOW),
            Err(AuthError::Skewed { time, off }),
            "{time}"
        );
    }
    // At the window's edges: let in.
    for time in [NOW - 300, NOW + 300] {
        assert_eq!(check(&v, &sign(&k, "GET", TARGET, at(time)), NOW), Ok(()));
    }
    let text = AuthError::Skewed { time: 1, off: 400 }.to_string();
    assert!(text.contains("400 s") && text.contains("300 s"), "{text}");
}

#[test]
fn another_key_name_is_the_wrong_key() {
    let v = verifier();
    let header = sign(&key("other-key", SECRET), "GET", TARGET, at(NOW));
    assert_eq!(
        check(&v, &header, NOW),
        Err(AuthError::WrongKey("other-key".into()))
    );
}

#[test]
fn another_secret_or_another_request_is_a_bad_mac() {
    let v = verifier();
    let other = key("ctl-key", "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3I=");
    assert_eq!(
        check(&v, &sign(&other, "GET", TARGET, at(NOW)), NOW),
        Err(AuthError::BadMac)
    );
    let k = key("ctl-key", SECRET);
    // Signed for another target, method or time than it is sent with.
    let header = sign(&k, "GET", "/status", at(NOW));
    assert_eq!(check(&v, &header, NOW), Err(AuthError::BadMac));
    let header = sign(&k, "POST", TARGET, at(NOW));
    assert_eq!(check(&v, &header, NOW), Err(AuthError::BadMac));
    let header = sign(&k, "GET", TARGET, at(NOW)).replace("1800000000", "1800000001");
    assert_eq!(check(&v, &header, NOW), Err(AuthError::BadMac));
    // A MAC cut short.
    let good = sign(&k, "GET", TARGET, at(NOW));
    let (head, mac) = good.split_once("mac=\"").unwrap();
    let short = format!("{head}mac=\"{}\"", &mac[..8]);
    assert_eq!(check(&v, &short, NOW), Err(AuthError::BadMac));
    // A failed MAC takes no slot: the genuine request still gets in.
    assert_eq!(check(&v, &good, NOW), Ok(()));
}

#[test]
fn a_missing_or_malformed_header_is_refused_with_what_is_wrong() {
    let v = verifier();
    assert_eq!(v.check(None, "GET", TARGET, NOW), Err(AuthError::Missing));
    assert!(AuthError::Missing.to_string().contains("ctl --key"));
    let good = sign(&key("ctl-key", SECRET), "GET", TARGET, at(NOW));
    let params = good.trim_start_matches("Zonesync-HMAC ");
    for (header, why) in [
        ("Basic dXNlcjpwYXNz".to_owned(), "another scheme"),
        ("Zonesync-HMAC".to_owned(), "no parameters"),
        (
            format!("Zonesync-HMAC {params}, x=\"1\""),
            "an unknown parameter",
        ),
        (
            format!("Zonesync-HMAC {params}, key=\"a\""),
            "a parameter given twice",
        ),
        (
            "Zonesync-HMAC key=ctl-key".to_owned(),
            "a value not in quotes",
        ),
        ("Zonesync-HMAC key".to_owned(), "a parameter without ="),
        (
            "Zonesync-HMAC key=\"ctl-key\", mac=\"AAAA\"".to_owned(),
            "no time",
        ),
        (
            format!("Zonesync-HMAC key=\"ctl-key\", time=\"{NOW}\""),
            "no mac",
        ),
        (
            "Zonesync-HMAC time=\"1\", mac=\"AAAA\"".to_owned(),
            "no key",
        ),
        (
            "Zonesync-HMAC key=\"ctl-key\", time=\"soon\", mac=\"AAAA\"".to_owned(),
            "time is not Unix seconds",
        ),
        (
            format!("Zonesync-HMAC key=\"ctl-key\", time=\"{NOW}\", mac=\"!!\""),
            "mac is not base64",
        ),
    ] {
        assert_eq!(
            check(&v, &header, NOW),
            Err(AuthError::Malformed(why)),
            "{header}"
        );
    }
    assert_eq!(
        v.check(Some(&[0xff, 0xfe]), "GET", TARGET, NOW),
        Err(AuthError::Malformed("not text"))
    );
}

/// However many requests come, the MACs kept stay at [`MACS_MAX`], and a
/// MAC pushed out (or aged out) is never taken again.
#[test]
fn the_replay_memory_is_bounded_and_forgets_nothing_it_would_take() {
    let v = verifier();
    let k = key("ctl-key", SECRET);
    let first = sign(&k, "GET", TARGET, at(NOW));
    assert_eq!(check(&v, &first, NOW), Ok(()));
    for i in 0..MACS_MAX {
        let target = format!("/peers?zone=z{i}.example");
        let header = sign(&k, "GET", &target, at(NOW + 1));
        assert_eq!(
            v.check(Some(header.as_bytes()), "GET", &target, NOW + 1),
            Ok(())
        );
    }
    let kept = v.seen.lock().unwrap().macs.len();
    assert_eq!(kept, MACS_MAX);
    // The first was pushed out: still refused.
    assert_eq!(check(&v, &first, NOW + 1), Err(AuthError::Replayed));
    // Aged out of the window: refused as skewed, and after a clock step
    // back, as replayed (its time is at or below the floor).
    assert!(matches!(
        check(&v, &first, NOW + 400),
        Err(AuthError::Skewed { .. })
    ));
    let later = sign(&k, "GET", TARGET, at(NOW + 400));
    assert_eq!(check(&v, &later, NOW + 400), Ok(()));
    assert!(v.seen.lock().unwrap().macs.len() <= MACS_MAX);
    assert_eq!(check(&v, &first, NOW), Err(AuthError::Replayed));
}

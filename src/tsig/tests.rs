use super::*;
use domain::base::iana::Rtype;
use domain::base::Name;
use domain::rdata::A;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb2YtenN5bmMtMDE=";

fn key(name: &str) -> TsigKey {
    TsigKey::from_config(name, "hmac-sha256", SECRET).unwrap()
}

fn keys() -> Keys {
    Keys::new([key("xfr-key.example")]).unwrap()
}

fn query(id: u16, rtype: Rtype) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    question
        .push((Name::<Vec<u8>>::from_str("example.com.").unwrap(), rtype))
        .unwrap();
    question.finish()
}

/// A query with an OPT record, so its additional section is not empty.
fn query_with_edns(id: u16) -> Vec<u8> {
    let message = Message::from_octets(query(id, Rtype::SOA)).unwrap();
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    let mut question = builder.question();
    for q in message.question() {
        question.push(q.unwrap()).unwrap();
    }
    let mut additional = question.additional();
    additional
        .opt(|opt| {
            opt.set_udp_payload_size(1232);
            Ok(())
        })
        .unwrap();
    additional.finish()
}

/// The n-th message of a response stream to `request`: one A record.
fn response(request: &[u8], n: u8) -> Vec<u8> {
    let request = Message::from_octets(request).unwrap();
    let mut answer = MessageBuilder::new_vec()
        .start_answer(&request, Rcode::NOERROR)
        .unwrap();
    answer
        .push((
            Name::<Vec<u8>>::from_str("example.com.").unwrap(),
            3600,
            A::from_octets(192, 0, 2, n),
        ))
        .unwrap();
    answer.finish()
}

fn signed_query(key: &TsigKey, now: u64) -> (Vec<u8>, ClientSigner) {
    let mut request = query(0x1234, Rtype::AXFR);
    let signer = ClientSigner::sign_request_at(key, &mut request, now).unwrap();
    (request, signer)
}

fn expect_signed(auth: RequestAuth) -> SignedRequest {
    match auth {
        RequestAuth::Signed(signed) => signed,
        other => panic!("expected Signed, got {other:?}"),
    }
}

fn expect_rejected(auth: RequestAuth) -> TsigFailure {
    match auth {
        RequestAuth::Rejected(failure) => failure,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// The RCODE and the TSIG record's (error, MAC length) of a message.
fn tsig_fields(message: &[u8]) -> (Rcode, Option<(TsigRcode, usize)>) {
    let message = Message::from_octets(message).unwrap();
    let mut tsig = None;
    for record in message.additional().unwrap() {
        if let Some(record) = record
            .unwrap()
            .into_record::<Tsig<&[u8], ParsedName<&[u8]>>>()
            .unwrap()
        {
            tsig = Some((record.data().error(), record.data().mac().len()));
        }
    }
    (message.header().rcode(), tsig)
}

#[test]
fn client_request_verifies_and_a_stream_of_three_signed_responses_verifies() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW + 1));
    assert_eq!(signed.key_name(), "xfr-key.example");
    for n in 0..3 {
        let mut answer = response(&request, n);
        let unsigned_len = answer.len();
        signed.sign_response_at(&mut answer, NOW + 2).unwrap();
        assert_eq!(answer.len(), unsigned_len + signed.tsig_len());
        client.verify_response_at(&answer, NOW + 3).unwrap();
    }
    client.finish().unwrap();
}

#[test]
fn single_response_verifies_with_the_real_clock() {
    let mut request = query(7, Rtype::SOA);
    let mut client = ClientSigner::sign_request(&key("xfr-key.example"), &mut request).unwrap();
    let mut signed = expect_signed(check_request(&keys(), &request));
    let mut answer = response(&request, 1);
    signed.sign_response(&mut answer).unwrap();
    client.verify_response(&answer).unwrap();
}

#[test]
fn key_name_matches_whatever_its_case() {
    let (request, _) = signed_query(&key("XFR-Key.Example."), NOW);
    let signed = expect_signed(check_request_at(&keys(), &request, NOW));
    // The name reported is the one configured, not the one in the request.
    assert_eq!(signed.key_name(), "xfr-key.example");
}

#[test]
fn request_signed_with_a_wrong_secret_gets_an_unsigned_badsig() {
    let wrong = TsigKey::from_config("xfr-key.example", "hmac-sha256", "d3Jvbmc=").unwrap();
    let (request, mut client) = signed_query(&wrong, NOW);
    let failure = expect_rejected(check_request_at(&keys(), &request, NOW));
    assert_eq!(failure.rcode_name(), "BADSIG");
    assert_eq!(failure.key_name(), Some("xfr-key.example"));
    let answer = failure.response().unwrap();
    assert_eq!(
        tsig_fields(answer),
        (Rcode::NOTAUTH, Some((TsigRcode::BADSIG, 0)))
    );
    assert_eq!(Message::from_octets(answer).unwrap().header().id(), 0x1234);
    assert!(matches!(
        client.verify_response_at(answer, NOW),
        Err(TsigError::Validation(ValidationError::ServerBadSig))
    ));
}

#[test]
fn unknown_key_name_gets_an_unsigned_badkey() {
    let (request, mut client) = signed_query(&key("other-key.example"), NOW);
    let failure = expect_rejected(check_request_at(&keys(), &request, NOW));
    assert_eq!(failure.rcode_name(), "BADKEY");
    assert_eq!(
        failure.key_name(),
        Some("other-key.example"),
        "the name the request presented"
    );
    let answer = failure.response().unwrap();
    assert_eq!(
        tsig_fields(answer),
        (Rcode::NOTAUTH, Some((TsigRcode::BADKEY, 0)))
    );
    assert!(matches!(
        client.verify_response_at(answer, NOW),
        Err(TsigError::Validation(ValidationError::ServerBadKey))
    ));
}

#[test]
fn known_key_name_with_another_algorithm_gets_badkey() {
    let other = TsigKey::from_config("xfr-key.example", "hmac-sha512", SECRET).unwrap();
    let (request, _) = signed_query(&other, NOW);
    let failure = expect_rejected(check_request_at(&keys(), &request, NOW));
    assert_eq!(failure.rcode_name(), "BADKEY");
}

#[test]
fn request_signed_outside_the_fudge_gets_a_signed_badtime_with_server_time() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    let server_now = NOW + u64::from(FUDGE) + 1;
    let failure = expect_rejected(check_request_at(&keys(), &request, server_now));
    assert_eq!(failure.rcode_name(), "BADTIME");
    let answer = failure.response().unwrap();
    let (rcode, tsig) = tsig_fields(answer);
    assert_eq!(rcode, Rcode::NOTAUTH);
    assert_eq!(tsig, Some((TsigRcode::BADTIME, 32)));
    // The client verifies the signature before it reads the error.
    match client.verify_response_at(answer, NOW) {
        Err(TsigError::Validation(ValidationError::ServerBadTime { client, server })) => {
            assert_eq!(client, Time48::from_u64(NOW));
            assert_eq!(server, Time48::from_u64(server_now));
        }
        other => panic!("expected ServerBadTime, got {other:?}"),
    }
}

#[test]
fn request_within_the_fudge_on_either_side_verifies() {
    let fudge = u64::from(FUDGE);
    for server_now in [NOW - fudge, NOW + fudge] {
        let (request, _) = signed_query(&key("xfr-key.example"), NOW);
        expect_signed(check_request_at(&keys(), &request, server_now));
    }
}

#[test]
fn tampered_response_fails_the_client_check() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW));
    let mut answer = response(&request, 1);
    let unsigned_len = answer.len();
    signed.sign_response_at(&mut answer, NOW).unwrap();
    // The last octet of the A record's address, before the TSIG record.
    answer[unsigned_len - 1] ^= 1;
    assert!(matches!(
        client.verify_response_at(&answer, NOW),
        Err(TsigError::Validation(ValidationError::BadSig))
    ));
}

#[test]
fn response_signed_for_another_request_fails_the_client_check() {
    let (request, _) = signed_query(&key("xfr-key.example"), NOW);
    let (_, mut other_client) = signed_query(&key("xfr-key.example"), NOW + 1);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW));
    let mut answer = response(&request, 1);
    signed.sign_response_at(&mut answer, NOW).unwrap();
    assert!(other_client.verify_response_at(&answer, NOW).is_err());
}

#[test]
fn unsigned_response_to_a_signed_request_fails_the_client_check() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    assert!(matches!(
        client.verify_response_at(&response(&request, 1), NOW),
        Err(TsigError::Validation(ValidationError::ServerUnsigned))
    ));
}

#[test]
fn stream_whose_last_message_is_unsigned_fails_at_finish() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW));
    let mut first = response(&request, 1);
    signed.sign_response_at(&mut first, NOW).unwrap();
    client.verify_response_at(&first, NOW).unwrap();
    // RFC 8945 §5.3.1: intermediate messages may go unsigned, the last not.
    client
        .verify_response_at(&response(&request, 2), NOW)
        .unwrap();
    assert!(client.finish().is_err());
}

#[test]
fn request_without_tsig_is_unsigned() {
    assert!(matches!(
        check_request_at(&keys(), &query_with_edns(1), NOW),
        RequestAuth::Unsigned
    ));
    assert!(matches!(
        check_request_at(&keys(), &query(1, Rtype::SOA), NOW),
        RequestAuth::Unsigned
    ));
}

#[test]
fn tsig_record_not_in_last_place_gets_formerr() {
    let (mut request, _) = signed_query(&key("xfr-key.example"), NOW);
    // Append a copy of the OPT record after the TSIG record.
    let edns = query_with_edns(1);
    let opt = edns.get(edns.len() - 11..).unwrap().to_vec();
    request.extend_from_slice(&opt);
    request[11] += 1; // ARCOUNT
    let failure = expect_rejected(check_request_at(&keys(), &request, NOW));
    assert_eq!(failure.rcode_name(), "FORMERR");
    let (rcode, tsig) = tsig_fields(failure.response().unwrap());
    assert_eq!((rcode, tsig), (Rcode::FORMERR, None));
}

#[test]
fn truncated_or_corrupted_signed_requests_never_panic() {
    let (request, _) = signed_query(&key("xfr-key.example"), NOW);
    let keys = keys();
    for len in 0..request.len() {
        let _ = check_request_at(&keys, &request[..len], NOW);
    }
    for i in 0..request.len() {
        for bit in [0x01, 0x80, 0xff] {
            let mut corrupted = request.clone();
            corrupted[i] ^= bit;
            if let RequestAuth::Rejected(failure) = check_request_at(&keys, &corrupted, NOW) {
                let _ = failure.response();
            }
        }
    }
}

#[test]
fn signing_a_message_shorter_than_a_header_fails_and_leaves_it_alone() {
    let (request, _) = signed_query(&key("xfr-key.example"), NOW);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW));
    let mut short = vec![1, 2, 3];
    assert!(matches!(
        signed.sign_response_at(&mut short, NOW),
        Err(TsigError::Malformed)
    ));
    assert_eq!(short, [1, 2, 3]);
    let mut short = vec![1, 2, 3];
    assert!(ClientSigner::sign_request_at(&key("k"), &mut short, NOW).is_err());
    assert_eq!(short, [1, 2, 3]);
}

#[test]
fn response_that_would_exceed_64k_with_its_tsig_is_refused_unchanged() {
    let (request, mut client) = signed_query(&key("xfr-key.example"), NOW);
    let mut signed = expect_signed(check_request_at(&keys(), &request, NOW));
    let mut big = response(&request, 1);
    big.resize(usize::from(u16::MAX) - signed.tsig_len() + 1, 0);
    let before = big.clone();
    assert!(matches!(
        signed.sign_response_at(&mut big, NOW),
        Err(TsigError::NoSpace)
    ));
    assert_eq!(big, before);
    // The refused message did not advance the MAC chain.
    let mut answer = response(&request, 2);
    signed.sign_response_at(&mut answer, NOW).unwrap();
    client.verify_response_at(&answer, NOW).unwrap();
}

#[test]
fn config_values_are_checked_and_named() {
    assert!(matches!(
        TsigKey::from_config("k", "hmac-md5", SECRET),
        Err(TsigError::UnknownAlgorithm(_))
    ));
    assert!(matches!(
        TsigKey::from_config("k", "hmac-sha256", "not base64!"),
        Err(TsigError::BadSecret { .. })
    ));
    assert!(matches!(
        TsigKey::from_config("k", "hmac-sha256", ""),
        Err(TsigError::EmptySecret { .. })
    ));
    assert!(matches!(
        TsigKey::from_config("a..b", "hmac-sha256", SECRET),
        Err(TsigError::BadKeyName { .. })
    ));
    assert!(matches!(
        TsigKey::from_config(".", "hmac-sha256", SECRET),
        Err(TsigError::BadKeyName { .. })
    ));
    let err = Keys::new([key("k.example"), key("K.Example.")]).unwrap_err();
    assert!(err.to_string().contains("configured twice"), "{err}");
}

#[test]
fn algorithm_names_parse_in_any_case_and_display_canonically() {
    for (text, algorithm) in [
        ("hmac-sha1", Algorithm::HmacSha1),
        ("HMAC-SHA256", Algorithm::HmacSha256),
        ("hmac-sha384.", Algorithm::HmacSha384),
        ("hmac-sha512", Algorithm::HmacSha512),
    ] {
        let parsed: Algorithm = text.parse().unwrap();
        assert_eq!(parsed, algorithm);
        assert_eq!(
            parsed.to_string(),
            text.trim_end_matches('.').to_lowercase()
        );
    }
}

#[test]
fn debug_output_hides_the_secret() {
    let text = format!("{:?}", key("k"));
    assert!(
        !text.contains(SECRET) && text.contains("redacted"),
        "{text}"
    );
}

#[test]
fn keygen_output_is_toml_with_a_digest_long_secret_and_a_bind_statement() {
    for algorithm in [
        Algorithm::HmacSha1,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ] {
        let text = keygen("xfr.example", algorithm).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let table = &value["key"][0];
        assert_eq!(table["name"].as_str(), Some("xfr.example"));
        assert_eq!(table["algorithm"].as_str(), Some(algorithm.as_str()));
        let secret = table["secret"].as_str().unwrap();
        let bytes: Vec<u8> = domain::utils::base64::decode(secret).unwrap();
        assert_eq!(bytes.len(), algorithm.digest_len());
        assert_eq!(
            algorithm.digest_len(),
            match algorithm {
                Algorithm::HmacSha1 => 20,
                Algorithm::HmacSha256 => 32,
                Algorithm::HmacSha384 => 48,
                Algorithm::HmacSha512 => 64,
            }
        );
        assert!(text.contains("# key \"xfr.example\" {\n#"));
        assert!(text.contains(&format!("# \tsecret \"{secret}\";\n")));
        // What keygen prints is a working key.
        TsigKey::from_config("xfr.example", algorithm.as_str(), secret).unwrap();
    }
    let a = keygen("k", Algorithm::HmacSha256).unwrap();
    let b = keygen("k", Algorithm::HmacSha256).unwrap();
    assert_ne!(a, b, "two keys must not share a secret");
    assert!(keygen("bad name", Algorithm::HmacSha256).is_err());
}

/// Interoperability with an independent implementation: Knot's `kdig`
/// signs a query, a one-shot UDP server here checks it with
/// `check_request` and answers with `sign_response`, and kdig must accept
/// the answer's TSIG. With a wrong secret, kdig must see our BADSIG.
#[test]
fn kdig_accepts_our_signed_answer_and_sees_our_badsig() {
    if std::process::Command::new("kdig")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("kdig not installed: interoperability test skipped");
        return;
    }
    let ok = kdig_exchange(SECRET, false);
    assert!(ok.contains("192.0.2.77"), "{ok}");
    assert!(ok.contains("NOERROR"), "{ok}");
    // kdig 3.2 prints the TSIG record with +tsig, and ";; WARNING: reply
    // verification ... (failed to verify TSIG)" when the MAC is wrong.
    assert!(ok.contains("TSIG PSEUDOSECTION"), "{ok}");
    assert!(!ok.contains("failed to verify TSIG"), "{ok}");

    let bad = kdig_exchange("d3Jvbmctc2VjcmV0", false);
    assert!(bad.contains("status: BADSIG"), "{bad}");

    // Control: the check above does notice a MAC kdig cannot verify.
    let tampered = kdig_exchange(SECRET, true);
    assert!(tampered.contains("failed to verify TSIG"), "{tampered}");
}

/// Runs kdig with `secret` against a one-shot server, which flips a bit of
/// its MAC when `tamper`; returns kdig's stdout and stderr.
fn kdig_exchange(secret: &str, tamper: bool) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let (len, peer) = socket.recv_from(&mut buf).unwrap();
        let request = &buf[..len];
        let answer = match check_request(&keys(), request) {
            RequestAuth::Signed(mut signed) => {
                let message = Message::from_octets(request).unwrap();
                let mut answer = MessageBuilder::new_vec()
                    .start_answer(&message, Rcode::NOERROR)
                    .unwrap();
                answer.header_mut().set_aa(true);
                answer
                    .push((
                        Name::<Vec<u8>>::from_str("example.com.").unwrap(),
                        3600,
                        A::from_octets(192, 0, 2, 77),
                    ))
                    .unwrap();
                let mut answer = answer.finish();
                signed.sign_response(&mut answer).unwrap();
                if tamper {
                    // The MAC's last octet: after it come Original ID,
                    // Error and Other Len (RFC 8945 §4.2).
                    let at = answer.len() - 7;
                    answer[at] ^= 1;
                }
                answer
            }
            RequestAuth::Rejected(failure) => failure.response().unwrap().to_vec(),
            RequestAuth::Unsigned => panic!("kdig sent an unsigned query"),
        };
        socket.send_to(&answer, peer).unwrap();
    });
    let output = std::process::Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "-y",
            &format!("hmac-sha256:xfr-key.example:{secret}"),
            "+notcp",
            "+tsig",
            "+retry=0",
            "+timeout=5",
            "example.com",
            "A",
        ])
        .output()
        .unwrap();
    server.join().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("kdig (tamper: {tamper}):\n{text}");
    text
}

/// The multi-message case (RFC 8945 §5.3.1) against kdig: an AXFR over TCP
/// answered in three messages, each signed in sequence. kdig 3.2.6 checks
/// the MAC of the first message of a transfer only (a tampered second
/// message passes, a tampered first one fails: tried), so the chaining of
/// later messages is checked only by `domain`'s client, in
/// `client_request_verifies_and_a_stream_of_three_signed_responses_verifies`.
#[test]
fn kdig_accepts_our_three_message_signed_axfr() {
    if std::process::Command::new("kdig")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("kdig not installed: interoperability test skipped");
        return;
    }
    let text = kdig_axfr(false);
    assert!(text.contains("192.0.2.2"), "{text}");
    assert!(text.contains("3 messages"), "{text}");
    assert!(!text.contains("failed to verify TSIG"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");
    // Control: kdig does check the MAC of the first message.
    let tampered = kdig_axfr(true);
    assert!(tampered.contains("failed to verify TSIG"), "{tampered}");
}

/// Serves one AXFR in three signed messages to kdig (flipping a bit of the
/// first message's MAC when `tamper`); returns kdig's output.
fn kdig_axfr(tamper: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut request).unwrap();
        let mut signed = expect_signed(check_request(&keys(), &request));
        let message = Message::from_octets(request.as_slice()).unwrap();
        let apex = Name::<Vec<u8>>::from_str("example.com.").unwrap();
        let soa = domain::rdata::Soa::new(
            apex.clone(),
            apex.clone(),
            domain::base::Serial(1),
            Ttl::from_secs(3600),
            Ttl::from_secs(600),
            Ttl::from_secs(86400),
            Ttl::from_secs(300),
        );
        for n in 0..3u8 {
            let mut answer = MessageBuilder::new_vec()
                .start_answer(&message, Rcode::NOERROR)
                .unwrap();
            answer.header_mut().set_aa(true);
            if n == 0 {
                answer.push((apex.clone(), 3600, soa.clone())).unwrap();
            }
            answer
                .push((apex.clone(), 3600, A::from_octets(192, 0, 2, n)))
                .unwrap();
            if n == 2 {
                answer.push((apex.clone(), 3600, soa.clone())).unwrap();
            }
            let mut answer = answer.finish();
            signed.sign_response(&mut answer).unwrap();
            if tamper && n == 0 {
                let at = answer.len() - 7;
                answer[at] ^= 1;
            }
            let mut framed = u16::try_from(answer.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&answer);
            // kdig hangs up after a message it cannot verify.
            if stream.write_all(&framed).is_err() {
                break;
            }
        }
    });
    let output = std::process::Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "-y",
            &format!("hmac-sha256:xfr-key.example:{SECRET}"),
            "+timeout=5",
            "example.com",
            "AXFR",
        ])
        .output()
        .unwrap();
    server.join().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("kdig AXFR (tamper: {tamper}):\n{text}");
    text
}

#[test]
fn valid_tsig_followed_by_octets_outside_every_section_is_formerr() {
    let (mut request, _) = signed_query(&key("xfr-key.example"), NOW);
    assert!(matches!(
        check_request_at(&keys(), &request, NOW),
        RequestAuth::Signed(_)
    ));
    // The MAC still verifies, but it does not cover the tail.
    request.extend_from_slice(&[0, 1, 2]);
    let failure = expect_rejected(check_request_at(&keys(), &request, NOW));
    assert_eq!(failure.rcode_name(), "FORMERR");
    let answer = Message::from_octets(failure.response().unwrap()).unwrap();
    assert_eq!(answer.header().rcode(), Rcode::FORMERR);
    assert_eq!(answer.header().id(), 0x1234);
    assert_eq!(answer.header_counts().qdcount(), 1);
}

/// Replays the input the `tsig` fuzz target (fuzz/fuzz_targets/tsig.rs,
/// odd mode) crashed on: a message that already carries a request signed
/// with the fuzz key, then octets outside every section. The client signer
/// appends its TSIG after those octets; the server used to verify the
/// embedded TSIG instead of its own and accept the request, whose answer
/// then failed the client's check with BADSIG.
#[test]
fn fuzz_replay_request_signed_twice_with_a_tail_is_not_taken_for_the_embedded_signature() {
    const FUZZ_NOW: u64 = 1_780_000_000;
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fuzz/tsig-signed-twice-with-tail.bin"
    ))
    .unwrap();
    let fuzz_key = TsigKey::from_config(
        "fuzz-key.",
        "hmac-sha256",
        "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=",
    )
    .unwrap();
    let fuzz_keys = Keys::new([fuzz_key.clone()]).unwrap();
    // Byte 0: the target's mode (odd: sign it ourselves), byte 1: unused.
    assert_eq!(input[0] & 3, 1);
    let message = &input[2..];
    let mut request = message.to_vec();
    let mut client = ClientSigner::sign_request_at(&fuzz_key, &mut request, FUZZ_NOW).unwrap();
    match check_request_at(&fuzz_keys, &request, FUZZ_NOW) {
        RequestAuth::Signed(mut signed) => {
            let mut response = message.to_vec();
            response[2] |= 0x80;
            signed.sign_response_at(&mut response, FUZZ_NOW).unwrap();
            client.verify_response_at(&response, FUZZ_NOW).unwrap();
        }
        RequestAuth::Rejected(failure) => assert_eq!(failure.rcode_name(), "FORMERR"),
        RequestAuth::Unsigned => panic!("a request with a TSIG record read as unsigned"),
    }
}

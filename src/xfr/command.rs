//! What `zonesync xfr` needs beside the transfer itself: its arguments
//! (`--server`, `--key` in kdig's forms, `--tls` and how the server is
//! authenticated) and the dig-like printer of the records as they arrive.

use super::client::{
    transfer_to, AnswerRecord, Item, Request, Sink, SinkError, Summary, XfrError, DEFAULT_PORT,
};
use crate::tsig::{Algorithm, TsigKey};
use domain::base::iana::Rtype;
use domain::base::name::ToName;
use domain::base::zonefile_fmt::{DisplayKind, ZonefileFmt};
use domain::rdata::AllRecordData;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The port of a bare `--server` address with `--tls` (DNS over TLS,
/// RFC 7858; XoT uses it too, RFC 9103).
pub const TLS_PORT: u16 = 853;

/// Parses `--server`: `IP:PORT`, `[IPv6]:PORT`, or an address alone for
/// port 53.
pub fn parse_server(text: &str) -> Result<SocketAddr, XfrError> {
    parse_server_or(text, DEFAULT_PORT)
}

/// [`parse_server`] with `port` for an address alone.
pub fn parse_server_or(text: &str, port: u16) -> Result<SocketAddr, XfrError> {
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    IpAddr::from_str(bare)
        .map(|ip| SocketAddr::new(ip, port))
        .map_err(|_| XfrError::BadServer {
            text: text.to_owned(),
        })
}

/// Parses `--key`: `NAME:ALG:SECRET`, kdig's `-y` order `ALG:NAME:SECRET`,
/// or `NAME:SECRET` for hmac-sha256. Base64 has no colon, so the parts
/// split cleanly; the algorithm is recognised by its name.
pub fn parse_key(text: &str) -> Result<TsigKey, XfrError> {
    let is_alg = |s: &str| s.parse::<Algorithm>().is_ok();
    let parts: Vec<&str> = text.split(':').collect();
    let (name, alg, secret) = match parts.as_slice() {
        [name, secret] => (*name, Algorithm::HmacSha256.as_str(), *secret),
        [name, alg, secret] if is_alg(alg) => (*name, *alg, *secret),
        [alg, name, secret] if is_alg(alg) => (*name, *alg, *secret),
        _ => return Err(XfrError::BadKeySyntax),
    };
    TsigKey::from_config(name, alg, secret).map_err(XfrError::BadKey)
}

/// The sink of `zonesync xfr`: each record on its own line in presentation
/// form, tab-separated.
pub struct Printer<W>(pub W);

impl<W: Write> Sink for Printer<W> {
    fn record(&mut self, record: &AnswerRecord<'_>, _: Item) -> Result<(), SinkError> {
        // `domain` has no typed CSYNC, so it would print the RFC 3597
        // `\#` form; ours gives "serial flags TYPES" (RFC 7477 §2.1.2).
        // RDATA that is not valid CSYNC keeps the `\#` form.
        if record.rtype() == Rtype::CSYNC {
            if let AllRecordData::Unknown(data) = record.data() {
                if let Ok(csync) = crate::rdata::csync::Csync::from_wire(data.data()) {
                    return writeln!(
                        self.0,
                        "{}\t{}\t{}\tCSYNC\t{csync}",
                        record.owner().fmt_with_dot(),
                        record.ttl().as_secs(),
                        record.class(),
                    )
                    .map_err(SinkError::Output);
                }
            }
        }
        writeln!(self.0, "{}", record.display_zonefile(DisplayKind::Tabbed))
            .map_err(SinkError::Output)
    }
}

/// Runs `request` against `server`, writing each record on its own line
/// to `out` as it arrives.
///
/// Records of a message are written once the message has passed its
/// checks. With TSIG, a message the server left unsigned (RFC 8945 §5.3.1
/// allows up to 99 in a row) is vouched for only by the next signed one, so
/// its records may be written before a failure is found: after an error,
/// nothing written may be trusted.
pub fn transfer(
    server: SocketAddr,
    request: &Request,
    out: &mut impl Write,
) -> Result<Summary, XfrError> {
    transfer_to(server, request, &mut Printer(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        let ok = |text: &str| parse_server(text).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:5300"), "127.0.0.1:5300");
        assert_eq!(ok("[::1]:5300"), "[::1]:5300");
        assert_eq!(ok("127.0.0.1"), "127.0.0.1:53");
        assert_eq!(ok("::1"), "[::1]:53");
        assert_eq!(ok("[::1]"), "[::1]:53");
        for bad in ["", "localhost", "127.0.0.1:", "127.0.0.1:70000", "[::1"] {
            assert!(parse_server(bad).is_err(), "{bad:?}");
        }
        let tls = |text: &str| parse_server_or(text, TLS_PORT).unwrap().to_string();
        assert_eq!(tls("127.0.0.1"), "127.0.0.1:853");
        assert_eq!(tls("127.0.0.1:8530"), "127.0.0.1:8530");
    }

    #[test]
    fn tls_needs_the_server_authenticated_unless_told_otherwise() {
        use crate::tls::client::{ClientTls, ClientTlsError, ClientTlsSettings};
        let ip = "127.0.0.1".parse().unwrap();
        let strict = ClientTls::new(&ClientTlsSettings::default(), ip).unwrap_err();
        assert!(
            matches!(strict, ClientTlsError::NoAuthentication),
            "{strict}"
        );
        assert!(strict.to_string().contains("--tls-insecure"), "{strict}");
        let insecure = ClientTlsSettings {
            insecure: true,
            ..ClientTlsSettings::default()
        };
        assert!(ClientTls::new(&insecure, ip).is_ok());
        let both = ClientTlsSettings {
            pin: Some(
                "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwqKhEJLwBb5lE="
                    .parse()
                    .unwrap(),
            ),
            ..insecure
        };
        assert!(matches!(
            ClientTls::new(&both, ip),
            Err(ClientTlsError::InsecureAndAuthenticated)
        ));
    }

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb2YtenN5bmMtMDE=";

    #[test]
    fn key_forms() {
        let key = parse_key(&format!("xfr-key:hmac-sha512:{SECRET}")).unwrap();
        assert_eq!(
            (key.name.as_str(), key.algorithm),
            ("xfr-key", Algorithm::HmacSha512)
        );
        let key = parse_key(&format!("hmac-sha1:xfr-key:{SECRET}")).unwrap();
        assert_eq!(
            (key.name.as_str(), key.algorithm),
            ("xfr-key", Algorithm::HmacSha1)
        );
        let key = parse_key(&format!("xfr-key:{SECRET}")).unwrap();
        assert_eq!(key.algorithm, Algorithm::HmacSha256);
        assert_eq!(key.secret_base64(), SECRET);
    }

    #[test]
    fn bad_keys_do_not_echo_the_secret() {
        for bad in [
            SECRET.to_owned(),
            format!("a:b:c:{SECRET}"),
            format!("xfr-key:hmac-md5:{SECRET}"),
            "xfr-key:hmac-sha256:not base64!".to_owned(),
        ] {
            let e = parse_key(&bad).unwrap_err().to_string();
            assert!(!e.contains(SECRET), "{e}");
        }
    }
}

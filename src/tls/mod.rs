//! TLS for zone transfers (XoT, RFC 9103): what the listener (`server`)
//! and the transfer client (`client`) share: the one crypto provider
//! (ring), TLS 1.3 only, ALPN "dot", certificates and keys read from PEM
//! files, and SPKI pins (RFC 7469 style: base64 of the SHA-256 of a
//! certificate's SubjectPublicKeyInfo).
//!
//! Files are read whole and parsed in memory, so every failure names the
//! file it is about; they are read at start (before root is dropped), never
//! per connection.

pub mod client;
pub mod server;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The ALPN protocol of DNS over TLS, which XoT uses (RFC 9103 §7.1).
pub const ALPN_DOT: &[u8] = b"dot";

/// RFC 9103 §9: XoT is TLS 1.3 only.
pub(crate) static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// ring, explicitly: rustls' process-wide default would have to be
/// installed first, and another provider must never be picked up.
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange
/// (which only aws-lc-rs offers); ring is chosen all the same: it is
/// already our DNSSEC and TSIG crypto, and aws-lc-rs would bring a C
/// library and its build into the tree.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why TLS material could not be set up; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    /// rustls refused the material as a whole (a key that does not match
    /// the certificate, a CA file without usable certificates).
    #[error("{what}: {error}")]
    Setup { what: String, error: rustls::Error },
}

impl TlsError {
    fn file(path: &Path, problem: impl fmt::Display) -> TlsError {
        TlsError::File {
            path: path.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// Every certificate of a PEM file, in order (a chain: the end entity
/// first).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::file(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            TlsError::file(path, "no PRIVATE KEY in the file")
        }
        e => TlsError::file(path, e),
    })
}

/// A store of the CA certificates of a PEM file.
pub fn read_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::file(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::file(path, format!("cannot read: {e}")))
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo, written in base64
/// (RFC 7469 §2.4, kdig's `+tls-pin`): names a key whatever certificate
/// carries it, so it survives renewals that keep the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// The pin of a DER certificate; `None` if it does not parse.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Option<SpkiPin> {
        let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
        let spki = parsed.subject_public_key_info();
        let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
        Some(SpkiPin(digest.as_ref().try_into().ok()?))
    }
}

/// Why a text is not an [`SpkiPin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a SHA-256 SPKI pin (44 characters of base64, as `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64` prints)")]
pub struct PinError {
    text: String,
}

impl FromStr for SpkiPin {
    type Err = PinError;
    fn from_str(text: &str) -> Result<SpkiPin, PinError> {
        let bad = || PinError {
            text: text.to_owned(),
        };
        let bytes: Vec<u8> = domain::utils::base64::decode(text.trim()).map_err(|_| bad())?;
        Ok(SpkiPin(bytes.try_into().map_err(|_| bad())?))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&domain::utils::base64::encode_string(&self.0))
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

impl<'de> serde::Deserialize<'de> for SpkiPin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SpkiPin, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_and_write_base64_of_32_octets() {
        let text = "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwqKhEJLwBb5lE=";
        let pin: SpkiPin = text.parse().unwrap();
        assert_eq!(pin.to_string(), text);
        for bad in [
            "",
            "pRY1Rl+JAfnVFyfvE0vl2ceGbhT4tmwq",
            "not base64!",
            "c2hvcnQ=",
        ] {
            assert!(bad.parse::<SpkiPin>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("zonesync-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let e = read_certificates(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no CERTIFICATE"),
            "{e}"
        );
        let e = read_private_key(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PRIVATE KEY"),
            "{e}"
        );
        let e = read_roots(&dir.join("absent.pem")).unwrap_err().to_string();
        assert!(e.contains("absent.pem") && e.contains("cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

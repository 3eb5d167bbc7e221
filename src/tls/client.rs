//! The client side of XoT: how a transfer client authenticates the
//! server (a CA, an SPKI pin, or explicitly nothing), its own certificate
//! for mutual TLS, and a blocking TLS stream whose every socket read and
//! write is bound by one deadline (the transfer client's model, see
//! `xfr::client`). `zonesync xfr --tls` and a secondary's primaries
//! with `tls` (`config::PrimaryTlsConfig`, XoT in) both build a
//! [`ClientTlsSettings`]; [`Terms`] names the settings in failures.

use super::{SpkiPin, TlsError, ALPN_DOT};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// How the server is authenticated, and with what we authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientTlsSettings {
    /// CA certificates (PEM) the server's chain must lead to.
    pub ca: Option<PathBuf>,
    /// The SHA-256 of the server's SPKI; with `ca`, both must hold.
    pub pin: Option<SpkiPin>,
    /// Neither: encrypt, but accept any server (RFC 9103's opportunistic
    /// profile). Must be asked for: it protects against eavesdroppers
    /// only, not against whoever answers in the server's place.
    pub insecure: bool,
    /// The name the server's certificate must be valid for (with `ca`);
    /// default: the server's IP address (an IP SAN).
    pub server_name: Option<String>,
    /// Our certificate chain and key (PEM), for servers that require
    /// mutual TLS.
    pub certificate: Option<(PathBuf, PathBuf)>,
    /// How failures name these settings.
    pub terms: Terms,
}

/// The names of the settings, as the one who gave them wrote them: TLS
/// failures say which to change (`--ca` on the command line, `tls.ca`
/// for a secondary's primary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Terms {
    pub ca: &'static str,
    pub server_name: &'static str,
    pub cert: &'static str,
}

impl Terms {
    /// `zonesync xfr --tls`.
    pub const COMMAND_LINE: Terms = Terms {
        ca: "--ca",
        server_name: "--server-name",
        cert: "--cert and --cert-key",
    };
    /// A secondary's `primaries = [{ …, tls = { … } }]`.
    pub const CONFIG: Terms = Terms {
        ca: "tls.ca",
        server_name: "tls.server_name",
        cert: "tls.cert and tls.cert_key",
    };
}

impl Default for Terms {
    fn default() -> Terms {
        Terms::COMMAND_LINE
    }
}

/// Why client TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error("TLS needs the server authenticated: give --ca FILE (its CA) or --pin BASE64 (its key's SPKI SHA-256), or --tls-insecure to accept any server (encrypted, but not authenticated)")]
    NoAuthentication,
    #[error("--tls-insecure authenticates nothing: it cannot be combined with --ca or --pin")]
    InsecureAndAuthenticated,
    #[error("--server-name {0:?}: not a DNS name or IP address")]
    BadServerName(String),
    #[error(transparent)]
    File(#[from] TlsError),
}

/// A client configuration ready to connect to one server.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    terms: Terms,
}

impl ClientTls {
    /// Reads the files named in `settings`; `server` is the address the
    /// certificate names when no `server_name` is given.
    pub fn new(settings: &ClientTlsSettings, server: IpAddr) -> Result<ClientTls, ClientTlsError> {
        let verifier = Arc::new(Verifier::new(settings)?);
        let builder = rustls::ClientConfig::builder_with_provider(super::provider())
            .with_protocol_versions(super::VERSIONS)
            .map_err(|error| TlsError::Setup {
                what: "TLS 1.3".into(),
                error,
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &settings.certificate {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = super::read_certificates(cert)?;
                let private = super::read_private_key(key)?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|error| TlsError::Setup {
                        what: format!("{} with {}", cert.display(), key.display()),
                        error,
                    })?
            }
        };
        config.alpn_protocols = vec![ALPN_DOT.to_vec()];
        let server_name = match &settings.server_name {
            Some(name) => ServerName::try_from(name.clone())
                .map_err(|_| ClientTlsError::BadServerName(name.clone()))?,
            None => ServerName::IpAddress(server.into()),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
            terms: settings.terms,
        })
    }

    /// A TLS failure of a connection made with this configuration, said
    /// in the terms of its settings.
    pub fn explain(&self, error: &rustls::Error) -> String {
        explain(error, self.terms)
    }

    /// Runs the handshake on a connected socket, every read and write
    /// bound by `deadline`.
    pub fn connect(&self, sock: TcpStream, deadline: Instant) -> io::Result<TlsStream> {
        let conn = rustls::ClientConnection::new(self.config.clone(), self.server_name.clone())
            .map_err(tls_io)?;
        let mut stream = TlsStream {
            conn,
            sock,
            deadline,
        };
        while stream.conn.is_handshaking() {
            stream.pump()?;
        }
        stream.flush_tls()?;
        Ok(stream)
    }
}

/// Client configurations read once and shared: a secondary's primaries
/// with `tls` are read at start (before root is dropped, as the files
/// may be readable by root only), and every zone naming the same
/// settings and address, zones added at run time from a template
/// included, takes the one read then.
#[derive(Debug, Default)]
pub struct ClientTlsCache {
    read: std::sync::Mutex<HashMap<(ClientTlsSettings, IpAddr), Arc<ClientTls>>>,
}

impl ClientTlsCache {
    /// The configuration of `settings` for `server`, read now unless it
    /// was before.
    pub fn get(
        &self,
        settings: &ClientTlsSettings,
        server: IpAddr,
    ) -> Result<Arc<ClientTls>, ClientTlsError> {
        let key = (settings.clone(), server);
        if let Some(tls) = self.lock().get(&key) {
            return Ok(tls.clone());
        }
        let tls = Arc::new(ClientTls::new(settings, server)?);
        Ok(self.lock().entry(key).or_insert(tls).clone())
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(ClientTlsSettings, IpAddr), Arc<ClientTls>>> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The server's certificate judged by a CA, a pin, both, or (explicitly)
/// neither; the handshake signature is always verified, so the server
/// holds the key of the certificate it showed.
#[derive(Debug)]
struct Verifier {
    ca: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pin: Option<SpkiPin>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    fn new(settings: &ClientTlsSettings) -> Result<Verifier, ClientTlsError> {
        match (&settings.ca, &settings.pin, settings.insecure) {
            (None, None, false) => return Err(ClientTlsError::NoAuthentication),
            (Some(_), _, true) | (_, Some(_), true) => {
                return Err(ClientTlsError::InsecureAndAuthenticated)
            }
            _ => {}
        }
        let provider = super::provider();
        let ca = match &settings.ca {
            Some(path) => {
                let roots = Arc::new(super::read_roots(path)?);
                let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots,
                    provider.clone(),
                )
                .build()
                .map_err(|e| TlsError::File {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
                Some(verifier)
            }
            None => None,
        };
        Ok(Verifier {
            ca,
            pin: settings.pin,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

/// The server's key is not the one pinned.
#[derive(Debug, thiserror::Error)]
#[error("the server's key (pin {found}) is not the pinned one ({expected})")]
pub struct PinMismatch {
    pub expected: SpkiPin,
    pub found: String,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(ca) = &self.ca {
            ca.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        }
        if let Some(expected) = self.pin {
            let found = SpkiPin::of_certificate(end_entity);
            if found != Some(expected) {
                let found = found.map_or_else(|| "unreadable".to_owned(), |p| p.to_string());
                let mismatch = PinMismatch { expected, found };
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(mismatch)),
                )));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS error carried in an `io::Error`, as [`tls_error_of`] finds it.
fn tls_io(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// The TLS error inside an I/O error of a [`TlsStream`], if that is what
/// it is.
pub fn tls_error_of(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A TLS failure said in `terms`, the names of the settings to change.
pub fn explain(error: &rustls::Error, terms: Terms) -> String {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate is not signed by a CA of {} (UnknownIssuer)",
            terms.ca
        ),
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<PinMismatch>() {
                Some(mismatch) => mismatch.to_string(),
                None => error.to_string(),
            }
        }
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the server's certificate has expired ({error})"),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("the server's certificate is not valid for the name checked ({}; default the address): {error}", terms.server_name),
        rustls::Error::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied),
        ) => format!(
            "the server refused our certificate or its absence ({alert:?}; {} give one)",
            terms.cert
        ),
        rustls::Error::AlertReceived(Alert::NoApplicationProtocol) => {
            "the server does not speak ALPN \"dot\" (DNS over TLS)".into()
        }
        rustls::Error::AlertReceived(Alert::ProtocolVersion) | rustls::Error::PeerIncompatible(_) => {
            format!("the server does not speak TLS 1.3, which XoT requires ({error})")
        }
        rustls::Error::InvalidMessage(_) => {
            format!("the server does not speak TLS here ({error})")
        }
        _ => error.to_string(),
    }
}

/// A blocking TLS client stream. Unlike `rustls::StreamOwned`, each
/// socket read and write gets the time left before the deadline, so a
/// server trickling records cannot stretch a transfer past it.
pub struct TlsStream {
    conn: rustls::ClientConnection,
    sock: TcpStream,
    deadline: Instant,
}

impl TlsStream {
    /// The socket under the TLS layer.
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Sends what TLS has queued, then reads and processes one batch of
    /// records when it wants some.
    fn pump(&mut self) -> io::Result<()> {
        self.flush_tls()?;
        if !self.conn.wants_read() {
            return Ok(());
        }
        self.sock
            .set_read_timeout(Some(crate::xfr::client::time_left(self.deadline)?))?;
        let n = match self.conn.read_tls(&mut self.sock) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            other => other?,
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = self.conn.process_new_packets() {
            // The alert telling the server why, when there is one.
            let _ = self.flush_tls();
            return Err(tls_io(e));
        }
        Ok(())
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.sock
                .set_write_timeout(Some(crate::xfr::client::time_left(self.deadline)?))?;
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pump()?,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.flush_tls()
    }
}

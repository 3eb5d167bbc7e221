//! The TLS side of the XoT listener (`net::tls` accepts on it): the
//! server's certificate and key, client certificates verified against
//! `server.tls_client_ca` when one is presented (mutual TLS, RFC 9103
//! §9.3.3: transfer rules decide whether one is required), TLS 1.3 and
//! ALPN "dot" only.

use super::{SpkiPin, TlsError, ALPN_DOT};
use crate::config::ServerConfig;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A setting of `[server]` whose file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {error}")]
pub struct ServerTlsError {
    /// `server.tls_certificate`, `server.tls_key`, `server.tls_client_ca`.
    pub setting: &'static str,
    pub error: TlsError,
}

/// The listener's TLS configuration, read once at start.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// The configuration's TLS listener settings; `None` when there is no
    /// `tls_listen` (the configuration check made sure the files are
    /// named when there is one).
    pub fn from_config(server: &ServerConfig) -> Result<Option<ServerTls>, ServerTlsError> {
        if server.tls_listen.is_empty() {
            return Ok(None);
        }
        let (Some(certificate), Some(key)) = (&server.tls_certificate, &server.tls_key) else {
            return Ok(None);
        };
        ServerTls::load(certificate, key, server.tls_client_ca.as_deref()).map(Some)
    }

    /// Reads the certificate chain, its key and the client CA (PEM).
    pub fn load(
        certificate: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, ServerTlsError> {
        let at = |setting| move |error| ServerTlsError { setting, error };
        let chain = super::read_certificates(certificate).map_err(at("server.tls_certificate"))?;
        let private = super::read_private_key(key).map_err(at("server.tls_key"))?;
        let verifier = match client_ca {
            Some(ca) => client_verifier(ca).map_err(at("server.tls_client_ca"))?,
            None => rustls::server::WebPkiClientVerifier::no_client_auth(),
        };
        let setup = |error| TlsError::Setup {
            what: format!("{} with {}", certificate.display(), key.display()),
            error,
        };
        let mut config = rustls::ServerConfig::builder_with_provider(super::provider())
            .with_protocol_versions(super::VERSIONS)
            .map_err(|e| at("server.tls_certificate")(setup(e)))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, private)
            .map_err(|e| at("server.tls_key")(setup(e)))?;
        // A client offering other protocols only is refused by rustls
        // (no_application_protocol), as RFC 9103 §7.1 asks; one offering
        // none is served.
        config.alpn_protocols = vec![ALPN_DOT.to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

/// Client certificates are asked for but not required at the handshake:
/// each zone's `allow_transfer` says who needs one, and a plain query
/// over TLS needs none. One that is presented must chain to the CA.
fn client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let roots = Arc::new(super::read_roots(ca)?);
    rustls::server::WebPkiClientVerifier::builder_with_provider(roots, super::provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::File {
            path: ca.to_owned(),
            problem: e.to_string(),
        })
}

/// The pin of the certificate the client presented (verified against
/// `tls_client_ca` by the handshake), if it presented one.
pub fn client_pin(conn: &rustls::ServerConnection) -> Option<SpkiPin> {
    SpkiPin::of_certificate(conn.peer_certificates()?.first()?)
}

/// Why a handshake failed, as the log line says it; `None` for a client
/// that closed before sending anything (a port probe), not worth a line.
pub fn handshake_failure(error: &io::Error) -> Option<String> {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return None;
    }
    let tls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    Some(match tls {
        Some(rustls::Error::InvalidMessage(_)) => {
            format!("not TLS (plain DNS over TCP to the TLS port?): {error}")
        }
        Some(rustls::Error::NoApplicationProtocol) => {
            "the client offered ALPN protocols without \"dot\" (RFC 9103 §7.1)".to_owned()
        }
        Some(rustls::Error::PeerIncompatible(_)) => {
            format!("the client does not speak TLS 1.3, which XoT requires (RFC 9103 §9): {error}")
        }
        Some(rustls::Error::InvalidCertificate(e)) => {
            format!("client certificate refused: {e}")
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the client refused the handshake: {alert:?} (does it trust our certificate?)")
        }
        _ => error.to_string(),
    })
}

//! Sending alerts and recoveries: a JSON POST to a webhook and/or a
//! command given the JSON on its standard input. Deciding *when* is the
//! watcher's job (`super::watch`); this only delivers, each delivery on a
//! task of its own with bounded retries, so a slow receiver never holds
//! up the checks.

use super::config::AlertConfig;
use crate::serial::Serial;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// One notice: a condition began (`alert`) or ended (`recovered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// "alert" or "recovered".
    pub state: String,
    pub zone: String,
    /// "ns1.example.com.@192.0.2.1:53".
    pub server: String,
    /// "out-of-sync", "unreachable", "lame", "expiring".
    pub condition: String,
    /// When the condition began (unix ms).
    pub since_ms: u64,
    /// Now (unix ms).
    pub time_ms: u64,
    pub serial: Option<Serial>,
    pub reference_serial: Option<Serial>,
    pub detail: String,
    /// The row's diagnosis when there is one (then `detail` is its
    /// message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<super::api::DiagnosisView>,
}

/// Why a webhook URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?}: only http:// URLs are supported")]
    NotHttp(String),
    #[error("{0:?}: no host")]
    NoHost(String),
}

/// Why one POST to the webhook failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("{authority}: {error}")]
    Connect {
        authority: String,
        error: std::io::Error,
    },
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
    /// The HTTP exchange itself (handshake, sending, the response).
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Why the alert command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Spawn(std::io::Error),
    #[error("exited with {0}")]
    Exited(std::process::ExitStatus),
    #[error("{0}")]
    Wait(std::io::Error),
    #[error("did not finish within 10 s; killed")]
    TimedOut,
}

/// `http://host:port/path` → (host:port, path). Only plain HTTP: a
/// webhook relay on the same host can add TLS.
pub fn parse_http_url(url: &str) -> Result<(String, String), UrlError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| UrlError::NotHttp(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(UrlError::NoHost(url.to_owned()));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// Delivers alerts to the configured destinations.
#[derive(Debug, Clone)]
pub struct Alerter {
    config: AlertConfig,
}

const TRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);

impl Alerter {
    pub fn new(config: AlertConfig) -> Alerter {
        Alerter { config }
    }

    /// Sends `alert` everywhere, in the background.
    pub fn send(&self, alert: Alert) {
        let Ok(body) = serde_json::to_vec(&alert) else {
            return;
        };
        tracing::warn!(
            zone = alert.zone,
            server = alert.server,
            condition = alert.condition,
            state = alert.state,
            "monitor: {}",
            alert.detail
        );
        if let Some(url) = self.config.webhook.clone() {
            let body = body.clone();
            tokio::spawn(async move {
                let mut wait = Duration::from_millis(500);
                for attempt in 1..=TRIES {
                    match tokio::time::timeout(TIMEOUT, post(&url, body.clone())).await {
                        Ok(Ok(status)) if (200..300).contains(&status) => return,
                        Ok(Ok(status)) => {
                            tracing::warn!(url, attempt, status, "alert webhook refused")
                        }
                        Ok(Err(e)) => tracing::warn!(url, attempt, "alert webhook: {e}"),
                        Err(_) => tracing::warn!(url, attempt, "alert webhook: timed out"),
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            });
        }
        if let Some((program, args)) = self.config.command.split_first() {
            let (program, args) = (program.clone(), args.to_vec());
            tokio::spawn(async move {
                if let Err(e) = run_command(&program, &args, &body).await {
                    tracing::warn!(program, "alert command: {e}");
                }
            });
        }
    }
}

/// One POST; the response status.
async fn post(url: &str, body: Vec<u8>) -> Result<u16, WebhookError> {
    let (authority, path) = parse_http_url(url)?;
    let stream = match tokio::net::TcpStream::connect(&authority).await {
        Ok(s) => s,
        Err(error) => return Err(WebhookError::Connect { authority, error }),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(conn);
    let request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await;
    driver.abort();
    Ok(response?.status().as_u16())
}

/// Runs the command with the JSON on stdin; killed after [`TIMEOUT`].
async fn run_command(program: &str, args: &[String], json: &[u8]) -> Result<(), CommandError> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(CommandError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(json).await;
        let _ = stdin.write_all(b"\n").await;
    }
    match tokio::time::timeout(TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Exited(status)),
        Ok(Err(e)) => Err(CommandError::Wait(e)),
        Err(_) => {
            let _ = child.kill().await;
            Err(CommandError::TimedOut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_gets_the_json_on_stdin_and_a_failing_one_is_reported() {
        let dir = std::env::temp_dir().join(format!("zonesync-alert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("alert.json");
        let script = format!("cat > {}", out.display());
        run_command("/bin/sh", &["-c".into(), script], b"{\"state\":\"alert\"}")
            .await
            .unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got.trim(), "{\"state\":\"alert\"}");
        let err = run_command("/bin/sh", &["-c".into(), "exit 3".into()], b"{}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn webhook_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:9000/hook").unwrap(),
            ("127.0.0.1:9000".into(), "/hook".into())
        );
        assert_eq!(
            parse_http_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(parse_http_url("https://x/").is_err());
        assert!(parse_http_url("http:///x").is_err());
    }
}

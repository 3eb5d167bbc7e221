//! A real headless browser for page tests: Debian's `chromium` driven over
//! WebDriver by `chromedriver` (package `chromium-driver`) through the
//! `fantoccini` client.
//!
//! - [`Browser::start`]: chromedriver on a free 127.0.0.1 port (in its own
//!   process group, so that it and the chromium it starts are killed by
//!   that group's id on drop), chromium headless with a fresh profile in a
//!   [`TempDir`]. Missing programs fail the test ([`require_tool`]).
//! - [`Browser::goto`], [`Browser::eval`] (a script's `return` value),
//!   [`Browser::wait_for`] (polls a script until it returns something
//!   truthy, with a deadline; on timeout the panic shows the page's text
//!   and the driver's log), [`Browser::screenshot`] (PNG to a file).
//! - [`Browser::close`]: ends the session (chromium quits), then stops
//!   the driver. Call it at the end of a test; drop is the fallback.

use super::*;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;

/// Bound for chromedriver to listen and for a session (chromium) to start.
pub const BROWSER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`Browser::wait_for`] asks the page again.
const WAIT_POLL: Duration = Duration::from_millis(100);

pub struct Browser {
    client: Option<Client>,
    driver: Child,
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium session. The window is
    /// `width`×`height` CSS pixels (what screenshots show).
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromedriver = require_tool("chromedriver", "chromium-driver");
        let chromium = require_tool("chromium", "chromium");
        let dir = TempDir::new("browser");
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: chromium and its helpers join it, and one
            // kill of the group by its id stops them all, even when the
            // test panics before the session is closed.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut browser = Browser {
            client: None,
            driver,
            dir,
        };
        let deadline = Instant::now() + BROWSER_START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}):\n{}",
                    browser.driver_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on 127.0.0.1:{port} within {BROWSER_START_TIMEOUT:?}:\n{}",
                browser.driver_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let profile = browser.dir.join("profile");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-extensions".into(),
            // Nothing but the page under test goes on the network.
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--lang=en-US".into(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{port}");
        match tokio::time::timeout(BROWSER_START_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => browser.client = Some(client),
            Ok(Err(e)) => panic!(
                "no WebDriver session (chromium did not start?): {e}\n{}",
                browser.driver_log()
            ),
            Err(_) => panic!("no WebDriver session within {BROWSER_START_TIMEOUT:?}"),
        }
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("browser session is open")
    }

    /// The scratch directory (profile, driver log); screenshots may go here.
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// The end of chromedriver's log, for failure messages.
    pub fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!("--- chromedriver log (end) ---\n{}", &log[start..])
    }

    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client()
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns a truthy value (not null, false, 0
    /// or ""), which it returns; panics after `timeout` saying `what`, with
    /// the page's text and the last value.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        loop {
            // A script error (e.g. during a navigation) is one more miss.
            if let Ok(value) = self.client().execute(script, Vec::new()).await {
                if truthy(&value) {
                    return value;
                }
                last = value;
            }
            if Instant::now() >= deadline {
                let text = self
                    .client()
                    .execute(
                        "return document.body ? document.body.innerText : ''",
                        Vec::new(),
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let text: String = text.chars().take(4000).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what} (last value {last})\n\
                     --- page text ---\n{text}\n{}",
                    self.driver_log()
                );
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// Saves a PNG of the window to `path` and returns it.
    pub async fn screenshot(&self, path: &Path) -> PathBuf {
        let png = self
            .client()
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot failed: {e}"));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        write_file(path, &png)
    }

    /// Ends the session (chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), client.close()).await;
        }
        self.stop_driver();
    }

    fn stop_driver(&mut self) {
        if let Ok(Some(_)) = self.driver.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // The group we gave chromedriver at spawn: it, and whatever
            // chromium processes are left.
            // SAFETY: kill(2) with a negative pid only sends a signal.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = wait_timeout(&mut self.driver, Duration::from_secs(10));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop_driver();
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

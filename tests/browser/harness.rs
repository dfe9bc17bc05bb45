//! Drives Debian's headless Chromium over WebDriver for the browser tests.
//!
//! [`Browser::start`] runs a private `chromedriver` (and through it one
//! Chromium with a fresh profile) per test; the free functions take the
//! session's [`Client`] (a `&Browser` derefs to one) and act as a person
//! would: wait for something to show up, type, click, read. [`axe`] and
//! [`assert_accessible`] run the vendored axe-core against the page shown.
#![allow(dead_code)] // Not every test binary module uses every helper.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the helpers wait for an element before failing the test.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const DRIVER_STARTUP: Duration = Duration::from_secs(20);

/// axe-core 4.14.1 as published (see tests/browser/vendor/README.md).
const AXE_SOURCE: &str = include_str!("vendor/axe-core/axe.min.js");

/// The folder under a browser's scratch folder that downloads go to.
const DOWNLOADS: &str = "downloads";

/// A headless Chromium session behind a chromedriver this process started.
///
/// Derefs to the fantoccini [`Client`]. Dropping it kills chromedriver and
/// every Chromium process it started (they share a process group) and
/// removes the profile; [`Browser::close`] ends the WebDriver session
/// politely first.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// chromedriver's own address, for its commands fantoccini lacks.
    driver_base: String,
    scratch: PathBuf,
    shut_down: bool,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session in a fresh,
    /// throw-away Chromium profile. Panics with the reason (and the
    /// driver's log) when it cannot.
    pub async fn start() -> Self {
        Self::start_as(None, None).await
    }

    /// A browser whose system clock is in `zone` (an IANA name, through
    /// `TZ`, as a person's laptop would be) and whose preferred language
    /// is `language` (what it sends as `Accept-Language`).
    pub async fn start_as(zone: Option<&str>, language: Option<&str>) -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the browser tests need Debian's Chromium and its \
                 WebDriver. `.ci/run` installs them (apt-get install chromium chromium-driver)."
            );
        }
        let port = free_port();
        let scratch = scratch_dir(port);
        let profile = scratch.join("profile");
        std::fs::create_dir_all(&profile)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", profile.display()));
        let log = scratch.join("chromedriver.log");
        let downloads = scratch.join(DOWNLOADS);
        std::fs::create_dir_all(&downloads)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", downloads.display()));

        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A group of its own, so that dropping the browser can end
        // chromedriver and every Chromium process under it at once.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        // From here on, a panic drops `browser` and so cleans up.
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            client: None,
            driver,
            driver_base: base.clone(),
            scratch,
            shut_down: false,
        };
        browser.wait_until_ready(&base, &log).await;

        let mut capabilities = serde_json::Map::new();
        let language = language.unwrap_or("en-US");
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    format!("--lang={language}"),
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    // The https front's certificate is self-signed (tls.rs).
                    "--ignore-certificate-errors",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // Third-party cookies blocked, as browsers ship now:
                // Herald inside the Teams tab (a cross-site frame) must
                // work without them. Links with `download` save here
                // without asking; see [`Browser::downloaded`].
                "prefs": {
                    "profile.cookie_controls_mode": 1,
                    "profile.block_third_party_cookies": true,
                    "intl.accept_languages": language,
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            }),
        );
        // The page's console (script errors, refused by the CSP, failed
        // loads), read with [`Browser::console_errors`].
        capabilities.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&base)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not open a Chromium session: {e}\n{}",
                    log_tail(&log)
                )
            });
        browser.client = Some(client);
        browser
    }

    /// Polls chromedriver's `/status` until it says it is ready.
    async fn wait_until_ready(&mut self, base: &str, log: &Path) {
        let http = reqwest::Client::new();
        let status = format!("{base}/status");
        let deadline = Instant::now() + DRIVER_STARTUP;
        loop {
            if let Ok(Some(exit)) = self.driver.try_wait() {
                panic!("{CHROMEDRIVER} exited at start ({exit})\n{}", log_tail(log));
            }
            if let Ok(response) = http.get(&status).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{CHROMEDRIVER} did not answer {status} within {DRIVER_STARTUP:?}\n{}",
                log_tail(log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the pages logged as errors since the last call (or the start):
    /// uncaught exceptions, `console.error`, what the Content Security
    /// Policy refused, and loads that failed, e.g. `"javascript: ... Uncaught
    /// TypeError ..."` or `"network: http://... 404 (Not Found)"`, each
    /// prefixed with Chromium's source of the entry.
    pub async fn console_errors(&self) -> Vec<String> {
        let session = self
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("the browser session has an id");
        let url = format!("{}/session/{session}/se/log", self.driver_base);
        let answer: Value = reqwest::Client::new()
            .post(&url)
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot read the browser's console at {url}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("the browser's console at {url} is not JSON: {e}"));
        let entries = answer["value"]
            .as_array()
            .unwrap_or_else(|| panic!("unexpected console log from chromedriver: {answer}"));
        entries
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| {
                format!(
                    "{}: {}",
                    entry["source"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Fails the test listing every console error since the last look,
    /// except those containing one of the `expected` texts (say, the 404
    /// of an error page the test opened on purpose).
    pub async fn assert_no_console_errors(&self, context_label: &str, expected: &[&str]) {
        let errors: Vec<String> = self
            .console_errors()
            .await
            .into_iter()
            .filter(|error| !expected.iter().any(|e| error.contains(e)))
            .collect();
        assert!(
            errors.is_empty(),
            "{context_label}: the browser's console shows errors:\n  {}",
            errors.join("\n  ")
        );
    }

    /// The one file the browser has downloaded, once Chromium has saved it
    /// whole (it writes `*.crdownload` until then): its name and bytes.
    pub async fn downloaded(&self, within: Duration) -> (String, Vec<u8>) {
        let folder = self.scratch.join(DOWNLOADS);
        let deadline = Instant::now() + within;
        loop {
            let names: Vec<String> = std::fs::read_dir(&folder)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .collect();
            // Chromium writes into a hidden temporary file (or a
            // `.crdownload`) and renames it when the download is done.
            if let [name] = names.as_slice()
                && !name.ends_with(".crdownload")
                && !name.starts_with('.')
            {
                let bytes = std::fs::read(folder.join(name))
                    .unwrap_or_else(|e| panic!("cannot read the download {name}: {e}"));
                return (name.clone(), bytes);
            }
            assert!(
                Instant::now() < deadline,
                "no single finished download within {within:?}: {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the WebDriver session (Chromium quits), then stops chromedriver
    /// and removes the profile.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            // Chromium may already be gone; the kill below covers that.
            let _ = client.close().await;
        }
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        // The group id is chromedriver's pid (process_group(0) above).
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the browser session is open until close()")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// A free TCP port on 127.0.0.1 (the OS picks it; it is released at once
/// for chromedriver to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1: {e}"))
}

fn scratch_dir(port: u16) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "herald-browser-{}-{port}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn log_tail(log: &Path) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(30);
            format!(
                "last lines of {}:\n{}",
                log.display(),
                lines[start..].join("\n")
            )
        }
        Err(e) => format!("(no chromedriver log at {}: {e})", log.display()),
    }
}

// ---------------------------------------------------------------- axe-core

/// One axe-core rule the page breaks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Violation {
    /// The rule, e.g. `label` or `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical` (axe may leave it out).
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// One CSS selector per offending element; selectors into frames or
    /// shadow roots are joined with ` >>> `.
    pub targets: Vec<String>,
}

impl Violation {
    /// Whether it is bad enough to fail [`assert_accessible`].
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {} ({}) at {}",
            self.impact.as_deref().unwrap_or("?"),
            self.id,
            self.help,
            self.help_url,
            self.targets.join(", ")
        )
    }
}

const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then(
  (results) => done({
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact || null,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) =>
        n.target.map((t) => (Array.isArray(t) ? t.join(" >>> ") : t)).join(" >>> ")),
    })),
  }),
  (error) => done({ error: String(error && error.stack || error) }),
);
"#;

/// Runs axe-core on the page shown now and returns every violation, of any
/// impact. `context_label` names the page in failure messages.
pub async fn axe(client: &Client, context_label: &str) -> Vec<Violation> {
    let loaded = client
        .execute("return typeof window.axe !== 'undefined';", vec![])
        .await
        .unwrap_or_else(|e| panic!("axe on {context_label}: cannot run a script: {e}"));
    if loaded != json!(true) {
        client
            .execute(AXE_SOURCE, vec![])
            .await
            .unwrap_or_else(|e| panic!("axe on {context_label}: cannot inject axe-core: {e}"));
    }
    let answer = client
        .execute_async(AXE_RUN, vec![])
        .await
        .unwrap_or_else(|e| panic!("axe on {context_label}: axe.run() failed: {e}"));
    if let Some(error) = answer.get("error") {
        panic!("axe on {context_label}: axe.run() failed: {error}");
    }
    serde_json::from_value(answer["violations"].clone())
        .unwrap_or_else(|e| panic!("axe on {context_label}: unexpected result {answer}: {e}"))
}

/// Fails the test listing every `serious` or `critical` violation on the
/// page shown now; prints the milder ones without failing.
pub async fn assert_accessible(client: &Client, context_label: &str) {
    let (serious, mild): (Vec<_>, Vec<_>) = axe(client, context_label)
        .await
        .into_iter()
        .partition(Violation::is_serious);
    for violation in &mild {
        eprintln!("axe on {context_label} (not failing): {violation}");
    }
    if !serious.is_empty() {
        let list: Vec<String> = serious.iter().map(|v| format!("  - {v}")).collect();
        panic!(
            "{context_label} has {} serious or critical accessibility violation(s):\n{}",
            serious.len(),
            list.join("\n")
        );
    }
}

// ------------------------------------------------------------- screenshots

/// Saves the page shown now as `docs/screenshots/<name>.png` at the
/// repository root, only when `HERALD_SCREENSHOTS=1` (so ordinary test runs
/// leave the committed pictures alone), once the page holds still (see
/// [`still_picture`]). Returns the path it wrote.
pub async fn screenshot(client: &Client, name: &str) -> Option<PathBuf> {
    if std::env::var("HERALD_SCREENSHOTS").as_deref() != Ok("1") {
        return None;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/screenshots")
        .join(format!("{name}.png"));
    let png = still_picture(client, name).await;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", folder.display()));
    }
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    Some(path)
}

/// A PNG of the page once two pictures in a row are the same, waiting up
/// to [`DEFAULT_WAIT`] (then the last one): a transition, such as the
/// progress bar's fill gliding to a new value inside the browser's own
/// shadow tree where no script can see it, is not caught half-way.
pub async fn still_picture(client: &Client, what: &str) -> Vec<u8> {
    let take = || async {
        client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("cannot take a screenshot of {what}: {e}"))
    };
    let deadline = Instant::now() + DEFAULT_WAIT;
    let mut last = take().await;
    loop {
        tokio::time::sleep(POLL).await;
        let next = take().await;
        if next == last || Instant::now() >= deadline {
            return next;
        }
        last = next;
    }
}

/// Saves the page shown now as a PNG at `path`, whatever the environment.
pub async fn save_screenshot(client: &Client, path: &Path) {
    let png = client
        .screenshot()
        .await
        .unwrap_or_else(|e| panic!("cannot take a screenshot for {}: {e}", path.display()));
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", folder.display()));
    }
    std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

// ------------------------------------------------------ acting like a person

/// Waits up to [`DEFAULT_WAIT`] for an element matching `css`.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    wait_for_within(client, css, DEFAULT_WAIT).await
}

/// Waits up to `timeout` for an element matching `css`, polling.
pub async fn wait_for_within(client: &Client, css: &str, timeout: Duration) -> Element {
    let deadline = Instant::now() + timeout;
    loop {
        match client.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if e.is_no_such_element() => {}
            Err(e) => panic!("looking for `{css}` failed: {e}"),
        }
        if Instant::now() >= deadline {
            panic!(
                "no element matches `{css}` after {timeout:?} on {}",
                current_url(client).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits up to [`DEFAULT_WAIT`] until the element matching `css` shows text
/// containing `needle`, and returns that text.
pub async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        // The page may replace the element while we look: find it afresh.
        let shown = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if let Some(shown) = &shown
            && shown.contains(needle)
        {
            return shown.clone();
        }
        if Instant::now() >= deadline {
            panic!(
                "`{css}` shows {shown:?}, still without {needle:?}, after {DEFAULT_WAIT:?} on {}",
                current_url(client).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Clears the field matching `css` and types `text` into it, key by key.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let field = wait_for(client, css).await;
    field
        .clear()
        .await
        .unwrap_or_else(|e| panic!("cannot clear `{css}`: {e}"));
    field
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
}

/// Clicks the element matching `css` once it is there, scrolled to the
/// middle of the window first as a person would (WebDriver alone scrolls
/// it just into view, where a sticky bar may cover it).
pub async fn click(client: &Client, css: &str) {
    let element = wait_for(client, css).await;
    let argument = serde_json::to_value(&element).expect("an element is JSON");
    client
        .execute(
            "arguments[0].scrollIntoView({ block: 'center', inline: 'nearest' });",
            vec![argument],
        )
        .await
        .unwrap_or_else(|e| panic!("cannot scroll to `{css}`: {e}"));
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
}

/// The visible text of the element matching `css`, once it is there.
pub async fn text(client: &Client, css: &str) -> String {
    wait_for(client, css)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("cannot read the text of `{css}`: {e}"))
}

/// Sets a cookie (path `/`, SameSite=Lax) for the site shown now: WebDriver
/// only sets cookies for the current document's domain, so open a page of
/// the site first.
pub async fn set_cookie(client: &Client, name: &str, value: &str) {
    // Chromedriver rejects the null domain fantoccini sends by default.
    let url = client
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("cannot set cookie {name}: no current page: {e}"));
    let host = url
        .host_str()
        .unwrap_or_else(|| panic!("cannot set cookie {name} on {url}: it has no host"));
    let cookie = Cookie::parse(format!(
        "{name}={value}; Domain={host}; Path=/; SameSite=Lax"
    ))
    .unwrap_or_else(|e| panic!("not a cookie: {name}={value}: {e}"));
    client
        .add_cookie(cookie)
        .await
        .unwrap_or_else(|e| panic!("cannot set cookie {name}: {e}"));
}

async fn current_url(client: &Client) -> String {
    client
        .current_url()
        .await
        .map(|url| url.to_string())
        .unwrap_or_else(|e| format!("(unknown page: {e})"))
}

/// Presses keys on the keyboard, whatever has the focus, as a person
/// would: each character of `keys` down and up in turn (the special keys of
/// [`Key`], e.g. `Key::Tab`, are characters too). Shift, Control and Alt
/// stay down until the end, so `format!("{}{}", Key::Shift, Key::Tab)` is
/// Shift+Tab.
pub async fn press(client: &Client, keys: &str) {
    let modifiers = [Key::Shift, Key::Control, Key::Alt].map(char::from);
    let mut actions = KeyActions::new("keyboard".to_owned());
    let mut held = Vec::new();
    for key in keys.chars() {
        actions = actions.then(KeyAction::Down { value: key });
        if modifiers.contains(&key) {
            held.push(key);
        } else {
            actions = actions.then(KeyAction::Up { value: key });
        }
    }
    for key in held.into_iter().rev() {
        actions = actions.then(KeyAction::Up { value: key });
    }
    client
        .perform_actions(actions)
        .await
        .unwrap_or_else(|e| panic!("cannot press {keys:?}: {e}"));
}

/// Runs a script in the page and returns what it returns.
pub async fn script(client: &Client, source: &str, args: Vec<Value>) -> Value {
    client
        .execute(source, args)
        .await
        .unwrap_or_else(|e| panic!("the script failed: {e}\n{source}"))
}

/// Waits up to [`DEFAULT_WAIT`] until the JavaScript expression `condition`
/// is true in the page shown (it may be shown anew meanwhile); `what` says
/// what was awaited in the failure message.
pub async fn wait_until(client: &Client, condition: &str, what: &str) {
    wait_until_within(client, condition, what, DEFAULT_WAIT).await;
}

/// The same, waiting up to `timeout`.
pub async fn wait_until_within(client: &Client, condition: &str, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let source = format!("return Boolean({condition});");
    loop {
        // Between two pages the script may fail: try again.
        if let Ok(Value::Bool(true)) = client.execute(&source, vec![]).await {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "still not {what} ({condition}) after {timeout:?} on {}",
                current_url(client).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits up to [`DEFAULT_WAIT`] until the page's path (with its query)
/// satisfies `wanted`, and returns it.
pub async fn wait_for_path(client: &Client, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        let shown = client
            .current_url()
            .await
            .ok()
            .map(|url| match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            });
        if let Some(path) = &shown
            && wanted(path)
        {
            return path.clone();
        }
        if Instant::now() >= deadline {
            panic!("the browser is on {shown:?}, not on {what}, after {DEFAULT_WAIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

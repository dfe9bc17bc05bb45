//! Herald as a person meets it in the browser: a real Herald (PostgreSQL,
//! RabbitMQ, the embedded Teams emulator), signing in through the
//! emulator's account picker, the theme cookie, and the compose page's
//! moving parts.

use std::path::PathBuf;

use fantoccini::key::Key;
use herald_domain::NotificationId;
use herald_testkit::{TestHerald, emulator_config};
use serde_json::{Value, json};

use crate::harness::{
    Browser, click, press, script, set_cookie, type_into, wait_for, wait_for_path, wait_for_text,
    wait_until,
};

/// A Herald with a small directory: the emulator's three staff accounts,
/// people to send to, two teams and four groups.
pub async fn start() -> TestHerald {
    let mut config = emulator_config(40);
    config.directory.groups = 4;
    config.directory.teams = 2;
    TestHerald::start(config, |_| {}).await
}

/// Opens a path of Herald's in the browser.
pub async fn open(browser: &Browser, herald: &TestHerald, path: &str) {
    browser
        .goto(&format!("{}{path}", herald.web_base()))
        .await
        .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
}

/// Signs `upn` in as a person does: Herald's sign-in page, "Sign in with
/// Microsoft", the emulator's account picker, that account's button, and
/// back to Herald's start page.
pub async fn sign_in(browser: &Browser, herald: &TestHerald, upn: &str) {
    start_sign_in(browser, herald).await;
    click(
        browser,
        &format!(r#"button[name="account"][value="{upn}"]"#),
    )
    .await;
    back_home(browser, herald).await;
}

/// Signs in someone who is not one of the picker's staff accounts, by
/// typing their user principal name into the picker's free-text field.
pub async fn sign_in_typed(browser: &Browser, herald: &TestHerald, upn: &str) {
    start_sign_in(browser, herald).await;
    type_into(browser, r#"input[name="account"]"#, upn).await;
    // The free-text field's own button (the first button of the form is
    // the first staff account's, which Enter would press).
    click(browser, "form p > button").await;
    back_home(browser, herald).await;
}

async fn start_sign_in(browser: &Browser, herald: &TestHerald) {
    open(browser, herald, "/sign-in").await;
    click(browser, "#sign-in").await;
    wait_for_text(browser, "h1", "Pick an account").await;
}

/// Waits for Herald's start page: the announcements list, or for someone
/// with no role their own page, Announcements for you.
async fn back_home(browser: &Browser, herald: &TestHerald) {
    let home = herald.web_base();
    wait_until(
        browser,
        &format!(
            "[{}, {}].includes(location.href) && document.readyState === 'complete'",
            json!(format!("{home}/")),
            json!(format!("{home}/for-you"))
        ),
        "back on Herald's start page",
    )
    .await;
}

/// Picks Herald's theme as the `herald_theme` cookie (`light`, `dark`,
/// `contrast`) on the page shown, and reloads it in that theme.
pub async fn use_theme(browser: &Browser, theme: &str) {
    set_cookie(browser, "herald_theme", theme).await;
    browser.refresh().await.unwrap();
    assert_theme(browser, theme).await;
}

/// Waits until the page is drawn in `theme`.
pub async fn assert_theme(browser: &Browser, theme: &str) {
    wait_until(
        browser,
        &format!(
            "document.readyState === 'complete' && document.documentElement.dataset.theme === {}",
            json!(theme)
        ),
        &format!("drawn in the {theme} theme"),
    )
    .await;
}

/// UPNs of `count` people who are not staff, from the `skip`th on.
pub async fn people(herald: &TestHerald, skip: usize, count: usize) -> Vec<String> {
    herald.people(skip, count).await
}

/// The Entra object id of the person with this user principal name.
pub async fn user_id(herald: &TestHerald, upn: &str) -> String {
    herald.user_id(upn).await
}

/// A plain group (no team, no nested groups) with members: its directory
/// entry.
pub async fn plain_group(herald: &TestHerald) -> Value {
    let directory = herald.emulator_get("/directory").await;
    directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["team"].is_null()
                && g["memberGroupIds"].as_array().unwrap().is_empty()
                && !g["memberUserIds"].as_array().unwrap().is_empty()
        })
        .expect("the directory has a plain group with members")
        .clone()
}

/// How many of the messages a person received mention `text`.
pub async fn messages_with(herald: &TestHerald, user: &str, text: &str) -> usize {
    herald
        .messages(user)
        .await
        .iter()
        .filter(|m| m.to_string().contains(text))
        .count()
}

pub fn notification(id: &str) -> NotificationId {
    NotificationId(id.parse().unwrap())
}

/// The id in a path like `/drafts/{id}/send` or `/announcements/{id}`.
pub fn id_in(path: &str) -> String {
    path.split('/')
        .nth(2)
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// Opens the compose page from the navigation, as a person does.
pub async fn new_announcement(browser: &Browser) {
    click(browser, r#"nav a[href="/drafts/new"]"#).await;
    wait_for_path(browser, "the compose page", |p| p == "/drafts/new").await;
    wait_for(browser, "form#compose").await;
}

/// Waits until the light preview shows `text`.
pub async fn preview_shows(browser: &Browser, text: &str) -> String {
    wait_until(
        browser,
        r#"document.querySelector('form#compose[data-preview="ready"]') !== null"#,
        "a rendered preview",
    )
    .await;
    // The light pane may be behind the Dark tab (the page's theme picks
    // the tab), so its text is read whether it shows or not.
    let found = format!(
        "document.getElementById('preview-light').textContent.includes({})",
        json!(text)
    );
    wait_until(browser, &found, &format!("the preview showing {text:?}")).await;
    script(
        browser,
        "return document.getElementById('preview-light').textContent;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Picks the audience choice labelled `label` from the keyboard, the
/// focus in the picker: types `typed`, moves to it with the arrow keys,
/// then Enter.
pub async fn choose_with_keys(browser: &Browser, typed: &str, label: &str) {
    if !typed.is_empty() {
        press(browser, typed).await;
    }
    results_open(browser).await;
    let count = script(
        browser,
        "return document.querySelectorAll('#audience-results [role=option]').length;",
        vec![],
    )
    .await
    .as_u64()
    .unwrap();
    for _ in 0..count {
        press(browser, &Key::Down.to_string()).await;
        let active = script(
            browser,
            "const id = document.getElementById('audience-search').getAttribute('aria-activedescendant');
             return id ? document.getElementById(id).firstChild.textContent : null;",
            vec![],
        )
        .await;
        if active.as_str() == Some(label) {
            press(browser, &Key::Enter.to_string()).await;
            wait_for_text(browser, "#picked", label).await;
            return;
        }
    }
    panic!("typing {typed:?} offered no {label:?}");
}

/// Waits until the picker's list of matches is open.
pub async fn results_open(browser: &Browser) {
    wait_until(
        browser,
        "!document.getElementById('audience-results').hidden && \
         document.querySelectorAll('#audience-results [role=option]').length > 0 && \
         document.getElementById('audience-search').getAttribute('aria-expanded') === 'true'",
        "showing the picker's matches",
    )
    .await;
}

/// The picked targets' specs, as the form will post them.
pub async fn picked_targets(browser: &Browser) -> Vec<String> {
    let found = script(
        browser,
        "return Array.from(document.querySelectorAll('#picked input[name=target]')).map(i => i.value);",
        vec![],
    )
    .await;
    serde_json::from_value(found).unwrap()
}

/// A CSV file of people to upload; removed when dropped.
pub struct CsvFile(pub PathBuf);

impl CsvFile {
    pub fn new(name: &str, rows: &[String]) -> Self {
        let folder = std::env::temp_dir().join(format!(
            "herald-csv-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(name);
        std::fs::write(&path, format!("userPrincipalName\n{}\n", rows.join("\n"))).unwrap();
        Self(path)
    }
}

impl Drop for CsvFile {
    fn drop(&mut self) {
        if let Some(folder) = self.0.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// Chooses `file` in the compose page's file field and waits for the
/// check against the directory to be reported; returns the report.
pub async fn upload_csv(browser: &Browser, file: &CsvFile, expected: &str) -> String {
    wait_for(browser, "#csv-file")
        .await
        .send_keys(&file.0.display().to_string())
        .await
        .unwrap();
    wait_for_text(browser, "#csv-report", expected).await
}

/// Presses one of the compose form's buttons (`save`, `test`, `send`).
pub async fn press_action(browser: &Browser, action: &str) {
    click(
        browser,
        &format!(r#"button[name="action"][value="{action}"]"#),
    )
    .await;
}

/// Saves the form and goes on to review the send; the draft's id.
pub async fn save_and_review(browser: &Browser) -> String {
    press_action(browser, "send").await;
    let path = wait_for_path(browser, "the confirm page", |p| {
        p.starts_with("/drafts/") && p.ends_with("/send")
    })
    .await;
    wait_for(browser, "#send-now").await;
    id_in(&path)
}

/// Whether any script that typed text smuggled in has run, and what of it
/// is in the page: `window.hacked`, script elements that are not Herald's
/// own files, images with `onerror`, and `javascript:` links.
pub async fn assert_nothing_ran(browser: &Browser, context: &str) {
    let found = script(
        browser,
        r#"
        const preview = document.getElementById('preview-light');
        const inPreview = (css) => preview ? preview.querySelectorAll(css).length : 0;
        return {
          hacked: typeof window.hacked,
          previewScripts: inPreview('script'),
          previewImgOnerror: inPreview('img[onerror]'),
          previewJsLinks: inPreview('a[href^="javascript:"]'),
          inlineScripts: document.querySelectorAll('script:not([src])').length,
          onerror: document.querySelectorAll('[onerror]').length,
          jsLinks: document.querySelectorAll('a[href^="javascript:"], [href^="javascript:" i]').length,
        };
        "#,
        vec![],
    )
    .await;
    assert_eq!(
        found,
        json!({
            "hacked": "undefined",
            "previewScripts": 0,
            "previewImgOnerror": 0,
            "previewJsLinks": 0,
            "inlineScripts": 0,
            "onerror": 0,
            "jsLinks": 0,
        }),
        "{context}: typed markup got into the page as markup"
    );
}

/// Fails the test on any error in the browser's console since the last
/// look but the `expected` ones and the emulator's missing favicon (its
/// account picker names none, so Chromium asks for `/favicon.ico`).
pub async fn assert_console_clean(
    browser: &Browser,
    herald: &TestHerald,
    context: &str,
    expected: &[&str],
) {
    let favicon = format!("{}/favicon.ico ", herald.emulator.urls.base);
    let mut allowed = expected.to_vec();
    allowed.push(&favicon);
    browser.assert_no_console_errors(context, &allowed).await;
}

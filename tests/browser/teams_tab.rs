//! Herald inside Teams, in Chromium with third-party cookies blocked: the
//! emulator's page that plays the Teams client (on `localhost`) frames
//! Herald's tab (on `127.0.0.1`, another site), and answers the Teams
//! JavaScript library in Herald's page as Teams does. Nobody sees a
//! sign-in page; authors compose and send there; everyone else gets their
//! announcements; the theme follows Teams'; where Teams has no token to
//! give, the pop-up signs in.

use std::time::Duration;

use herald_domain::DeliveryStatus;
use herald_microsoft::TeamsApp;
use herald_testkit::TestHerald;
use serde_json::{Value, json};

use crate::harness::{
    Browser, assert_accessible, click, save_screenshot, script, type_into, wait_for, wait_for_text,
    wait_until,
};
use crate::site::{press_action, start};
use crate::tls::TlsFront;

/// The manifest `herald teams-app` would write for this Herald: the tab's
/// address and the SSO resource come from it, as Teams takes them.
fn manifest(herald: &TestHerald, base: &str) -> Value {
    let urls = &herald.emulator.urls;
    TeamsApp {
        manifest_id: urls.manifest_id.clone(),
        app_id: urls.app_id.clone(),
        public_url: base.parse().unwrap(),
        version: "1.0.0".to_owned(),
        developer: "Contoso".to_owned(),
    }
    .manifest()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Opens Teams for `upn` with Herald's tab, and steps into the tab.
async fn open_in_teams(browser: &Browser, herald: &TestHerald, upn: &str, consent: &str) {
    open_tab_at(browser, herald, &herald.web_base(), upn, consent, "en-US").await;
}

/// The same, with Herald at `base` (its https front).
async fn open_tab_at(
    browser: &Browser,
    herald: &TestHerald,
    base: &str,
    upn: &str,
    consent: &str,
    locale: &str,
) {
    let manifest = manifest(herald, base);
    let tab = manifest["staticTabs"][0]["contentUrl"].as_str().unwrap();
    let resource = manifest["webApplicationInfo"]["resource"].as_str().unwrap();
    let page = format!(
        "{}?user={}&tab={}&resource={}&theme=default&consent={consent}&locale={locale}",
        herald.emulator.urls.teams_client,
        encode(upn),
        encode(tab),
        encode(resource),
    );
    assert!(page.starts_with("http://localhost:"), "{page}");
    browser.goto(&page).await.unwrap();
    into_tab(browser).await;
}

async fn into_tab(browser: &Browser) {
    wait_for(browser, "iframe#tab").await;
    browser.enter_frame(0).await.unwrap();
}

/// The tab's own path (WebDriver's URL is the top page's).
async fn wait_for_tab_path(browser: &Browser, wanted: &str) {
    wait_until(
        browser,
        &format!(
            "location.pathname === {} && document.readyState === 'complete'",
            json!(wanted)
        ),
        &format!("the tab on {wanted}"),
    )
    .await;
}

async fn screenshot_of_teams(browser: &Browser, name: &str) {
    if std::env::var_os("HERALD_SCREENSHOTS").is_none() {
        return;
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/screenshots")
        .join(format!("{name}.png"));
    save_screenshot(browser, &path).await;
}

async fn teams_theme(browser: &Browser, button: &str, theme: &str) {
    browser.enter_parent_frame().await.unwrap();
    click(browser, &format!("#theme-{button}")).await;
    browser.enter_frame(0).await.unwrap();
    wait_until(
        browser,
        &format!("document.documentElement.getAttribute('data-theme') === '{theme}'"),
        &format!("the tab in Teams' {theme} theme"),
    )
    .await;
}

#[tokio::test]
async fn an_author_is_signed_in_by_teams_composes_and_sends_and_the_theme_follows_teams() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    let author = &staff[1].0;

    open_in_teams(&browser, &herald, author, "granted").await;
    // No sign-in page: the tab goes from /teams straight to Herald.
    wait_for_tab_path(&browser, "/").await;
    wait_for_text(&browser, "h1", "Announcements").await;
    assert_eq!(
        crate::harness::text(&browser, ".who .badge").await,
        "Author"
    );

    // Compose and send, in the frame.
    let people = herald.people(5, 2).await;
    click(&browser, r#"nav a[href="/drafts/new"]"#).await;
    wait_for(&browser, "form#compose").await;
    type_into(&browser, "#title", "Badges renewed at reception").await;
    type_into(&browser, "#csv", &people.join("\n")).await;
    press_action(&browser, "send").await;
    wait_for(&browser, "#send-now").await;
    click(&browser, "#send-now").await;
    wait_until(
        &browser,
        "location.pathname.startsWith('/announcements/')",
        "the announcement's page in the tab",
    )
    .await;
    let path: String = script(&browser, "return location.pathname;", vec![])
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let id =
        herald_domain::NotificationId(path.trim_start_matches("/announcements/").parse().unwrap());
    let done = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(done.count(DeliveryStatus::Delivered), 2);
    assert_accessible(&browser, "the tab in Teams, light").await;
    screenshot_of_teams(&browser, "teams-tab-author-light").await;

    // Teams switches to dark, then high contrast: the tab follows, and
    // keeps following on its next page.
    teams_theme(&browser, "dark", "dark").await;
    assert_accessible(&browser, "the tab in Teams, dark").await;
    screenshot_of_teams(&browser, "teams-tab-author-dark").await;
    click(&browser, r#"nav a[href="/"]"#).await;
    wait_for_tab_path(&browser, "/").await;
    wait_until(
        &browser,
        "document.documentElement.getAttribute('data-theme') === 'dark'",
        "the next page still dark",
    )
    .await;
    teams_theme(&browser, "contrast", "contrast").await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn a_recipient_sees_their_announcements_acknowledges_and_goes_critical_only() {
    let herald = start().await;
    let people = herald.people(3, 2).await;
    let (person, other) = (&people[0], &people[1]);
    let mut asks = herald_testkit::content("Fire drill on Thursday at 10:00");
    asks.acknowledgement_required = true;
    let mine = herald
        .send_to(&asks, std::slice::from_ref(person))
        .await
        .unwrap();
    herald.wait_until_ended(mine, Duration::from_secs(60)).await;
    let theirs = herald
        .send_to(
            &herald_testkit::content("Parking for the other team"),
            std::slice::from_ref(other),
        )
        .await
        .unwrap();
    herald
        .wait_until_ended(theirs, Duration::from_secs(60))
        .await;

    let browser = Browser::start().await;
    // Teams in German: the pages write numbers as Teams' locale does,
    // whatever the browser's own language.
    let base = herald.web_base();
    open_tab_at(&browser, &herald, &base, person, "granted", "de-DE").await;
    wait_for_tab_path(&browser, "/for-you").await;
    wait_for_text(&browser, "h1", "Announcements for you").await;
    let group = script(
        &browser,
        "return document.documentElement.getAttribute('data-group');",
        vec![],
    )
    .await;
    assert_eq!(group, json!("."), "numbers grouped as German writes them");
    let page = crate::harness::text(&browser, "main").await;
    assert!(page.contains("Fire drill on Thursday"), "{page}");
    assert!(!page.contains("Parking for the other team"), "{page}");
    screenshot_of_teams(&browser, "teams-tab-recipient-light").await;
    teams_theme(&browser, "dark", "dark").await;
    // The cards are drawn again with Teams' dark host config.
    wait_for(&browser, "#for-you [data-card-json].dark").await;
    assert_accessible(&browser, "a recipient's tab, dark").await;
    screenshot_of_teams(&browser, "teams-tab-recipient-dark").await;

    // Acknowledge there, as in the chat.
    click(&browser, "form[action$='/acknowledge'] button").await;
    wait_for_text(&browser, "main", "You acknowledged").await;
    let report = herald.progress(mine).await;
    assert_eq!(report.notification.acknowledged, 1);

    // Critical only: the same as replying stop to the bot.
    click(&browser, "input[name='receive'][value='critical']").await;
    click(&browser, "#save-setting").await;
    wait_until(
        &browser,
        "document.querySelector('input[name=\"receive\"][value=\"critical\"]').checked",
        "the setting saved",
    )
    .await;
    let id: uuid::Uuid = herald.user_id(person).await.parse().unwrap();
    let setting = herald.store().recipient_setting(id).await.unwrap().unwrap();
    assert!(setting.opted_out, "the bot's state says all announcements");
    // And the bot acts on it: an ordinary announcement skips them now.
    let later = herald
        .send_to(
            &herald_testkit::content("Cake in the kitchen"),
            std::slice::from_ref(person),
        )
        .await
        .unwrap();
    let ended = herald
        .wait_until_ended(later, Duration::from_secs(60))
        .await;
    assert_eq!(ended.count(DeliveryStatus::Delivered), 0);
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn without_consent_the_pop_up_signs_in_and_a_forged_token_signs_in_nobody() {
    // Behind https, as in production: teams-js opens pop-ups only there.
    let front = TlsFront::bind().await;
    let public = front.url();
    let mut config = herald_testkit::emulator_config(40);
    config.directory.groups = 2;
    let herald = TestHerald::start(config, |settings| {
        settings.web.public_url = Some(public.clone());
    })
    .await;
    front.serve(herald.running().web.as_ref().unwrap().address);
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    let admin = &staff[0].0;

    open_tab_at(&browser, &herald, &public, admin, "missing", "en-US").await;
    wait_for_tab_path(&browser, "/teams").await;
    wait_for_text(&browser, "#teams-status", "could not sign you in by itself").await;

    // A forged token, posted by the tab's own page: no session.
    let status = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/ui/teams/sign-in', {method: 'POST', headers: {'Content-Type': 'application/json'}, \
               body: JSON.stringify({token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJ0aWQiOiJ4In0.c2ln'})}) \
               .then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(401));
    let signed_in = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/', {redirect: 'manual'}).then(r => done(r.type));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(signed_in, json!("opaqueredirect"), "not signed in");

    // The pop-up: Herald's sign-in in a window of its own, which hands
    // the tab a code through Teams and closes.
    let main = browser.window().await.unwrap();
    click(&browser, "#teams-pop-up").await;
    wait_for_tab_path(&browser, "/").await;
    wait_for_text(&browser, "h1", "Announcements").await;
    assert_eq!(crate::harness::text(&browser, ".who .badge").await, "Admin");
    assert_eq!(browser.windows().await.unwrap(), vec![main]);
    browser.enter_parent_frame().await.unwrap();
    let log = crate::harness::text(&browser, "#host-log").await;
    assert!(log.contains("authentication.authenticate"), "{log}");
    browser.close().await;
    herald.stop().await;
}

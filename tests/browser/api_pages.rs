//! The API pages as an admin meets them: making a key (shown once),
//! seeing it used, revoking it; and the API reference with its examples.
//! Both pass axe in every theme and fit a phone.

use herald_testkit::api::Program;

use crate::a11y::check;
use crate::flows::alert_text;
use crate::harness::{
    Browser, click, screenshot, script, text, type_into, wait_for, wait_for_text,
};
use crate::site::{assert_console_clean, open, sign_in, start, use_theme};

#[tokio::test]
async fn an_admin_makes_a_key_sees_it_once_and_revokes_it() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[0].0).await;

    click(&browser, "nav a[href='/admin/api-keys']").await;
    wait_for_text(&browser, "h1", "API keys").await;
    wait_for(&browser, "#no-keys").await;
    type_into(&browser, "#key-name", "Payroll <system>").await;
    script(
        &browser,
        "document.getElementById('key-scope').value = 'send'",
        vec![],
    )
    .await;
    click(&browser, "#create-key").await;
    wait_for(&browser, "#new-key").await;
    let key = script(
        &browser,
        "return document.getElementById('new-key-value').value",
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_owned();
    assert!(key.starts_with("herald_"), "{key}");
    let listed = text(&browser, "#keys tbody").await;
    assert!(
        listed.contains("Payroll <system>") && listed.contains("Never"),
        "{listed}"
    );
    screenshot(&browser, "api-keys").await;

    // The program uses it; the page says when, and never shows it again.
    let program = Program::new(&herald.web_base(), &key);
    program.json("/api/v1/announcements").await;
    open(&browser, &herald, "/admin/api-keys").await;
    let listed = text(&browser, "#keys tbody").await;
    assert!(!listed.contains("Never"), "the last use is shown: {listed}");
    let page = script(
        &browser,
        "return document.documentElement.outerHTML",
        vec![],
    )
    .await;
    assert!(!page.as_str().unwrap().contains(&key), "shown once only");

    // An empty name is refused, saying why, with nothing made.
    click(&browser, "#create-key").await;
    wait_for_text(&browser, "#key-error", "name").await;
    assert_eq!(
        script(
            &browser,
            "return document.querySelectorAll('#keys tbody tr').length",
            vec![]
        )
        .await,
        1
    );

    click(&browser, "#keys button.danger").await;
    assert!(
        alert_text(&browser)
            .await
            .contains("Revoke the key Payroll <system>?")
    );
    browser.accept_alert().await.unwrap();
    wait_for_text(&browser, "#keys tbody", "Revoked").await;
    assert_eq!(program.get("/api/v1/announcements").await.status(), 401);
    // The refused form answers 422, as every refused form does.
    assert_console_clean(
        &browser,
        &herald,
        "the API keys page",
        &["api-keys - Failed to load resource: the server responded with a status of 422"],
    )
    .await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn the_api_reference_shows_every_route_with_an_example() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    open(&browser, &herald, "/admin/api").await;
    wait_for_text(&browser, "h1", "API reference").await;
    let routes = script(
        &browser,
        "return document.querySelectorAll('section.route').length",
        vec![],
    )
    .await;
    assert_eq!(routes, 16, "one section per route of openapi.json");
    let create = text(&browser, "#curl-2").await;
    assert!(
        create.contains("POST")
            && create.contains("Idempotency-Key")
            && create.contains("$HERALD/announcements"),
        "{create}"
    );
    screenshot(&browser, "api-reference").await;
    for theme in ["light", "dark", "contrast"] {
        use_theme(&browser, theme).await;
        check(&browser, theme, "API reference").await;
        open(&browser, &herald, "/admin/api-keys").await;
        check(&browser, theme, "API keys").await;
        open(&browser, &herald, "/admin/teams-app").await;
        check(&browser, theme, "Teams app").await;
        open(&browser, &herald, "/admin/api").await;
    }
    assert_console_clean(&browser, &herald, "the API reference", &[]).await;
    browser.close().await;
    herald.stop().await;
}

//! What people type, in the browser: markup typed into any field never
//! becomes markup in the page or the preview, and the compose page works
//! from the keyboard alone.

use fantoccini::key::Key;
use serde_json::json;

use crate::harness::{
    Browser, press, script, text, type_into, wait_for, wait_for_path, wait_for_text, wait_until,
};
use crate::site::{
    assert_console_clean, assert_nothing_ran, choose_with_keys, new_announcement, open, people,
    plain_group, press_action, preview_shows, save_and_review, sign_in, start,
};

const SCRIPT: &str = "<script>window.hacked=1</script>";
const ATTRIBUTE: &str = r#""><img src=x onerror="window.hacked=1">"#;
const LINK: &str = "[x](javascript:window.hacked=1)";

/// The compose page's text fields that end up in the card or the page,
/// with a short tag each, so a test can tell its text apart.
const TEXT_FIELDS: &[(&str, &str)] = &[
    ("#title", "ti"),
    ("#summary", "su"),
    ("#author", "au"),
    ("#feed_text", "fe"),
    ("#button1_title", "b1"),
    ("#button2_title", "b2"),
    // Typed last: once the preview shows it, it shows all of them.
    ("#button3_title", "b3"),
];

/// Link fields: each trick after an https address of this machine where
/// nothing listens, so the form stays valid and nothing leaves it.
const URL_FIELDS: &[&str] = &["#image_url", "#button1_url", "#button2_url", "#button3_url"];

#[tokio::test]
async fn markup_typed_into_any_field_stays_text() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;

    for (round, trick) in [SCRIPT, ATTRIBUTE, LINK].into_iter().enumerate() {
        let context = |stage: &str| format!("{trick:?} {stage}");
        for field in URL_FIELDS {
            type_into(
                &browser,
                field,
                &format!("https://127.0.0.1:9/{round}?{trick}"),
            )
            .await;
        }
        for (field, tag) in TEXT_FIELDS {
            type_into(&browser, field, &format!("{tag}{round} {trick}")).await;
        }
        // The picker's search box takes it too.
        type_into(&browser, "#audience-search", trick).await;
        wait_until(
            &browser,
            "document.getElementById('audience-status').textContent !== ''",
            "answering the search",
        )
        .await;

        // The preview has rendered every field.
        let shown = preview_shows(&browser, &format!("b3{round} ")).await;
        assert!(
            shown.contains(&format!("ti{round} ")) && shown.contains(&format!("su{round} ")),
            "{shown}"
        );
        if trick != LINK {
            assert!(shown.contains(trick), "shown as typed: {shown}");
        }
        assert_nothing_ran(&browser, &context("in the preview")).await;

        // Saved, and the page drawn again from what was stored.
        press_action(&browser, "save").await;
        wait_for_path(&browser, "the saved draft", |p| p.ends_with("?done=saved")).await;
        wait_for_text(&browser, ".notice", "Saved.").await;
        let title = wait_for(&browser, "#title")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(title, Some(format!("ti{round} {trick}")), "kept as typed");
        preview_shows(&browser, &format!("b3{round} ")).await;
        assert_nothing_ran(&browser, &context("after saving")).await;

        open(&browser, &herald, "/").await;
        let list = wait_for_text(&browser, "table.list", &format!("ti{round} ")).await;
        assert!(list.contains(trick), "the list shows it as text: {list}");
        assert_nothing_ran(&browser, &context("in the announcements list")).await;
        browser.back().await.unwrap();
        wait_for(&browser, "form#compose").await;
    }

    // A list of people holding markup: refused, and shown back as text.
    type_into(&browser, "#csv", &format!("{ATTRIBUTE}\n{SCRIPT}")).await;
    press_action(&browser, "save").await;
    wait_for_text(&browser, "#csv-error", "<script>window.hacked=1</script>").await;
    assert_nothing_ran(&browser, "a refused list").await;

    // The review page shows the title as text too.
    let person = people(&herald, 0, 1).await.remove(0);
    type_into(&browser, "#csv", &person).await;
    save_and_review(&browser).await;
    assert!(text(&browser, "h1").await.contains(LINK));
    assert_nothing_ran(&browser, "the review page").await;

    assert_console_clean(
        &browser,
        &herald,
        "typing markup",
        // The images of the preview, at an address where nothing listens,
        // and the refused save.
        &["127.0.0.1:9/", "status of 422"],
    )
    .await;
    browser.close().await;
    herald.stop().await;
}

/// What has the focus: its id, or else its accessible label.
async fn focused(browser: &Browser) -> String {
    script(
        browser,
        "const e = document.activeElement; return e.id || e.getAttribute('aria-label') || e.tagName;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// The element with the focus is on screen and not covered by anything
/// (such as the compose form's sticky buttons).
async fn assert_focus_in_sight(browser: &Browser, stop: &str) {
    let hit = script(
        browser,
        "const e = document.activeElement;
         const r = e.getBoundingClientRect();
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
         return hit === null ? 'nothing' : (e.contains(hit) ? 'itself' : hit.outerHTML.slice(0, 120));",
        vec![],
    )
    .await;
    assert_eq!(hit, json!("itself"), "the focus on {stop} is out of sight");
}

#[tokio::test]
async fn the_audience_is_picked_and_removed_from_the_keyboard() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    let group = plain_group(&herald).await;
    let name = group["displayName"].as_str().unwrap();

    // Tab from the top of the page to the picker.
    let mut stops = Vec::new();
    while focused(&browser).await != "audience-search" {
        assert!(
            stops.len() < 60,
            "Tab never reached the audience search; it went {stops:?}"
        );
        press(&browser, &Key::Tab.to_string()).await;
        let stop = focused(&browser).await;
        assert_focus_in_sight(&browser, &stop).await;
        stops.push(stop);
    }
    assert!(
        stops.iter().any(|s| s == "title"),
        "Tab passes the title on its way: {stops:?}"
    );

    // Type, arrow down to the group, Enter.
    let typed = name.split(' ').next().unwrap()[..4].to_lowercase();
    choose_with_keys(&browser, &typed, name).await;
    assert_eq!(focused(&browser).await, "audience-search");
    wait_until(
        &browser,
        "document.getElementById('audience-results').hidden",
        "closing the matches after a pick",
    )
    .await;
    // Enter picked and did not submit the form.
    assert_eq!(
        wait_for_path(&browser, "the compose page", |_| true).await,
        "/drafts/new"
    );

    // Back one stop is the pick's Remove button; Enter removes it.
    press(&browser, &format!("{}{}", Key::Shift, Key::Tab)).await;
    assert_eq!(focused(&browser).await, format!("Remove {name}"));
    press(&browser, &Key::Enter.to_string()).await;
    wait_until(
        &browser,
        "document.querySelectorAll('#picked li').length === 0",
        "without the pick",
    )
    .await;
    assert_eq!(
        focused(&browser).await,
        "audience-search",
        "the focus goes back to the search, not to the page's top"
    );
    let live = script(
        &browser,
        "return document.getElementById('audience-status').textContent;",
        vec![],
    )
    .await;
    assert_eq!(live, json!(format!("{name} removed.")));

    assert_console_clean(&browser, &herald, "the keyboard", &[]).await;
    browser.close().await;
    herald.stop().await;
}

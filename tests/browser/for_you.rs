//! Announcements for you in Chromium: someone with no role signs in and
//! lands on their own page, sees the cards that reached them drawn as
//! Teams draws them, acknowledges one and switches to critical
//! announcements only, from the keyboard; the page is checked with axe in
//! every theme, at a desktop's width and a phone's.

use std::time::Duration;

use fantoccini::key::Key;
use herald_testkit::content;

use crate::a11y::check;
use crate::harness::{
    Browser, press, screenshot, script, text, wait_for_path, wait_for_text, wait_until,
};
use crate::site::{assert_console_clean, people, sign_in_typed, start, use_theme, user_id};

/// Waits until the page has drawn `count` cards.
async fn cards_drawn(browser: &Browser, count: usize) {
    wait_until(
        browser,
        &format!(
            "document.getElementById('for-you').getAttribute('data-preview') === 'ready' && \
             document.querySelectorAll('#for-you .card-frame .ac-adaptiveCard').length === {count}"
        ),
        "the cards drawn",
    )
    .await;
}

/// Focuses the element with this id, as tabbing to it would.
async fn focus(browser: &Browser, id: &str) {
    script(
        browser,
        "document.getElementById(arguments[0]).focus();",
        vec![id.into()],
    )
    .await;
}

#[tokio::test]
async fn a_person_without_a_role_reads_acknowledges_and_picks_what_comes() {
    let herald = start().await;
    let browser = Browser::start().await;
    let upn = people(&herald, 0, 1).await.remove(0);
    let canteen = herald
        .send_to(&content("Canteen reopens"), std::slice::from_ref(&upn))
        .await
        .unwrap();
    herald
        .wait_until_ended(canteen, Duration::from_secs(60))
        .await;
    let mut asking = content("Fire drill on Tuesday");
    asking.summary = Some("Meet at the **car park** at 10:00.".to_owned());
    asking.acknowledgement_required = true;
    let drill = herald
        .send_to(&asking, std::slice::from_ref(&upn))
        .await
        .unwrap();
    herald
        .wait_until_ended(drill, Duration::from_secs(60))
        .await;

    sign_in_typed(&browser, &herald, &upn).await;
    wait_for_path(&browser, "their own page", |p| p == "/for-you").await;
    wait_for_text(&browser, "h1", "Announcements for you").await;
    cards_drawn(&browser, 2).await;
    // The card as Teams draws it, Markdown and all, newest first, without
    // the card's own button: the page's is below it.
    let first = text(&browser, "#for-you > li:first-child .card-frame").await;
    assert!(first.contains("Fire drill on Tuesday"), "{first}");
    assert!(
        first.contains("car park") && !first.contains("**"),
        "{first}"
    );
    let buttons = script(
        &browser,
        "return document.querySelectorAll('#for-you .card-frame button').length;",
        vec![],
    )
    .await;
    assert_eq!(buttons, 0, "no button inside the cards");
    for theme in ["light", "dark", "contrast"] {
        use_theme(&browser, theme).await;
        cards_drawn(&browser, 2).await;
        check(&browser, theme, "announcements for you").await;
    }
    screenshot(&browser, "for-you").await;

    // Acknowledge, from the keyboard.
    focus(&browser, &format!("acknowledge-{drill}")).await;
    press(&browser, &Key::Enter.to_string()).await;
    wait_for_text(&browser, "#notice", "your acknowledgement was recorded").await;
    wait_for_text(
        &browser,
        &format!("#acknowledged-{drill}"),
        "You acknowledged this on",
    )
    .await;
    let person: uuid::Uuid = user_id(&herald, &upn).await.parse().unwrap();
    assert_eq!(
        herald.store().acknowledged_by(drill).await.unwrap(),
        [person]
    );
    cards_drawn(&browser, 2).await;
    check(&browser, "contrast", "announcements for you, acknowledged").await;

    // Only critical announcements: the arrow keys pick, Tab reaches Save.
    focus(&browser, "receive-all").await;
    press(&browser, &Key::Down.to_string()).await;
    press(&browser, &Key::Tab.to_string()).await;
    press(&browser, &Key::Enter.to_string()).await;
    wait_for_text(&browser, "#setting-notice", "only critical announcements").await;
    let checked = script(
        &browser,
        "return document.getElementById('receive-critical').checked;",
        vec![],
    )
    .await;
    assert_eq!(checked, true);
    let stored = herald
        .store()
        .people(&[herald_domain::RecipientId(person)])
        .await
        .unwrap();
    assert!(stored[0].opted_out, "the flag stop sets");
    check(&browser, "contrast", "announcements for you, setting saved").await;

    assert_console_clean(&browser, &herald, "announcements for you", &[]).await;
    browser.close().await;
    herald.stop().await;
}

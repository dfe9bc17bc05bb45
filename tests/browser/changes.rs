//! Editing and recalling a sent announcement in Chromium: the form without
//! the audience, the review with the cards side by side, the update
//! reaching every chat, the recipients table with versions, and a recall
//! with a notice while it is still going.

use std::time::Duration;

use herald_domain::NotificationStatus;
use herald_testkit::{TestHerald, emulator_config};

use crate::flows::alert_text;
use crate::harness::{
    Browser, click, screenshot, type_into, wait_for, wait_for_path, wait_for_text, wait_until,
};
use crate::site::{
    CsvFile, assert_console_clean, new_announcement, notification, open, people, save_and_review,
    sign_in, upload_csv, user_id,
};

async fn change_done(herald: &TestHerald, id: &str) {
    herald
        .wait_for_change(notification(id), Duration::from_secs(60))
        .await;
}

#[tokio::test]
async fn an_author_edits_a_sent_announcement_then_withdraws_it() {
    let mut config = emulator_config(80);
    config.behaviour.global_rps = 40;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 40.0).await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;

    new_announcement(&browser).await;
    type_into(&browser, "#title", "Canteen closed on Friday").await;
    type_into(&browser, "#summary", "Lunch is in the **atrium** instead.").await;
    let listed = people(&herald, 0, 40).await;
    let file = CsvFile::new("kitchen-staff.csv", &listed);
    upload_csv(&browser, &file, "40 people found").await;
    let id = save_and_review(&browser).await;
    click(&browser, "#send-now").await;
    wait_for_path(&browser, "the announcement's page", |p| {
        p == format!("/announcements/{id}")
    })
    .await;
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(60))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    browser.refresh().await.unwrap();

    // Edit: the form keeps the audience, the review shows what changes.
    click(&browser, "#edit-sent").await;
    wait_for(&browser, "#sent-audience").await;
    type_into(&browser, "#title", "Canteen closed on Thursday").await;
    click(&browser, "#review-update").await;
    wait_for_text(&browser, "h1", "Update").await;
    wait_until(
        &browser,
        "document.getElementById('compare').getAttribute('data-preview') === 'ready' && \
         document.querySelectorAll('#compare .ac-adaptiveCard').length === 2",
        "both cards drawn",
    )
    .await;
    wait_for_text(&browser, "#changed ins", "Canteen closed on Thursday").await;
    wait_for_text(&browser, "#estimate", "replaced for 40").await;
    screenshot(&browser, "edit-review").await;
    click(&browser, "#update-everyone").await;
    wait_for_path(&browser, "the announcement's page", |p| {
        p.starts_with(&format!("/announcements/{id}"))
    })
    .await;
    wait_for_text(&browser, "#notice", "The update is on its way").await;
    change_done(&herald, &id).await;
    for upn in &listed {
        let messages = herald.messages(&user_id(&herald, upn).await).await;
        assert_eq!(messages.len(), 1, "{upn}");
        assert_eq!(messages[0]["version"], 2, "{upn}");
        assert!(messages[0]["activity"].to_string().contains("Thursday"));
    }
    open(
        &browser,
        &herald,
        &format!("/announcements/{id}/recipients"),
    )
    .await;
    wait_for(&browser, "#recipients tbody tr").await;
    wait_for_text(&browser, "#recipients tbody tr", "updated").await;
    // The CSV, saved as a person would, carries each one's version and
    // how the edit went.
    click(&browser, "#csv").await;
    let (name, saved) = browser.downloaded(Duration::from_secs(30)).await;
    assert_eq!(name, "Canteen closed on Thursday - recipients.csv");
    let saved = String::from_utf8(saved).unwrap();
    let mut lines = saved.trim_start_matches('\u{feff}').lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",version,change,change_reason")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r.ends_with(",2,updated,")), "{rows:?}");

    // Withdraw, slowly enough to watch it go.
    herald
        .configure_emulator(serde_json::json!({"global_rps": 2}))
        .await;
    open(&browser, &herald, &format!("/announcements/{id}")).await;
    wait_for_text(&browser, "#change-list", "Edited by").await;
    click(&browser, "#recall-notice").await;
    click(&browser, "#recall").await;
    let asked = alert_text(&browser).await;
    assert!(asked.contains("Recall it from the 40 people"), "{asked}");
    browser.accept_alert().await.unwrap();
    wait_for_text(&browser, "#notice", "The recall is on its way").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    browser.refresh().await.unwrap();
    wait_for_text(&browser, "#change-list", "in progress").await;
    screenshot(&browser, "recall-in-progress").await;
    herald
        .configure_emulator(serde_json::json!({"global_rps": 40}))
        .await;
    // The page follows the recall live, as it follows a send.
    crate::harness::script(&browser, "window.stillThisPage = true;", vec![]).await;
    crate::harness::wait_until_within(
        &browser,
        "window.stillThisPage === true && document.getElementById('change-text').textContent.includes(', done')",
        "the recall shown done without a reload",
        Duration::from_secs(90),
    )
    .await;
    change_done(&herald, &id).await;
    for upn in &listed {
        let messages = herald.messages(&user_id(&herald, upn).await).await;
        let card = messages[0]["activity"].to_string();
        assert!(card.contains("withdrawn by"), "{upn}: {card}");
        assert!(!card.contains("atrium"), "{upn}");
    }
    wait_for_text(&browser, "#status", "Recalled").await;
    browser.refresh().await.unwrap();
    wait_for_text(&browser, "#change-list", "done").await;
    wait_for_text(&browser, "#status", "Recalled").await;
    assert_console_clean(&browser, &herald, "editing and recalling", &[]).await;
    browser.close().await;
    herald.stop().await;
}

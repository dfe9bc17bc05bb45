use std::time::Duration;

use herald_domain::{Button, Content, DeliveryStatus, NotificationStatus};
use herald_prepare_error::assert_submit_refused;
use herald_testkit::{TestHerald, content, emulator_config};

mod herald_prepare_error {
    /// Asserts a submit was refused and nothing was stored.
    pub async fn assert_submit_refused(
        herald: &herald_testkit::TestHerald,
        content: &herald_domain::Content,
        expected: &str,
    ) {
        let people = vec!["someone@contoso.example".to_owned()];
        let error = herald
            .send_to(content, &people)
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{error}");
        let stored: i64 = sqlx_count(herald).await;
        assert_eq!(stored, 0, "nothing stored");
    }

    async fn sqlx_count(herald: &herald_testkit::TestHerald) -> i64 {
        herald.store().notification_count().await.unwrap()
    }
}

#[tokio::test]
async fn oversized_cards_are_refused_before_anything_is_stored() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let mut big = content("Too big");
    big.summary = Some("x".repeat(Content::MAX_SUMMARY));
    big.buttons = (0..6)
        .map(|i| {
            Button::parse(
                i,
                "b",
                &format!("https://contoso.example/{}", "y".repeat(12_000)),
            )
            .unwrap()
        })
        .collect();
    assert_submit_refused(&herald, &big, "UTF-16 units").await;
    let mut long = content("Long");
    long.summary = Some("x".repeat(Content::MAX_SUMMARY + 1));
    assert_submit_refused(&herald, &long, "summary").await;
    herald.stop().await;
}

#[tokio::test]
async fn links_teams_would_not_open_are_refused_before_anything_is_stored() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let mut linked = content("Pay rise");
    linked.summary = Some("Read [the letter](http://contoso.example/letter).".to_owned());
    assert_submit_refused(&herald, &linked, "\"http://contoso.example/letter\"").await;
    linked.summary = None;
    linked.author = Some("[HR](javascript:alert(1))".to_owned());
    assert_submit_refused(&herald, &linked, "the author links to").await;
    herald.stop().await;
}

#[tokio::test]
async fn unknown_people_fail_the_notification_and_nothing_is_sent() {
    let herald = TestHerald::start(emulator_config(50), |_| {}).await;
    let mut people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(10)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    people.push("nobody@contoso.example".to_owned());
    people.push("ghost@contoso.example".to_owned());
    let id = herald.send_to(&content("Typos"), &people).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Failed);
    let error = progress.notification.error.clone().unwrap();
    assert!(
        error.contains("2 of the 12")
            && error.contains("nobody@contoso.example")
            && error.contains("ghost@contoso.example"),
        "{error}"
    );
    assert_eq!(progress.total(), 0, "no delivery rows");
    assert_eq!(herald.emulator_stats().await["activities_received"], 0);
    herald.stop().await;
}

#[tokio::test]
async fn an_app_missing_from_the_catalog_is_a_clear_notification_error() {
    let mut config = emulator_config(30);
    config.directory.installed_fraction = 0.0;
    config.behaviour.app_in_catalog = false;
    let herald = TestHerald::start(config, |_| {}).await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(5)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("No app"), &people).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Failed);
    assert!(
        progress
            .notification
            .error
            .clone()
            .unwrap()
            .contains("app catalog")
    );
    assert_eq!(progress.count(DeliveryStatus::Delivered), 0);
    herald.stop().await;
}

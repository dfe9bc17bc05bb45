//! Edits and recalls of sent announcements, checked in what each person's
//! chat shows in the emulator, not in what Herald believes.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use herald_domain::{
    ChangeKind, Content, DeliveryStatus, NotificationId, NotificationStatus, Title,
};
use herald_store::NewChange;
use herald_testkit::{TestHerald, content, emulator_config, seed_known_conversations};
use serde_json::Value;

/// People Herald knows the chats of; a fast tenant, so 2,000 take seconds.
async fn start(people: usize) -> (TestHerald, Vec<String>) {
    let mut config = emulator_config(people + 10);
    config.behaviour.global_rps = 400;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 400.0).await;
    let users = seed_known_conversations(herald.store(), &herald.emulator.urls, people)
        .await
        .unwrap();
    assert_eq!(users.len(), people);
    (herald, users)
}

/// Every person's chat as the emulator has it.
async fn chats(herald: &TestHerald, users: &[String]) -> HashMap<String, Vec<Value>> {
    stream::iter(users.iter().cloned())
        .map(|user| async move {
            let messages = herald.messages(&user).await;
            (user, messages)
        })
        .buffer_unordered(32)
        .collect()
        .await
}

fn title_of(message: &Value) -> String {
    message["activity"]["attachments"][0]["content"]["body"]
        .as_array()
        .and_then(|body| body.iter().find(|b| b["style"] == "heading"))
        .and_then(|b| b["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn start_change(
    herald: &TestHerald,
    id: NotificationId,
    kind: ChangeKind,
    content: Option<&Content>,
) -> herald_store::StartedChange {
    let change = NewChange {
        kind,
        content,
        mark_edited: true,
        notify: false,
        by: "Joni Vance",
    };
    herald_prepare::change(herald.store(), herald.broker(), id, &change)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_edit_during_the_send_leaves_everyone_one_message_in_the_new_version() {
    let (herald, users) = start(2_000).await;
    let id = herald
        .send_to(&content("Office closed on Friday"), &users)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 300
        })
        .await;
    let mut corrected = content("Office closed on Thursday");
    corrected.summary = Some("Sorry: Thursday, not Friday.".to_owned());
    let started = start_change(&herald, id, ChangeKind::Edit, Some(&corrected)).await;
    assert_eq!(started.version, 2);
    assert!(!started.recipients.is_empty());
    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(progress.count(DeliveryStatus::Delivered), 2_000);
    herald.wait_for_change(id, Duration::from_secs(120)).await;

    let seen = chats(&herald, &users).await;
    for (user, messages) in &seen {
        assert_eq!(messages.len(), 1, "{user} has one message: {messages:?}");
        let message = &messages[0];
        assert_eq!(message["deleted"], false);
        assert_eq!(title_of(message), "Office closed on Thursday", "{user}");
        // A card replaced in place says it was edited; one posted after
        // the edit is simply the new version.
        let replaced = message["version"] == 2;
        assert_eq!(
            message["activity"].to_string().contains("Edited"),
            replaced,
            "{user}: {message}"
        );
    }
    // Updated in place, or posted in the new version straight away.
    let updated = seen.values().filter(|m| m[0]["version"] == 2).count();
    assert!(updated >= 300, "{updated} cards were replaced");
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["duplicate_activities"], 0);
    let counts = herald.store().change_counts(id).await.unwrap();
    assert!(
        counts
            .iter()
            .all(|(status, _)| status.as_str() == "updated"),
        "{counts:?}"
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_recall_after_the_send_deletes_every_message() {
    let (herald, users) = start(2_000).await;
    let id = herald
        .send_to(&content("Wrong salary letter"), &users)
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(120)).await;
    let started = start_change(&herald, id, ChangeKind::Recall, None).await;
    assert_eq!(started.recipients.len(), 2_000);
    herald.wait_for_change(id, Duration::from_secs(120)).await;
    let seen = chats(&herald, &users).await;
    for (user, messages) in &seen {
        assert_eq!(messages.len(), 1, "{user}");
        assert_eq!(messages[0]["deleted"], true, "{user} no longer sees it");
    }
    let counts = herald.store().change_counts(id).await.unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts[0].0.as_str(), "recalled");
    assert_eq!(counts[0].1, 2_000);
    // Taken back for good.
    let again = herald_prepare::change(
        herald.store(),
        herald.broker(),
        id,
        &NewChange {
            kind: ChangeKind::Edit,
            content: Some(&content("Too late")),
            mark_edited: false,
            notify: false,
            by: "tests",
        },
    )
    .await;
    assert!(matches!(
        again,
        Err(herald_prepare::SubmitError::TakenBack(_))
    ));
    herald.stop().await;
}

#[tokio::test]
async fn a_recall_during_the_send_stops_it_and_removes_what_went_out() {
    let (herald, users) = start(2_000).await;
    herald
        .configure_emulator(serde_json::json!({"global_rps": 100}))
        .await;
    let id = herald
        .send_to(&content("Sent to the wrong people"), &users)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 100
        })
        .await;
    start_change(&herald, id, ChangeKind::Recall, None).await;
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Canceled);
    assert!(progress.count(DeliveryStatus::Canceled) > 0, "{progress:?}");
    herald.wait_for_change(id, Duration::from_secs(120)).await;
    let seen = chats(&herald, &users).await;
    let reached: usize = seen.values().map(Vec::len).sum();
    assert_eq!(
        reached as i64,
        herald.progress(id).await.count(DeliveryStatus::Delivered)
    );
    for (user, messages) in &seen {
        assert!(messages.len() <= 1, "{user}");
        assert!(
            messages.iter().all(|m| m["deleted"] == true),
            "{user} still sees it: {messages:?}"
        );
    }
    herald.stop().await;
}

#[tokio::test]
async fn a_recall_with_a_notice_replaces_every_card() {
    let (herald, users) = start(300).await;
    let mut original = content("Layoffs announced");
    original.summary = Some("A draft that was never meant to go out.".to_owned());
    let id = herald.send_to(&original, &users).await.unwrap();
    herald.wait_until_ended(id, Duration::from_secs(60)).await;
    start_change(&herald, id, ChangeKind::Withdraw, None).await;
    herald.wait_for_change(id, Duration::from_secs(60)).await;
    let seen = chats(&herald, &users).await;
    for (user, messages) in &seen {
        assert_eq!(messages.len(), 1, "{user}");
        let text = messages[0]["activity"].to_string();
        assert!(
            text.contains("This announcement was withdrawn by Joni Vance on"),
            "{user}: {text}"
        );
        assert!(
            !text.contains("never meant"),
            "{user} sees none of the original"
        );
    }
    herald.stop().await;
}

#[tokio::test]
async fn a_draft_is_not_changed_this_way() {
    let (herald, _) = start(5).await;
    let id = NotificationId::new();
    let mut draft = Content::new(Title::parse("Draft").unwrap());
    draft.summary = None;
    herald
        .store()
        .create_draft(
            id,
            &draft,
            &herald_domain::Audience::draft(Vec::new(), Vec::new()),
            &herald_store::Owner {
                id: uuid::Uuid::new_v4(),
                name: "Tests".to_owned(),
                upn: "tests@contoso.example".to_owned(),
            },
        )
        .await
        .unwrap();
    let refused = herald_prepare::change(
        herald.store(),
        herald.broker(),
        id,
        &NewChange {
            kind: ChangeKind::Recall,
            content: None,
            mark_edited: false,
            notify: false,
            by: "tests",
        },
    )
    .await;
    assert!(matches!(
        refused,
        Err(herald_prepare::SubmitError::NotSent(_))
    ));
    herald.stop().await;
}

#[tokio::test]
async fn an_edit_keeps_an_acknowledgement_and_can_say_in_the_chat_that_it_changed() {
    let (herald, users) = start(3).await;
    let mut asked = content("Read the travel policy");
    asked.acknowledgement_required = true;
    let id = herald.send_to(&asked, &users).await.unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    // The first person presses Acknowledge on their card.
    let card = herald.messages(&users[0]).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/users/{}/press", herald.emulator.urls.control, users[0]);
    let body = serde_json::json!({"activityId": card, "verb": "acknowledge", "data": {"notificationId": id.to_string()}});
    let pressed = herald.http.post(url).json(&body).send().await.unwrap();
    assert_eq!(pressed.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while herald.progress(id).await.notification.acknowledged < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the press was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut corrected = content("Read the new travel policy");
    corrected.acknowledgement_required = true;
    let change = NewChange {
        kind: ChangeKind::Edit,
        content: Some(&corrected),
        mark_edited: false,
        notify: true,
        by: "tests",
    };
    herald_prepare::change(herald.store(), herald.broker(), id, &change)
        .await
        .unwrap();
    herald.wait_for_change(id, Duration::from_secs(30)).await;
    for (n, user) in users.iter().enumerate() {
        let messages = herald.messages(user).await;
        assert_eq!(messages.len(), 2, "{user}: the card and the note");
        let card = messages[0]["activity"].to_string();
        assert!(card.contains("Read the new travel policy"), "{card}");
        assert!(!card.contains("Edited"), "not marked when not asked");
        let acknowledged = card.contains("You acknowledged this on");
        let asks = card.contains("\"verb\":\"acknowledge\"");
        assert_eq!((acknowledged, asks), (n == 0, n != 0), "{user}: {card}");
        let note = messages[1]["activity"]["text"].as_str().unwrap_or_default();
        assert_eq!(
            note,
            "This announcement was updated: Read the new travel policy"
        );
    }
    assert_eq!(
        herald.progress(id).await.notification.acknowledged,
        1,
        "kept"
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_channel_post_is_edited_and_then_recalled_in_place() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let directory = herald.emulator_get("/directory").await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_object())
        .expect("a team")
        .clone();
    let (team_id, channel) = (
        team["id"].as_str().unwrap().to_owned(),
        team["team"]["threadId"].as_str().unwrap().to_owned(),
    );
    let audience = herald_domain::Audience::new(vec![herald_domain::audience::Target::Channel {
        team: team_id,
        channel: None,
    }])
    .unwrap();
    let id = herald_prepare::submit(
        herald.store(),
        herald.broker(),
        &content("All hands moved"),
        &audience,
        "tests",
    )
    .await
    .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    let posts = || async {
        herald
            .emulator_get(&format!("/channels/{channel}/messages"))
            .await["messages"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(posts().await.len(), 1);

    start_change(
        &herald,
        id,
        ChangeKind::Edit,
        Some(&content("All hands moved to 4 pm")),
    )
    .await;
    herald.wait_for_change(id, Duration::from_secs(30)).await;
    let edited = posts().await;
    assert_eq!(edited.len(), 1, "the post is replaced, not posted again");
    assert_eq!(edited[0]["version"], 2);
    assert_eq!(title_of(&edited[0]), "All hands moved to 4 pm");

    start_change(&herald, id, ChangeKind::Recall, None).await;
    herald.wait_for_change(id, Duration::from_secs(30)).await;
    let recalled = posts().await;
    assert_eq!(recalled.len(), 1);
    assert_eq!(recalled[0]["deleted"], true);
    herald.stop().await;
}

#[tokio::test]
async fn someone_who_removed_herald_since_is_told_apart_and_everyone_else_is_changed() {
    let (herald, users) = start(4).await;
    let id = herald
        .send_to(&content("Parking closed"), &users)
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    // One person removes the app after the send.
    let url = format!(
        "{}/users/{}/uninstall",
        herald.emulator.urls.control, users[0]
    );
    let removed = herald.http.post(url).send().await.unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
    start_change(
        &herald,
        id,
        ChangeKind::Edit,
        Some(&content("Parking open")),
    )
    .await;
    herald.wait_for_change(id, Duration::from_secs(30)).await;
    assert_eq!(
        herald
            .change_count(id, herald_domain::ChangeStatus::Updated)
            .await,
        3
    );
    assert_eq!(
        herald
            .change_count(id, herald_domain::ChangeStatus::Failed)
            .await,
        1
    );
    let line = herald
        .store()
        .recipient_page(
            id,
            &herald_store::RecipientQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.recipient.to_string() == users[0])
        .unwrap();
    assert_eq!(line.version, 1, "their card is still the first");
    let reason = line.change_reason.unwrap();
    assert!(reason.contains("removed it since"), "{reason}");
    for user in &users[1..] {
        assert_eq!(herald.messages(user).await[0]["version"], 2);
    }
    herald.stop().await;
}

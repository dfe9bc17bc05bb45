use std::time::Duration;

use herald_domain::audience::Target;
use herald_domain::{Audience, DeliveryStatus, NotificationId};
use herald_testkit::{TestHerald, content, emulator_config};
use serde_json::{Value, json};

async fn press(
    herald: &TestHerald,
    user: &str,
    activity: &str,
    notification: NotificationId,
) -> Value {
    let url = format!("{}/users/{user}/press", herald.emulator.urls.control);
    let body = json!({"activityId": activity, "verb": "acknowledge", "data": {"notificationId": notification.to_string()}});
    herald
        .http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The latest card in a user's chat: (activity id, whether updated, activity).
async fn latest_card(herald: &TestHerald, user: &str) -> (String, bool, Value) {
    let messages = herald.messages(user).await;
    let last = messages.last().expect("a card").clone();
    (
        last["id"].as_str().unwrap().to_owned(),
        last["updated"] == true,
        last["activity"].clone(),
    )
}

/// Waits until the latest card in a user's chat has been updated in place.
async fn updated_card(herald: &TestHerald, user: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, updated, card) = latest_card(herald, user).await;
        if updated {
            return card;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the card was never updated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn acknowledgements_are_recorded_once_shown_on_the_card_counted_and_reminded() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let users: Vec<Value> = herald
        .directory_users()
        .await
        .into_iter()
        .skip(3)
        .take(3)
        .collect();
    let ids: Vec<String> = users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    let people: Vec<String> = users
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let mut asked = content("Please confirm you read the new travel policy");
    asked.acknowledgement_required = true;
    let id = herald.send_to(&asked, &people).await.unwrap();
    assert_eq!(
        herald
            .wait_until_ended(id, Duration::from_secs(30))
            .await
            .count(DeliveryStatus::Delivered),
        3
    );

    let (activity, _, card) = latest_card(&herald, &ids[0]).await;
    let button = &card["attachments"][0]["content"]["actions"][0];
    assert_eq!(button["type"], "Action.Execute");
    assert_eq!(button["data"]["notificationId"], id.to_string());

    for _ in 0..3 {
        let answer = press(&herald, &ids[0], &activity, id).await;
        assert_eq!(answer["delivered"], true);
        assert_eq!(answer["answer"]["statusCode"], 200, "{answer}");
        assert_eq!(
            answer["answer"]["type"],
            "application/vnd.microsoft.activity.message"
        );
    }
    let progress = herald.progress(id).await;
    assert_eq!(
        progress.notification.acknowledged, 1,
        "recorded once however often pressed"
    );
    let card = updated_card(&herald, &ids[0]).await.to_string();
    assert!(
        card.contains("You acknowledged this on") && !card.contains("Action.Execute"),
        "{card}"
    );

    // A reminder goes only to the two who have not acknowledged.
    let sent = herald_prepare::remind(herald.store(), herald.broker(), id, "tests")
        .await
        .unwrap();
    assert_eq!(sent.people, 2);
    let reminder = sent.id;
    let progress = herald
        .wait_until_ended(reminder, Duration::from_secs(30))
        .await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 2);
    let reminded: Vec<String> = herald
        .store()
        .deliveries(reminder)
        .await
        .unwrap()
        .iter()
        .map(|d| d.recipient.to_string())
        .collect();
    assert!(
        !reminded.contains(&ids[0]) && reminded.contains(&ids[1]) && reminded.contains(&ids[2])
    );
    assert_eq!(
        herald.messages(&ids[0]).await.len(),
        1,
        "no reminder for who acknowledged"
    );

    // Acknowledging the reminder counts for the original announcement.
    let (reminder_card, _, card) = latest_card(&herald, &ids[1]).await;
    assert!(
        card["attachments"][0]["content"]["body"]
            .to_string()
            .contains("Reminder: Please confirm")
    );
    assert_eq!(
        card["attachments"][0]["content"]["actions"][0]["data"]["notificationId"],
        id.to_string()
    );
    press(&herald, &ids[1], &reminder_card, id).await;
    assert_eq!(herald.progress(id).await.notification.acknowledged, 2);
    let json = herald_app::report::progress_json(&herald.progress(id).await);
    assert_eq!(json["acknowledged"], 2);
    assert_eq!(json["not_acknowledged"], 1);
    // Pressing Acknowledge is reading, and `herald status` says so, in
    // text and JSON, as the status page does.
    assert_eq!(json["read"], 2, "{json}");
    assert_eq!(json["delivered"], 3, "{json}");
    let text = herald_app::report::progress_text(&herald.progress(id).await);
    assert!(
        text.contains("read 2 of 3 delivered") && text.contains("acknowledged 2, not yet 1"),
        "{text}"
    );

    // Everyone acknowledged: reminding again is refused with a reason.
    press(&herald, &ids[2], &latest_card(&herald, &ids[2]).await.0, id).await;
    let error = herald_prepare::remind(herald.store(), herald.broker(), id, "tests")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no reminder needed"), "{error}");
    herald.stop().await;
}

#[tokio::test]
async fn reactions_are_recorded_per_notification() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let user = herald.directory_users().await[4].clone();
    let uid = user["id"].as_str().unwrap().to_owned();
    let id = herald
        .send_to(
            &content("React to me"),
            &[user["userPrincipalName"].as_str().unwrap().to_owned()],
        )
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    let (activity, _, _) = latest_card(&herald, &uid).await;
    let react = |reaction: &str, removed: bool| {
        let url = format!("{}/users/{uid}/react", herald.emulator.urls.control);
        let body = json!({"activityId": activity, "reaction": reaction, "removed": removed});
        let http = herald.http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(react("like", false).await["delivered"], true);
    react("heart", false).await;
    react("heart", true).await;
    let reactions = herald.store().reactions(id).await.unwrap();
    assert_eq!(
        reactions,
        vec![("heart".to_owned(), 0), ("like".to_owned(), 1)]
    );
    herald.stop().await;
}

/// A member presses Acknowledge on a channel post.
async fn press_in_channel(
    herald: &TestHerald,
    user: &str,
    channel: &str,
    activity: &str,
    notification: NotificationId,
) -> Value {
    let url = format!("{}/users/{user}/press", herald.emulator.urls.control);
    let body = json!({
        "activityId": activity, "channelId": channel, "verb": "acknowledge",
        "data": {"notificationId": notification.to_string()},
    });
    let response = herald.http.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "the press reached the bot");
    response.json().await.unwrap()
}

/// The posts in a channel: (activity id, whether updated, activity).
async fn channel_posts(herald: &TestHerald, channel: &str) -> Vec<(String, bool, Value)> {
    herald
        .emulator_get(&format!("/channels/{channel}/messages"))
        .await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["updated"] == true,
                m["activity"].clone(),
            )
        })
        .collect()
}

/// A team with at least `members` members, its General channel, and the
/// object ids of its members.
async fn team_with_members(herald: &TestHerald, members: usize) -> (String, String, Vec<String>) {
    let directory = herald.emulator_get("/directory").await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_object() && g["memberUserIds"].as_array().unwrap().len() >= members)
        .expect("a team with enough members")
        .clone();
    let ids = team["memberUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    (
        team["id"].as_str().unwrap().to_owned(),
        team["team"]["threadId"].as_str().unwrap().to_owned(),
        ids,
    )
}

/// Posts an announcement that asks for acknowledgement to a team's General
/// channel and returns it with the post's activity id.
async fn announce_to_team(
    herald: &TestHerald,
    team: &str,
    channel: &str,
) -> (NotificationId, String) {
    let mut asked = content("Fire drill at 3 pm: confirm you read this");
    asked.acknowledgement_required = true;
    let audience = Audience::new(vec![Target::Channel {
        team: team.to_owned(),
        channel: None,
    }])
    .unwrap();
    let id = herald_prepare::submit(herald.store(), herald.broker(), &asked, &audience, "tests")
        .await
        .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 1, "{progress:?}");
    let post = channel_posts(herald, channel)
        .await
        .last()
        .unwrap()
        .0
        .clone();
    (id, post)
}

fn answers_the_invoke(answer: &Value) {
    assert_eq!(answer["delivered"], true, "{answer}");
    assert_eq!(answer["answer"]["statusCode"], 200, "{answer}");
    assert_eq!(
        answer["answer"]["type"], "application/vnd.microsoft.activity.message",
        "{answer}"
    );
}

#[tokio::test]
async fn channel_members_herald_does_not_know_can_acknowledge_and_count_once_each() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let (team, channel, members) = team_with_members(&herald, 3).await;
    let (id, post) = announce_to_team(&herald, &team, &channel).await;

    for member in &members[..3] {
        answers_the_invoke(&press_in_channel(&herald, member, &channel, &post, id).await);
    }
    // Pressing again changes nothing.
    answers_the_invoke(&press_in_channel(&herald, &members[0], &channel, &post, id).await);
    let mut expected: Vec<uuid::Uuid> = members[..3].iter().map(|m| m.parse().unwrap()).collect();
    expected.sort();
    assert_eq!(herald.store().acknowledged_by(id).await.unwrap(), expected);
    assert_eq!(
        herald.progress(id).await.notification.acknowledged,
        3,
        "a channel post counts the distinct people who acknowledged"
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_press_on_a_channel_post_leaves_the_post_as_it_is_for_everyone() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let (team, channel, members) = team_with_members(&herald, 2).await;
    // Herald knows this member from an earlier 1:1 announcement.
    let known = &members[0];
    let earlier = herald
        .send_to(&content("Earlier"), std::slice::from_ref(known))
        .await
        .unwrap();
    herald
        .wait_until_ended(earlier, Duration::from_secs(30))
        .await;
    let (id, post) = announce_to_team(&herald, &team, &channel).await;

    let answer = press_in_channel(&herald, known, &channel, &post, id).await;
    answers_the_invoke(&answer);
    assert!(
        answer["answer"]["value"]
            .as_str()
            .unwrap()
            .contains("recorded"),
        "the presser alone is told: {answer}"
    );
    assert_eq!(herald.store().acknowledged_by(id).await.unwrap().len(), 1);
    let posts = channel_posts(&herald, &channel).await;
    let (_, updated, card) = posts.iter().find(|p| p.0 == post).unwrap();
    assert!(!updated, "the shared post was not replaced");
    assert!(
        card.to_string().contains("Action.Execute"),
        "the button stays for the others"
    );
    herald.stop().await;
}

#[tokio::test]
async fn acknowledgements_from_outside_a_1_1_audience_are_not_counted() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let users = herald.directory_users().await;
    let ids: Vec<String> = users[3..6]
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    // The outsider is known to Herald from another announcement.
    let outsider = &ids[2];
    let other = herald
        .send_to(&content("Other"), std::slice::from_ref(outsider))
        .await
        .unwrap();
    herald
        .wait_until_ended(other, Duration::from_secs(30))
        .await;
    let mut asked = content("Please confirm");
    asked.acknowledgement_required = true;
    let id = herald.send_to(&asked, &ids[..2]).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 2);

    let (their_card, _, _) = latest_card(&herald, outsider).await;
    let answer = press(&herald, outsider, &their_card, id).await;
    assert_eq!(answer["answer"]["statusCode"], 200, "{answer}");
    for user in &ids[..2] {
        let (card, _, _) = latest_card(&herald, user).await;
        press(&herald, user, &card, id).await;
    }
    let progress = herald.progress(id).await;
    assert_eq!(
        progress.notification.acknowledged, 2,
        "the outsider is not counted"
    );
    assert!(progress.notification.acknowledged <= progress.count(DeliveryStatus::Delivered));
    herald.stop().await;
}

#[tokio::test]
async fn a_press_is_answered_before_a_slow_connector_updates_the_card() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let user = herald.directory_users().await[4]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut asked = content("Please confirm");
    asked.acknowledgement_required = true;
    let id = herald
        .send_to(&asked, std::slice::from_ref(&user))
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    let (card, _, _) = latest_card(&herald, &user).await;

    herald
        .configure_emulator(json!({"latency_ms": [1500, 1500]}))
        .await;
    let answer = press(&herald, &user, &card, id).await;
    assert_eq!(answer["answer"]["statusCode"], 200, "{answer}");
    let (_, updated, _) = latest_card(&herald, &user).await;
    assert!(
        !updated,
        "answered while the card update is still on its way"
    );
    let card = updated_card(&herald, &user).await.to_string();
    assert!(card.contains("You acknowledged this on"), "{card}");
    herald.stop().await;
}

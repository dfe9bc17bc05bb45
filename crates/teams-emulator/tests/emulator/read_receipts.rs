use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

async fn with_bot(users: usize) -> (TestEmulator, RecordingBot) {
    let bot = RecordingBot::start().await;
    let mut config = config(users);
    config.behaviour.bot_endpoint = bot.url.clone();
    (TestEmulator::with(config).await, bot)
}

async fn installed_users(t: &TestEmulator) -> Vec<Value> {
    t.directory().await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| is_plain_member(u) && u["hasApp"] == true)
        .cloned()
        .collect()
}

/// Sends a card to the user's 1:1 chat and returns its activity id.
async fn send_to(t: &TestEmulator, user: &Value) -> String {
    let response = t
        .send_activity(user["chatId"].as_str().unwrap(), &message("news"))
        .await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn read(t: &TestEmulator, user: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = t
        .http
        .post(format!("{}/users/{user}/read", t.urls().control));
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_and_json(request.send().await.unwrap()).await
}

async fn create_conversation(t: &TestEmulator, user: &Value, activity: Option<Value>) -> Value {
    let tenant = t.urls().tenant_id.clone();
    let mut body = json!({
        "bot": {"id": format!("28:{}", t.urls().app_id), "name": "Herald"},
        "members": [{"id": user["teamsId"]}],
        "channelData": {"tenant": {"id": tenant}}, "isGroup": false, "tenantId": tenant,
    });
    if let Some(activity) = activity {
        body["activity"] = activity;
    }
    let token = t.token(BOT_SCOPE).await;
    let response = t
        .http
        .post(format!("{}v3/conversations", t.urls().service_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn receipts(received: &[(String, Value)]) -> Vec<Value> {
    received
        .iter()
        .map(|(_, activity)| activity.clone())
        .filter(|a| a["name"] == READ_RECEIPT)
        .collect()
}

#[tokio::test]
async fn reading_posts_a_signed_receipt_for_the_newest_message() {
    let (t, bot) = with_bot(40).await;
    let user = installed_users(&t).await.remove(0);
    let user_id = user["id"].as_str().unwrap();
    let first = send_to(&t, &user).await;
    let second = send_to(&t, &user).await;

    let (status, body) = read(&t, user_id, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"delivered": true, "lastReadMessageId": second})
    );
    let received = bot.wait_for(1).await;
    let (auth, receipt) = &received[0];
    assert_eq!(receipt["type"], "event");
    assert_eq!(receipt["name"], READ_RECEIPT);
    assert_eq!(receipt["value"], json!({"lastReadMessageId": second}));
    assert_eq!(receipt["conversation"]["id"], user["chatId"]);
    assert_eq!(receipt["conversation"]["conversationType"], "personal");
    assert_eq!(
        receipt["conversation"]["tenantId"],
        t.urls().tenant_id.as_str()
    );
    assert_eq!(receipt["from"]["id"], user["teamsId"]);
    assert_eq!(receipt["from"]["aadObjectId"], user["id"]);
    assert_eq!(receipt["channelId"], "msteams");
    assert_eq!(receipt["serviceUrl"], t.urls().service_url.as_str());
    assert!(receipt.get("text").is_none());

    let token = auth.strip_prefix("Bearer ").expect("a Bearer token");
    let jwks_uri = format!("{}/botframework/v1/.well-known/keys", t.urls().base);
    let (claims, _) = verify_with_jwks(&t.http, &jwks_uri, token).await;
    assert_eq!(claims["iss"], "https://api.botframework.com");
    assert_eq!(claims["aud"], t.urls().app_id.as_str());

    // `upTo` reads part of the chat; the user may be named by UPN too.
    let upn = user["userPrincipalName"].as_str().unwrap();
    let (status, body) = read(&t, upn, Some(json!({"upTo": first}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lastReadMessageId"], first.as_str());
    let received = bot.wait_for(2).await;
    assert_eq!(received[1].1["value"]["lastReadMessageId"], first.as_str());

    let before_all = (first.parse::<u64>().unwrap() - 1).to_string();
    let (status, body) = read(&t, user_id, Some(json!({"upTo": before_all}))).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = read(&t, user_id, Some(json!({"upTo": "latest"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("upTo"), "{body}");

    let stats = t.stats().await;
    assert_eq!(stats["read_receipts_sent"], 2);
    assert_eq!(stats["bot_activities_sent"], 2);
    bot.handle.stop(false).await;
}

#[tokio::test]
async fn reading_is_refused_when_teams_would_send_no_receipt() {
    let t = TestEmulator::start(40).await;
    let users = installed_users(&t).await;
    let (status, body) = read(&t, users[0]["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 409, "no bot endpoint: {body}");

    let bot = RecordingBot::start().await;
    assert_eq!(
        t.configure(json!({"bot_endpoint": bot.url})).await.status(),
        200
    );
    let (status, _) = read(&t, &uuid::Uuid::new_v4().to_string(), None).await;
    assert_eq!(status, 404);

    let (status, body) = read(&t, users[0]["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 409, "no chat yet: {body}");
    assert!(body["error"].as_str().unwrap().contains("no personal chat"));

    create_conversation(&t, &users[1], None).await;
    let (status, body) = read(&t, users[1]["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 409, "an empty chat: {body}");
    assert!(body["error"].as_str().unwrap().contains("nothing"));

    let without_app = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == false)
        .await;
    let (status, body) = read(&t, without_app["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 409, "no app: {body}");

    // A read that does send comes after every refused one: when its
    // receipt arrives, anything the refused reads had sent would be there.
    let marker = send_to(&t, &users[1]).await;
    let (status, body) = read(&t, users[1]["id"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{body}");
    let received = bot.wait_for(1).await;
    assert_eq!(received.len(), 1, "only the later read's receipt");
    assert_eq!(received[0].1["value"]["lastReadMessageId"], marker.as_str());
    assert_eq!(t.stats().await["read_receipts_sent"], 1);
    bot.handle.stop(false).await;
}

fn auto_reads(never_share: f64) -> Value {
    json!({"reads": {"enabled": true, "never_share": never_share, "median_delay_ms": 20, "spread": 0.5}})
}

#[tokio::test]
async fn people_read_on_their_own_after_each_delivery() {
    let (t, bot) = with_bot(60).await;
    assert_eq!(t.configure(auto_reads(0.0)).await.status(), 200);
    let users = installed_users(&t).await;
    let mut expected = Vec::new();
    for user in &users[..3] {
        expected.push((user["chatId"].clone(), send_to(&t, user).await));
    }
    // The create-with-activity path delivers too.
    let created = create_conversation(&t, &users[3], Some(message("hello"))).await;
    expected.push((
        created["id"].clone(),
        created["activityId"].as_str().unwrap().to_owned(),
    ));

    let mut got: Vec<(Value, String)> = receipts(&bot.wait_for(expected.len()).await)
        .iter()
        .map(|r| {
            assert_eq!(r["from"]["aadObjectId"].as_str().unwrap().len(), 36);
            let last = r["value"]["lastReadMessageId"].as_str().unwrap();
            (r["conversation"]["id"].clone(), last.to_owned())
        })
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, expected);

    // A later message is read later, on its own.
    let again = send_to(&t, &users[0]).await;
    let received = receipts(&bot.wait_for(expected.len() + 1).await);
    assert_eq!(
        received.last().unwrap()["value"]["lastReadMessageId"],
        again.as_str()
    );
    // The bot sees a receipt just before the emulator counts it.
    let counted = expected.len() as u64 + 1;
    for _ in 0..40 {
        if t.stats().await["read_receipts_sent"] == counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(t.stats().await["read_receipts_sent"], counted);
    bot.handle.stop(false).await;
}

#[tokio::test]
async fn never_readers_and_channels_send_no_receipts() {
    let (t, bot) = with_bot(80).await;
    // Reads exactly at the median, so that reads happen in delivery order.
    let exact_reads = |never_share: f64| json!({"reads": {"enabled": true, "never_share": never_share, "median_delay_ms": 20, "spread": 0.0}});
    assert_eq!(t.configure(exact_reads(1.0)).await.status(), 200);
    let users = installed_users(&t).await;
    for user in &users[..3] {
        send_to(&t, user).await;
    }

    assert_eq!(t.configure(exact_reads(0.0)).await.status(), 200);
    let directory = t.directory().await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"]["hasApp"] == true)
        .cloned()
        .expect("a team with the app");
    let channel = team["team"]["threadId"].as_str().unwrap();
    let posted = t.send_activity(channel, &message("to the channel")).await;
    assert_eq!(posted.status(), 201);

    // A reader's delivery, last: its receipt comes after any the others
    // would have caused.
    let marker = send_to(&t, &users[3]).await;
    let received = bot.wait_for(1).await;
    assert_eq!(received.len(), 1, "only the reader's receipt");
    assert_eq!(received[0].1["value"]["lastReadMessageId"], marker.as_str());
    assert_eq!(received[0].1["from"]["aadObjectId"], users[3]["id"]);
    bot.handle.stop(false).await;
}

#[tokio::test]
async fn read_settings_are_checked() {
    let t = TestEmulator::start(10).await;
    assert_eq!(
        t.control_get("/config").await["reads"],
        json!({"enabled": false, "never_share": 0.25, "median_delay_ms": 60000, "spread": 1.0})
    );
    let valid =
        json!({"enabled": true, "never_share": 0.5, "median_delay_ms": 1000, "spread": 2.0});
    assert_eq!(
        t.configure(json!({"reads": valid.clone()})).await.status(),
        200
    );

    for (bad, field) in [
        (json!({"never_share": 1.5}), "reads.never_share"),
        (json!({"never_share": -0.1}), "reads.never_share"),
        (json!({"median_delay_ms": 0}), "reads.median_delay_ms"),
        (
            json!({"median_delay_ms": 90_000_000}),
            "reads.median_delay_ms",
        ),
        (json!({"spread": 3.5}), "reads.spread"),
        (json!({"spread": -1.0}), "reads.spread"),
        (json!({"speed": 2}), "speed"),
    ] {
        let response = t.configure(json!({"reads": bad})).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(field), "{bad}: {error}");
    }
    assert_eq!(
        t.control_get("/config").await["reads"],
        valid,
        "a refused change leaves the config alone"
    );

    let mut config = config(10);
    config.behaviour.reads.never_share = 2.0;
    assert!(teams_emulator::start(config).await.is_err());
}

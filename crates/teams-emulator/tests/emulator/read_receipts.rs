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

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(bot.received.lock().unwrap().is_empty());
    assert_eq!(t.stats().await["read_receipts_sent"], 0);
    bot.handle.stop(false).await;
}

use std::time::Duration;

use herald_domain::{DeliveryStatus, RecipientId};
use herald_testkit::{TestHerald, content, emulator_config};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const BOT_KEY: &str = include_str!("../../crates/teams-emulator/keys/botframework.pem");
const OTHER_KEY: &str = include_str!("../../crates/teams-emulator/keys/entra.pem");
const BOT_KID: &str = "herald-emulator-botframework-1";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: &Value, pem: &str, kid: &str, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(b"emulator-app-secret"),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn claims(herald: &TestHerald) -> Value {
    json!({
        "iss": "https://api.botframework.com",
        "aud": herald.emulator.urls.app_id,
        "serviceurl": herald.emulator.urls.service_url,
        "nbf": now() - 10, "exp": now() + 600,
    })
}

fn install_activity(herald: &TestHerald, user: &Value) -> Value {
    json!({
        "type": "installationUpdate", "action": "add",
        "timestamp": "2026-11-27T02:29:55.855Z",
        "channelId": "msteams",
        "serviceUrl": herald.emulator.urls.service_url,
        "from": {"id": user["teamsId"], "aadObjectId": user["id"]},
        "recipient": {"id": format!("28:{}", herald.emulator.urls.app_id)},
        "conversation": {"id": format!("19:{}_{}@unq.gbl.spaces", user["id"].as_str().unwrap(), herald.emulator.urls.app_id), "conversationType": "personal", "tenantId": herald.emulator.urls.tenant_id},
        "channelData": {"tenant": {"id": herald.emulator.urls.tenant_id}},
    })
}

async fn post(herald: &TestHerald, authorization: Option<String>, body: String) -> u16 {
    let url = format!(
        "http://{}/api/messages",
        herald.running().web.as_ref().unwrap().address
    );
    let mut request = herald
        .http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn stored(herald: &TestHerald, user: &Value) -> bool {
    let id: RecipientId = user["id"].as_str().unwrap().parse().unwrap();
    !herald.store().people(&[id]).await.unwrap().is_empty()
}

#[tokio::test]
async fn forged_expired_and_misaddressed_requests_are_refused_and_nothing_is_stored() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let user = herald.directory_users().await[4].clone();
    let activity = install_activity(&herald, &user);
    let body = activity.to_string();
    let good = claims(&herald);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        change(&mut c);
        c
    };
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no header", None, 401),
        ("not Bearer", Some("Basic dXNlcjpwYXNz".to_owned()), 401),
        (
            "expired",
            bearer(sign(
                &with(&|c| {
                    c["exp"] = json!(now() - 600);
                    c["nbf"] = json!(now() - 1200);
                }),
                BOT_KEY,
                BOT_KID,
                Algorithm::RS256,
            )),
            401,
        ),
        (
            "wrong audience",
            bearer(sign(
                &with(&|c| c["aud"] = json!("someone-else")),
                BOT_KEY,
                BOT_KID,
                Algorithm::RS256,
            )),
            401,
        ),
        (
            "wrong issuer",
            bearer(sign(
                &with(&|c| c["iss"] = json!("https://evil.example")),
                BOT_KEY,
                BOT_KID,
                Algorithm::RS256,
            )),
            401,
        ),
        (
            "wrong serviceurl",
            bearer(sign(
                &with(&|c| c["serviceurl"] = json!("https://evil.example/teams/")),
                BOT_KEY,
                BOT_KID,
                Algorithm::RS256,
            )),
            401,
        ),
        (
            "unknown key id",
            bearer(sign(
                &good,
                OTHER_KEY,
                "nobody-knows-this-key",
                Algorithm::RS256,
            )),
            401,
        ),
        (
            "forged signature",
            bearer(sign(&good, OTHER_KEY, BOT_KID, Algorithm::RS256)),
            401,
        ),
        (
            "HMAC",
            bearer(sign(&good, "", BOT_KID, Algorithm::HS256)),
            401,
        ),
        (
            "alg none",
            bearer(format!(
                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
                base64_url(&good.to_string())
            )),
            401,
        ),
    ];
    for (name, authorization, status) in cases {
        assert_eq!(
            post(&herald, authorization, body.clone()).await,
            status,
            "{name}"
        );
        assert!(!stored(&herald, &user).await, "{name}: nothing stored");
    }
    let token = bearer(sign(&good, BOT_KEY, BOT_KID, Algorithm::RS256));
    let mut slack = activity.clone();
    slack["channelId"] = json!("slack");
    assert_eq!(
        post(&herald, token.clone(), slack.to_string()).await,
        403,
        "the key does not endorse slack"
    );
    assert_eq!(
        post(&herald, token.clone(), "{not json".to_owned()).await,
        400
    );
    assert_eq!(
        post(&herald, token.clone(), "x".repeat(300 * 1024)).await,
        413
    );
    assert!(!stored(&herald, &user).await);

    assert_eq!(
        post(&herald, token, body).await,
        200,
        "a valid request is accepted"
    );
    assert!(stored(&herald, &user).await);
    herald.stop().await;
}

fn base64_url(text: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_user_who_installs_is_welcomed_and_reached_without_graph() {
    let mut config = emulator_config(30);
    config.directory.installed_fraction = 0.0;
    let herald = TestHerald::start(config, |_| {}).await;
    let user = herald.directory_users().await[7].clone();
    let id = user["id"].as_str().unwrap().to_owned();
    let installed = herald
        .http
        .post(format!(
            "{}/users/{id}/install",
            herald.emulator.urls.control
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status(), 204);
    wait_until("the conversation to be stored", async || {
        let people = herald.store().people(&[id.parse().unwrap()]).await.unwrap();
        people.first().is_some_and(|p| p.conversation_id.is_some())
    })
    .await;
    wait_until("the welcome", async || {
        !herald.messages(&id).await.is_empty()
    })
    .await;
    let welcome = &herald.messages(&id).await[0]["activity"]["text"];
    assert!(welcome.as_str().unwrap().contains("stop"), "{welcome}");

    let stats_before = herald.emulator_stats().await;
    let notification = herald
        .send_to(
            &content("Straight to you"),
            &[user["userPrincipalName"].as_str().unwrap().to_owned()],
        )
        .await
        .unwrap();
    let progress = herald
        .wait_until_ended(notification, Duration::from_secs(30))
        .await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 1);
    let stats = herald.emulator_stats().await;
    let installed_reads = |s: &Value| {
        s["requests"]["GET /graph/v1.0/users/{id}/teamwork/installedApps"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(
        installed_reads(&stats),
        installed_reads(&stats_before),
        "no Graph lookup of the chat"
    );
    assert_eq!(stats["installs"], 1, "installed once, by the user");
    assert_eq!(
        herald.messages(&id).await.len(),
        2,
        "the welcome and the announcement"
    );
    herald.stop().await;
}

#[tokio::test]
async fn stop_skips_ordinary_announcements_start_resumes_critical_always_arrives() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let user = herald.directory_users().await[9].clone();
    let id = user["id"].as_str().unwrap().to_owned();
    let people = vec![user["userPrincipalName"].as_str().unwrap().to_owned()];
    let last_text = async || {
        herald
            .messages(&id)
            .await
            .last()
            .map(|m| {
                m["activity"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };

    herald.say(&id, "stop").await;
    assert!(
        last_text().await.contains("start"),
        "the confirmation says how to undo it"
    );
    let ordinary = herald.send_to(&content("Ordinary"), &people).await.unwrap();
    let progress = herald
        .wait_until_ended(ordinary, Duration::from_secs(30))
        .await;
    assert_eq!(progress.count(DeliveryStatus::Skipped), 1, "{progress:?}");
    let deliveries = herald.store().deliveries(ordinary).await.unwrap();
    assert_eq!(
        deliveries[0].error_code,
        Some(herald_domain::DeliveryReason::OptedOut)
    );

    let mut critical = content("Critical");
    critical.critical = true;
    let urgent = herald.send_to(&critical, &people).await.unwrap();
    assert_eq!(
        herald
            .wait_until_ended(urgent, Duration::from_secs(30))
            .await
            .count(DeliveryStatus::Delivered),
        1
    );

    herald.say(&id, "START").await;
    let again = herald
        .send_to(&content("Ordinary again"), &people)
        .await
        .unwrap();
    assert_eq!(
        herald
            .wait_until_ended(again, Duration::from_secs(30))
            .await
            .count(DeliveryStatus::Delivered),
        1
    );
    herald.say(&id, "what is this?").await;
    assert!(
        last_text().await.contains("help"),
        "anything else gets the help"
    );
    herald.stop().await;
}

async fn signed_post(herald: &TestHerald, activity: &Value) -> u16 {
    let token = sign(&claims(herald), BOT_KEY, BOT_KID, Algorithm::RS256);
    post(
        herald,
        Some(format!("Bearer {token}")),
        activity.to_string(),
    )
    .await
}

#[tokio::test]
async fn repeated_and_out_of_order_installs_settle_on_the_newest() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let user = herald.directory_users().await[6].clone();
    let id: RecipientId = user["id"].as_str().unwrap().parse().unwrap();
    let at = |time: &str, action: &str| {
        let mut activity = install_activity(&herald, &user);
        activity["timestamp"] = json!(time);
        activity["action"] = json!(action);
        activity
    };
    let installed = async || herald.store().people(&[id]).await.unwrap()[0].installed;
    assert_eq!(
        signed_post(&herald, &at("2026-11-27T10:00:00Z", "add")).await,
        200
    );
    assert!(installed().await);
    assert_eq!(
        signed_post(&herald, &at("2026-11-27T11:00:00Z", "remove")).await,
        200
    );
    assert!(
        !installed().await,
        "an uninstall makes the conversation unusable"
    );
    // An older install arriving late, and a repeat of the uninstall, change nothing.
    signed_post(&herald, &at("2026-11-27T10:30:00Z", "add")).await;
    signed_post(&herald, &at("2026-11-27T11:00:00Z", "remove")).await;
    assert!(!installed().await);
    signed_post(&herald, &at("2026-11-27T12:00:00Z", "add")).await;
    assert!(installed().await, "a newer reinstall makes it usable again");
    herald.stop().await;
}

#[tokio::test]
async fn a_team_install_stores_its_general_channel() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let team = "19:abcdef@thread.tacv2";
    let activity = json!({
        "type": "installationUpdate", "action": "add", "timestamp": "2026-11-27T10:00:00Z",
        "channelId": "msteams", "serviceUrl": herald.emulator.urls.service_url,
        "from": {"id": "29:someone", "aadObjectId": "00000000-0000-0000-0000-000000000020"},
        "recipient": {"id": format!("28:{}", herald.emulator.urls.app_id)},
        "conversation": {"id": team, "isGroup": true, "conversationType": "channel", "tenantId": herald.emulator.urls.tenant_id},
        "channelData": {"tenant": {"id": herald.emulator.urls.tenant_id}, "team": {"id": team, "name": "My Team"}, "channel": {"id": team}},
    });
    assert_eq!(signed_post(&herald, &activity).await, 200);
    let channel = RecipientId(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("msteams:channel:{team}").as_bytes(),
    ));
    let stored = herald.store().people(&[channel]).await.unwrap();
    assert_eq!(stored[0].conversation_id.as_deref(), Some(team));
    assert!(stored[0].installed);
    herald.stop().await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused_like_an_expired_one() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let user = herald.directory_users().await[4].clone();
    let body = install_activity(&herald, &user).to_string();
    let mut early = claims(&herald);
    // Ten minutes ahead: beyond the five minutes of clock skew allowed.
    early["nbf"] = json!(now() + 600);
    early["exp"] = json!(now() + 1200);
    let token = sign(&early, BOT_KEY, BOT_KID, Algorithm::RS256);
    assert_eq!(
        post(&herald, Some(format!("Bearer {token}")), body.clone()).await,
        401
    );
    assert!(!stored(&herald, &user).await);

    let mut skewed = claims(&herald);
    skewed["nbf"] = json!(now() + 120);
    let token = sign(&skewed, BOT_KEY, BOT_KID, Algorithm::RS256);
    assert_eq!(
        post(&herald, Some(format!("Bearer {token}")), body).await,
        200,
        "two minutes ahead is within the skew"
    );
    herald.stop().await;
}

#[tokio::test]
async fn requests_are_authenticated_before_their_body_is_read() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    let forged = sign(&claims(&herald), OTHER_KEY, BOT_KID, Algorithm::RS256);
    for (name, authorization) in [
        ("no token", None),
        ("forged token", Some(format!("Bearer {forged}"))),
    ] {
        let url = format!(
            "http://{}/api/messages",
            herald.running().web.as_ref().unwrap().address
        );
        let mut request = herald.http.post(url).body("{not an activity");
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{name}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("activity"),
            "{name}: no parser message: {text}"
        );
    }
    herald.stop().await;
}

/// The person's stored chat, as Herald knows it.
async fn stored_conversation(herald: &TestHerald, user: &Value) -> Option<String> {
    let id: RecipientId = user["id"].as_str().unwrap().parse().unwrap();
    let people = herald.store().people(&[id]).await.unwrap();
    people.first().and_then(|p| p.conversation_id.clone())
}

#[tokio::test]
async fn only_teams_activities_from_the_configured_tenant_change_anything() {
    let herald = TestHerald::start(emulator_config(20), |_| {}).await;
    // Microsoft's keys endorse more channels than Teams.
    herald
        .configure_emulator(json!({"bot_key_endorsements": ["msteams", "webchat"]}))
        .await;
    let user = herald.directory_users().await[5].clone();
    let install = install_activity(&herald, &user);
    assert_eq!(signed_post(&herald, &install).await, 200);
    let chat = stored_conversation(&herald, &user).await;
    assert!(chat.is_some());

    let mut webchat = install.clone();
    webchat["channelId"] = json!("webchat");
    webchat["timestamp"] = json!("2026-11-28T10:00:00Z");
    webchat["conversation"]["id"] = json!("webchat-conversation-1");
    let status = signed_post(&herald, &webchat).await;
    assert!(status == 200 || status == 403, "webchat: {status}");
    assert_eq!(stored_conversation(&herald, &user).await, chat, "webchat");

    let mut foreign = install.clone();
    foreign["timestamp"] = json!("2026-11-28T11:00:00Z");
    foreign["conversation"]["id"] = json!("a:foreign-tenant-chat");
    foreign["conversation"]["tenantId"] = json!("another-tenant");
    foreign["channelData"]["tenant"]["id"] = json!("another-tenant");
    let status = signed_post(&herald, &foreign).await;
    assert!(status == 200 || status == 403, "another tenant: {status}");
    assert_eq!(
        stored_conversation(&herald, &user).await,
        chat,
        "another tenant"
    );

    let mut stop = install.clone();
    stop["type"] = json!("message");
    stop["text"] = json!("stop");
    stop["channelId"] = json!("webchat");
    signed_post(&herald, &stop).await;
    let id: RecipientId = user["id"].as_str().unwrap().parse().unwrap();
    assert!(
        !herald.store().people(&[id]).await.unwrap()[0].opted_out,
        "a webchat stop changes nothing"
    );
    herald.stop().await;
}

#[tokio::test]
async fn the_bot_framework_issuer_is_the_configured_clouds() {
    let government = "https://api.botframework.us";
    let token = |herald: &TestHerald, issuer: &str| {
        let mut claims = claims(herald);
        claims["iss"] = json!(issuer);
        Some(format!(
            "Bearer {}",
            sign(&claims, BOT_KEY, BOT_KID, Algorithm::RS256)
        ))
    };

    let public = TestHerald::start(emulator_config(20), |_| {}).await;
    let user = public.directory_users().await[4].clone();
    let body = install_activity(&public, &user).to_string();
    assert_eq!(
        post(&public, token(&public, government), body.clone()).await,
        401,
        "the public cloud refuses the US Government's tokens"
    );
    public.stop().await;

    let us = TestHerald::start(emulator_config(20), |s| {
        s.microsoft.bot_issuer = government.to_owned();
    })
    .await;
    let body = install_activity(&us, &user).to_string();
    assert_eq!(
        post(
            &us,
            token(&us, "https://api.botframework.com"),
            body.clone()
        )
        .await,
        401,
        "a US Government bot refuses the public cloud's tokens"
    );
    assert_eq!(post(&us, token(&us, government), body).await, 200);
    assert!(stored(&us, &user).await);
    us.stop().await;
}

//! Read receipts: Teams tells the bot, in a signed event, how far a person
//! has read their 1:1 chat. Each card is read once, at its first receipt;
//! receipts that are forged, from a channel, or about a chat Herald never
//! wrote to change nothing. Receipts come from the emulator over HTTP
//! (`POST /_emulator/users/{id}/read`) or, where Teams would never send
//! them, are signed here with the emulator's Bot Framework key.

use std::collections::HashMap;
use std::time::Duration;

use herald_domain::{NotificationId, NotificationStatus};
use herald_testkit::TestHerald;
use herald_testkit::web::StaffClient;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{people, sign_in_staff, start};

const BOT_KEY: &str = include_str!("../../crates/teams-emulator/keys/botframework.pem");
/// A real RSA key, but not the one Microsoft's (the emulator's) keys list.
const OTHER_KEY: &str = include_str!("../../crates/teams-emulator/keys/entra.pem");
const BOT_KID: &str = "herald-emulator-botframework-1";
const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

pub fn notification(id: &str) -> NotificationId {
    NotificationId(id.parse().unwrap())
}

/// Composes and sends an announcement from the UI, as `author`, and waits
/// until every recipient has a final status.
pub async fn send(
    herald: &TestHerald,
    author: &StaffClient,
    title: &str,
    upns: &[String],
) -> String {
    let id = author
        .create_draft(&[("title", title), ("csv", &upns.join("\n"))])
        .await;
    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(60))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    id
}

/// A connection to the test's own database.
pub async fn database(herald: &TestHerald) -> sqlx::PgConnection {
    use secrecy::ExposeSecret;
    use sqlx::Connection;
    sqlx::PgConnection::connect(herald.settings.database.url.expose_secret())
        .await
        .unwrap()
}

/// Each delivery's `read_at`, by the recipient's UPN.
async fn read_at(herald: &TestHerald, id: &str) -> HashMap<String, Option<OffsetDateTime>> {
    let rows: Vec<(String, Option<OffsetDateTime>)> = sqlx::query_as(
        "select r.user_principal_name, d.read_at from deliveries d \
         join recipients r on r.id = d.recipient_id where d.notification_id = $1",
    )
    .bind(notification(id).0)
    .fetch_all(&mut database(herald).await)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The announcement's read count, as the store reads it.
async fn read_count(herald: &TestHerald, id: &str) -> i64 {
    herald
        .store()
        .notification(notification(id))
        .await
        .unwrap()
        .unwrap()
        .read
}

/// The emulator's directory entry of a UPN.
pub async fn user(herald: &TestHerald, upn: &str) -> Value {
    herald
        .directory_users()
        .await
        .into_iter()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap()
}

/// The person reads their chat (up to `up_to`, or everything): the
/// emulator posts Herald a signed receipt and says whether Herald took it.
async fn reads(herald: &TestHerald, user_id: &str, up_to: Option<&str>) {
    let url = format!("{}/users/{user_id}/read", herald.emulator.urls.control);
    let mut request = herald.http.post(url);
    if let Some(up_to) = up_to {
        request = request.json(&json!({"upTo": up_to}));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    // Herald records the receipt before it answers, so the database
    // already shows it when this returns.
    assert_eq!(answer["delivered"], true, "Herald accepted the receipt");
}

/// Waits until the emulator has posted `count` receipts of people reading
/// on their own, then checks that Herald accepted every one (a refused
/// receipt is lost: Teams sends it once).
async fn wait_for_receipts(herald: &TestHerald, count: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats = herald.emulator_stats().await;
        let taken = stats["read_receipts_sent"].as_u64().unwrap();
        let refused = stats["bot_activities_failed"].as_u64().unwrap();
        if taken + refused >= count {
            assert_eq!((taken, refused), (count, 0), "Herald took every receipt");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the card an announcement put in a person's chat.
async fn card_id(herald: &TestHerald, user_id: &str, title: &str) -> String {
    herald
        .messages(user_id)
        .await
        .iter()
        .find(|m| m["activity"].to_string().contains(title))
        .unwrap_or_else(|| panic!("{user_id} has no card {title:?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A Bot Framework token for Herald, signed with `pem`.
fn token(herald: &TestHerald, pem: &str) -> String {
    let claims = json!({
        "iss": "https://api.botframework.com",
        "aud": herald.emulator.urls.app_id,
        "serviceurl": herald.emulator.urls.service_url,
        "nbf": now() - 10, "exp": now() + 600,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(BOT_KID.to_owned());
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// A read receipt as Teams posts it (teams-platform.md §8), from `from`,
/// in `conversation` of type `kind`, naming `last` as read.
fn receipt(herald: &TestHerald, from: &Value, conversation: &str, kind: &str, last: &str) -> Value {
    let urls = &herald.emulator.urls;
    json!({
        "type": "event",
        "name": READ_RECEIPT,
        "value": {"lastReadMessageId": last},
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": "2026-11-28T10:00:00Z",
        "channelId": "msteams",
        "serviceUrl": urls.service_url,
        "from": {"id": from["teamsId"], "aadObjectId": from["id"]},
        "recipient": {"id": format!("28:{}", urls.app_id)},
        "conversation": {"id": conversation, "conversationType": kind, "tenantId": urls.tenant_id},
        "channelData": {"tenant": {"id": urls.tenant_id}},
    })
}

/// The person's 1:1 chat with the bot, as the emulator names it.
fn chat_of(herald: &TestHerald, user: &Value) -> String {
    format!(
        "19:{}_{}@unq.gbl.spaces",
        user["id"].as_str().unwrap(),
        herald.emulator.urls.app_id
    )
}

/// Posts an activity to Herald's bot endpoint; the status it answered.
async fn post_activity(herald: &TestHerald, bearer: Option<String>, activity: &Value) -> u16 {
    let url = format!("{}/api/messages", herald.web_base());
    let mut request = herald.http.post(url).json(activity);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap().status().as_u16()
}

/// The progress the JSON API reports.
async fn api_progress(client: &StaffClient, id: &str) -> Value {
    let response = client.get(&format!("/api/v1/announcements/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["progress"].clone()
}

/// Two announcements to the same people, sent one after the other.
struct TwoCards {
    herald: TestHerald,
    author: StaffClient,
    upns: Vec<String>,
    first: String,
    second: String,
}

async fn two_cards() -> TwoCards {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let upns = people(&herald, 3).await;
    let first = send(&herald, &author, "First card", &upns).await;
    let second = send(&herald, &author, "Second card", &upns).await;
    TwoCards {
        herald,
        author,
        upns,
        first,
        second,
    }
}

impl TwoCards {
    /// Nothing of either announcement is read.
    async fn assert_nothing_read(&self, why: &str) {
        for id in [&self.first, &self.second] {
            let reads = read_at(&self.herald, id).await;
            assert!(reads.values().all(Option::is_none), "{why}: {reads:?}");
            assert_eq!(read_count(&self.herald, id).await, 0, "{why}");
        }
    }
}

#[tokio::test]
async fn a_receipt_reads_the_cards_up_to_it_once_and_the_status_page_counts_them() {
    let TwoCards {
        herald,
        author,
        upns,
        first,
        second,
    } = two_cards().await;
    let reader = user(&herald, &upns[0]).await;
    let reader_id = reader["id"].as_str().unwrap();
    let first_card = card_id(&herald, reader_id, "First card").await;

    reads(&herald, reader_id, Some(&first_card)).await;
    let first_reads = read_at(&herald, &first).await;
    let read_first = first_reads[&upns[0]].expect("the first card is read");
    assert!(
        upns[1..].iter().all(|u| first_reads[u].is_none()),
        "only the reader's card: {first_reads:?}"
    );
    assert!(
        read_at(&herald, &second)
            .await
            .values()
            .all(Option::is_none),
        "the second card came after the one read"
    );
    assert_eq!(read_count(&herald, &first).await, 1);
    assert_eq!(read_count(&herald, &second).await, 0);
    assert_eq!(api_progress(&author, &first).await["read"], 1);
    assert_eq!(api_progress(&author, &second).await["read"], 0);

    // Reading everything reads the second; the first keeps its first read.
    reads(&herald, reader_id, None).await;
    assert!(read_at(&herald, &second).await[&upns[0]].is_some());
    assert_eq!(read_at(&herald, &first).await[&upns[0]], Some(read_first));
    assert_eq!(read_count(&herald, &first).await, 1);
    assert_eq!(read_count(&herald, &second).await, 1);
    let progress = api_progress(&author, &second).await;
    assert_eq!(
        (progress["read"].clone(), progress["delivered"].clone()),
        (json!(1), json!(3))
    );
    let page = author.page(&format!("/announcements/{second}")).await;
    assert!(page.contains(r#"id="read">1<"#), "{page}");
    herald.stop().await;
}

#[tokio::test]
async fn repeated_receipts_change_nothing() {
    let cards = two_cards().await;
    let herald = &cards.herald;
    let reader = user(herald, &cards.upns[1]).await;
    let reader_id = reader["id"].as_str().unwrap();
    let first_card = card_id(herald, reader_id, "First card").await;
    reads(herald, reader_id, Some(&first_card)).await;
    let before = (
        read_at(herald, &cards.first).await,
        read_at(herald, &cards.second).await,
    );
    assert!(before.0[&cards.upns[1]].is_some());
    for _ in 0..2 {
        reads(herald, reader_id, Some(&first_card)).await;
    }
    let after = (
        read_at(herald, &cards.first).await,
        read_at(herald, &cards.second).await,
    );
    assert_eq!(after, before, "read_at unchanged");
    assert_eq!(read_count(herald, &cards.first).await, 1);
    assert_eq!(read_count(herald, &cards.second).await, 0);

    // Everything read, twice: the second is read once.
    reads(herald, reader_id, None).await;
    let read_second = read_at(herald, &cards.second).await[&cards.upns[1]];
    reads(herald, reader_id, None).await;
    assert_eq!(
        read_at(herald, &cards.second).await[&cards.upns[1]],
        read_second
    );
    assert_eq!(read_count(herald, &cards.first).await, 1);
    assert_eq!(read_count(herald, &cards.second).await, 1);
    cards.herald.stop().await;
}

#[tokio::test]
async fn forged_and_unsigned_receipts_are_refused_and_read_nothing() {
    let cards = two_cards().await;
    let herald = &cards.herald;
    let reader = user(herald, &cards.upns[0]).await;
    let last = card_id(herald, reader["id"].as_str().unwrap(), "Second card").await;
    let activity = receipt(
        herald,
        &reader,
        &chat_of(herald, &reader),
        "personal",
        &last,
    );
    assert_eq!(
        post_activity(herald, None, &activity).await,
        401,
        "no token"
    );
    let forged = token(herald, OTHER_KEY);
    assert_eq!(
        post_activity(herald, Some(forged), &activity).await,
        401,
        "signed with a key that is not Microsoft's"
    );
    cards.assert_nothing_read("refused receipts").await;

    // The very same receipt, signed with Microsoft's key, reads both cards:
    // only the signature kept it out.
    let signed = token(herald, BOT_KEY);
    assert_eq!(post_activity(herald, Some(signed), &activity).await, 200);
    assert!(read_at(herald, &cards.first).await[&cards.upns[0]].is_some());
    assert_eq!(read_count(herald, &cards.second).await, 1);
    cards.herald.stop().await;
}

#[tokio::test]
async fn receipts_for_chats_herald_never_wrote_to_are_accepted_and_change_nothing() {
    let cards = two_cards().await;
    let herald = &cards.herald;
    let reader = user(herald, &cards.upns[0]).await;
    let other = user(herald, &cards.upns[1]).await;
    // Someone in the directory who got nothing from Herald.
    let outsider = user(herald, &people(herald, 10).await[9]).await;
    let last = card_id(herald, reader["id"].as_str().unwrap(), "Second card").await;
    let beyond = "99999999999999";
    let cases = [
        (
            "a person who got nothing",
            &outsider,
            chat_of(herald, &outsider),
            beyond,
        ),
        (
            "a chat Herald does not know",
            &reader,
            "19:unknown_chat@unq.gbl.spaces".to_owned(),
            beyond,
        ),
        (
            "someone else's chat",
            &reader,
            chat_of(herald, &other),
            beyond,
        ),
        (
            "a message id that is not a number",
            &reader,
            chat_of(herald, &reader),
            "not-a-number",
        ),
    ];
    for (case, from, conversation, last_read) in cases {
        let activity = receipt(herald, from, &conversation, "personal", last_read);
        let signed = token(herald, BOT_KEY);
        assert_eq!(
            post_activity(herald, Some(signed), &activity).await,
            200,
            "{case}"
        );
        cards.assert_nothing_read(case).await;
    }
    // The reader's own chat, to the last card, does read.
    let activity = receipt(
        herald,
        &reader,
        &chat_of(herald, &reader),
        "personal",
        &last,
    );
    assert_eq!(
        post_activity(herald, Some(token(herald, BOT_KEY)), &activity).await,
        200
    );
    assert_eq!(read_count(herald, &cards.first).await, 1);
    cards.herald.stop().await;
}

#[tokio::test]
async fn receipts_outside_personal_chats_change_nothing() {
    let cards = two_cards().await;
    let herald = &cards.herald;
    let reader = user(herald, &cards.upns[2]).await;
    let chat = chat_of(herald, &reader);
    let last = card_id(herald, reader["id"].as_str().unwrap(), "Second card").await;
    // Teams sends receipts for 1:1 chats only; the conversation's type,
    // not its id, says what it is.
    for kind in ["channel", "groupChat"] {
        let mut activity = receipt(herald, &reader, &chat, kind, &last);
        if kind == "channel" {
            activity["conversation"]["isGroup"] = json!(true);
        }
        assert_eq!(
            post_activity(herald, Some(token(herald, BOT_KEY)), &activity).await,
            200,
            "{kind}"
        );
        cards.assert_nothing_read(kind).await;
    }
    let directory = herald.emulator_get("/directory").await;
    let channel = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|g| g["team"]["channels"][0]["id"].as_str())
        .unwrap()
        .to_owned();
    let in_channel = receipt(
        herald,
        &reader,
        &format!("{channel};messageid={last}"),
        "channel",
        &last,
    );
    assert_eq!(
        post_activity(herald, Some(token(herald, BOT_KEY)), &in_channel).await,
        200
    );
    cards.assert_nothing_read("a team channel").await;
    cards.herald.stop().await;
}

#[tokio::test]
async fn a_receipt_that_comes_as_soon_as_the_card_still_counts() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    // People with the chat open read the card the moment it arrives,
    // which may be before Herald has recorded that Teams took it.
    herald
        .configure_emulator(json!({"reads": {"enabled": true, "never_share": 0.0, "median_delay_ms": 1, "spread": 0.0}}))
        .await;
    let upns = people(&herald, 30).await;
    let id = send(&herald, &author, "Read at once", &upns).await;
    wait_for_receipts(&herald, 30).await;
    let reads = read_at(&herald, &id).await;
    let unread: Vec<&String> = reads
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(u, _)| u)
        .collect();
    assert!(unread.is_empty(), "receipts lost for {unread:?}");
    assert_eq!(read_count(&herald, &id).await, 30);
    herald.stop().await;
}

#[tokio::test]
async fn receipts_during_a_send_are_all_taken() {
    let mut config = herald_testkit::emulator_config(160);
    config.directory.groups = 2;
    config.directory.teams = 1;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 60.0).await;
    let author = sign_in_staff(&herald).await.author;
    // Each person reads a little after their card, while the rest are
    // still being sent: receipts and delivery records meet in the database.
    herald
        .configure_emulator(json!({"reads": {"enabled": true, "never_share": 0.0, "median_delay_ms": 400, "spread": 0.3}}))
        .await;
    let upns = people(&herald, 150).await;
    let id = send(&herald, &author, "Read while sending", &upns).await;
    wait_for_receipts(&herald, 150).await;
    assert_eq!(read_count(&herald, &id).await, 150);
    herald.stop().await;
}

//! Webhooks: an admin registers a URL for a key; when an announcement the
//! key created finishes sending or is canceled, the URL gets a signed POST
//! (HMAC-SHA256 over the timestamp and body), retried with backoff until it
//! answers 2xx, with the attempts on the admin page.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use herald_testkit::api::{Program, make_key};
use herald_testkit::web::StaffClient;
use serde_json::{Value, json};

use crate::{admin, announcement, people, start_with};

#[derive(Clone, Debug)]
struct Received {
    event: String,
    signature: String,
    body: Vec<u8>,
}

/// A program's endpoint that fails its first `failures` requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests left to answer too late (after 3 s), then to answer 503.
    slow: Mutex<usize>,
    failures: Mutex<usize>,
}

async fn receive(
    state: web::Data<ReceiverState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    state.received.lock().unwrap().push(Received {
        event: header("Herald-Event"),
        signature: header("Herald-Signature"),
        body: body.to_vec(),
    });
    let slow = {
        let mut slow = state.slow.lock().unwrap();
        let now = *slow > 0;
        *slow = slow.saturating_sub(1);
        now
    };
    if slow {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return HttpResponse::NoContent().finish();
    }
    let mut failures = state.failures.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::NoContent().finish()
}

impl Receiver {
    fn start(slow: usize, failures: usize) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(ReceiverState {
            received: received.clone(),
            slow: Mutex::new(slow),
            failures: Mutex::new(failures),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/herald-events", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://{address}/herald-events"),
            received,
            handle,
        }
    }

    /// Waits until `count` requests came.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= count {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} requests came",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Registers `url` for the key named `key_name`; the secret shown once.
async fn register(admin: &StaffClient, key_id: &str, url: &str) -> String {
    let page = admin
        .post("/admin/webhooks", &[("key", key_id), ("url", url)])
        .await
        .text()
        .await
        .unwrap();
    let marker = r#"id="new-hook-secret" class="key" value=""#;
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no secret shown: {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// The README's recipe, written here independently of Herald's code:
/// `v1` is the hex HMAC-SHA256 of `<t>.<body>` with the secret, and `t` is
/// at most five minutes old.
fn verify(secret: &str, received: &Received) -> bool {
    let part = |name: &str| {
        received
            .signature
            .split(',')
            .find_map(|p| p.strip_prefix(name))
            .unwrap_or_default()
            .to_owned()
    };
    let t: i64 = part("t=").parse().unwrap_or_default();
    let fresh = (time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() < 300;
    fresh && sign(secret, t, &received.body) == part("v1=")
}

fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    aws_lc_rs::hmac::sign(&key, &message)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn key_id(herald: &herald_testkit::TestHerald, name: &str) -> String {
    let (id,): (uuid::Uuid,) = sqlx::query_as("select id from api_keys where name = $1")
        .bind(name)
        .fetch_one(&mut crate::database(herald).await)
        .await
        .unwrap();
    id.to_string()
}

#[tokio::test]
async fn a_finished_send_and_a_cancel_are_posted_signed_after_retries() {
    let herald = start_with(|settings| {
        settings.web.webhook_retry_seconds = 1;
        settings.web.webhook_timeout_seconds = 1;
    })
    .await;
    let admin = admin(&herald).await;
    let key = make_key(&admin, "HR system", "send").await;
    let hr = Program::new(&herald.web_base(), &key);
    // A timeout, then a 503, then taken.
    let receiver = Receiver::start(1, 1);

    // The page refuses what it cannot post to, saying why.
    let refused = admin
        .post(
            "/admin/webhooks",
            &[
                ("key", &key_id(&herald, "HR system").await),
                ("url", "http://hr.contoso.example/x"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("https"));

    let secret = register(&admin, &key_id(&herald, "HR system").await, &receiver.url).await;
    assert!(secret.starts_with("whsec_"));
    let to = people(&herald, 2).await;
    let mut body = announcement("Payslips are out", &to);
    body["send"] = json!(true);
    let created: Value = hr
        .post("/api/v1/announcements", &body, None)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Too late, then 503, then the third attempt is taken.
    let got = receiver.wait_for(3).await;
    for attempt in &got {
        assert_eq!(attempt.event, "announcement.sent");
        assert!(
            verify(&secret, attempt),
            "signed with the secret: {}",
            attempt.signature
        );
        assert!(
            !verify("whsec_other", attempt),
            "another secret does not match"
        );
    }
    let event: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(event["event"], "announcement.sent");
    assert_eq!(event["announcement"]["id"], id);
    assert_eq!(event["announcement"]["delivered"], 2, "{event}");
    // The same body with an old timestamp is not accepted: replays fail.
    let old = Received {
        signature: format!("t=1000000,v1={}", sign(&secret, 1_000_000, &got[2].body)),
        ..got[2].clone()
    };
    assert!(!verify(&secret, &old));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut page = admin.page("/admin/api-keys").await;
    while !page.contains("Delivered") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never shown delivered: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = admin.page("/admin/api-keys").await;
    }
    assert_eq!(
        page.matches("answered 503").count(),
        1,
        "every attempt is shown"
    );
    assert!(
        page.contains("did not answer within 1 s"),
        "the timeout is shown"
    );
    assert!(page.contains("answered 204"));

    // A cancel is told too, once.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut scheduled = announcement("Office closed Friday", &to);
    scheduled["scheduleAt"] = json!(later);
    let created: Value = hr
        .post("/api/v1/announcements", &scheduled, None)
        .await
        .json()
        .await
        .unwrap();
    let second = created["id"].as_str().unwrap();
    let canceled = hr
        .post(
            &format!("/api/v1/announcements/{second}/cancel"),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(canceled.status(), 200);
    let got = receiver.wait_for(4).await;
    assert_eq!(got[3].event, "announcement.canceled");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.received.lock().unwrap().len(),
        4,
        "each event once"
    );
    receiver.handle.stop(false).await;
    herald.stop().await;
}

#[tokio::test]
async fn a_webhook_that_never_answers_is_given_up_after_a_day() {
    let herald = start_with(|settings| settings.web.webhook_retry_seconds = 1).await;
    let admin = admin(&herald).await;
    let key = make_key(&admin, "Flaky tool", "send").await;
    let tool = Program::new(&herald.web_base(), &key);
    let receiver = Receiver::start(0, usize::MAX);
    register(&admin, &key_id(&herald, "Flaky tool").await, &receiver.url).await;
    let mut body = announcement("Never heard", &people(&herald, 1).await);
    body["send"] = json!(true);
    tool.post("/api/v1/announcements", &body, None).await;
    receiver.wait_for(1).await;
    // As if the event were a day old: the next failure is the last.
    sqlx::query("update webhook_deliveries set created_at = now() - interval '1 day', next_attempt_at = now()")
        .execute(&mut crate::database(&herald).await)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !admin.page("/admin/api-keys").await.contains("Gave up") {
        assert!(tokio::time::Instant::now() < deadline, "never gave up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tried = receiver.received.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.received.lock().unwrap().len(),
        tried,
        "no attempts after giving up"
    );
    receiver.handle.stop(false).await;
    herald.stop().await;
}

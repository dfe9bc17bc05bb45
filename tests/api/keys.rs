//! API keys from end to end: an admin makes one in the UI, a program sends
//! and reads with it, and what it sent is shown as sent by it; keys are
//! shown once, stored hashed, scoped, revocable and expire.

use herald_testkit::api::{Program, key_in};
use herald_testkit::web::StaffClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{admin, announcement, database, people, problem, program, start, user_id};

#[tokio::test]
async fn a_key_made_in_the_ui_sends_an_announcement_and_reads_its_report() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "Payroll system", "send").await;
    let to = people(&herald, 3).await;

    let mut body = announcement("Payslips are out", &to);
    body["send"] = json!(true);
    let created = hr.post("/api/v1/announcements", &body, None).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/announcements/{id}"));
    assert_eq!(body["author"], "Payroll system");

    let report = hr.wait_for_status(&id, "sent").await;
    assert_eq!(report["progress"]["delivered"], 3, "{report}");
    for upn in &to {
        let messages = herald.messages(&user_id(&herald, upn).await).await;
        let card = messages.last().unwrap().to_string();
        assert!(card.contains("Payslips are out"), "{card}");
    }

    let recipients = hr
        .json(&format!(
            "/api/v1/announcements/{id}/recipients?status=delivered"
        ))
        .await;
    assert_eq!(recipients["items"].as_array().unwrap().len(), 3);
    let csv = hr
        .get(&format!("/api/v1/announcements/{id}/recipients.csv"))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let listed = hr.json("/api/v1/announcements").await;
    assert_eq!(listed["items"][0]["id"], id);

    // People see in the UI that the program sent it, never a person.
    let home = admin.page("/").await;
    assert!(home.contains("Payroll system"), "the list names the key");
    herald.stop().await;
}

#[tokio::test]
async fn a_key_is_shown_once_kept_as_a_hash_and_records_its_use() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let response = admin
        .post(
            "/admin/api-keys",
            &[("name", "Incident bot"), ("scope", "send"), ("days", "90")],
        )
        .await;
    let page = response.text().await.unwrap();
    let key = key_in(&page).unwrap();
    assert!(key.starts_with("herald_") && key.len() > 40, "{key}");

    let again = admin.page("/admin/api-keys").await;
    assert!(!again.contains(&key), "the key is shown once only");
    assert!(again.contains("Incident bot") && again.contains("Never"));
    let (hash, prefix): (Vec<u8>, String) =
        sqlx::query_as("select token_hash, prefix from api_keys where name = 'Incident bot'")
            .fetch_one(&mut database(&herald).await)
            .await
            .unwrap();
    assert_eq!(hash.len(), 32);
    assert!(key.starts_with(&prefix) && prefix.len() < 16);
    let dump: (String,) = sqlx::query_as("select row_to_json(api_keys)::text from api_keys")
        .fetch_one(&mut database(&herald).await)
        .await
        .unwrap();
    assert!(
        !dump.0.contains(&key[prefix.len()..]),
        "only a hash is stored"
    );

    let bot = Program::new(&herald.web_base(), &key);
    bot.json("/api/v1/announcements").await;
    let used = admin.page("/admin/api-keys").await;
    assert!(!used.contains(">Never<"), "the last use is shown");
    herald.stop().await;
}

#[tokio::test]
async fn revoked_expired_and_unknown_keys_are_refused() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let bot = program(&herald, &admin, "Old pipeline", "send").await;
    bot.json("/api/v1/announcements").await;

    let (id,): (uuid::Uuid,) = sqlx::query_as("select id from api_keys")
        .fetch_one(&mut database(&herald).await)
        .await
        .unwrap();
    let revoked = admin
        .post(&format!("/admin/api-keys/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let refused = problem(
        bot.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );
    assert!(admin.page("/admin/api-keys").await.contains("Revoked"));

    let late = program(&herald, &admin, "Expired job", "send").await;
    sqlx::query("update api_keys set created_at = now() - interval '2 days', expires_at = now() - interval '1 day' where name = 'Expired job'")
        .execute(&mut database(&herald).await)
        .await
        .unwrap();
    problem(
        late.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;

    let forged = Program::new(&herald.web_base(), "herald_not-a-real-key");
    problem(
        forged.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;
    let garbage = Program::new(&herald.web_base(), "garbage");
    let answer = garbage.get("/api/v1/announcements").await;
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
    problem(answer, 401, "unauthenticated").await;
    // A key is for the API only: the pages still want a session.
    let page = bot.get("/admin/api-keys").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    herald.stop().await;
}

/// Who may do what through the API: each caller against each route.
#[tokio::test]
async fn every_api_route_checks_who_is_asking() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let staff = herald.staff().await;
    let author = StaffClient::sign_in(&herald.web_base(), &staff[1].0).await;
    let sender = program(&herald, &admin, "Sender", "send").await;
    let other = program(&herald, &admin, "Other sender", "send").await;
    let reader = program(&herald, &admin, "Reader", "read").await;
    let nobody = Program::new(&herald.web_base(), "herald_nothing");
    let to = people(&herald, 1).await;

    let created = sender
        .post("/api/v1/announcements", &announcement("Mine", &to), None)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = format!("/api/v1/announcements/{id}");

    // Reading: the owner and the reader see it; another sender does not.
    for (who, client, status) in [
        ("owner", &sender, 200),
        ("reader", &reader, 200),
        ("other sender", &other, 404),
        ("nobody", &nobody, 401),
    ] {
        for path in [
            own.clone(),
            format!("{own}/recipients"),
            format!("{own}/recipients.csv"),
        ] {
            assert_eq!(client.get(&path).await.status(), status, "{who} {path}");
        }
    }
    // The overview: readers and admins.
    assert_eq!(reader.get("/api/v1/overview").await.status(), 200);
    problem(sender.get("/api/v1/overview").await, 403, "forbidden").await;
    assert_eq!(admin.get("/api/v1/overview").await.status(), 200);
    problem(author.get("/api/v1/overview").await, 403, "forbidden").await;

    // Changing: the owner only; a reader may not, another sender finds nothing.
    let body = json!({});
    problem(
        reader.post(&format!("{own}/send"), &body, None).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        reader
            .post(
                "/api/v1/announcements",
                &announcement("Reader's", &to),
                None,
            )
            .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        other.post(&format!("{own}/send"), &body, None).await,
        404,
        "not-found",
    )
    .await;
    let sent = sender.post(&format!("{own}/send"), &body, None).await;
    assert_eq!(
        sent.status(),
        StatusCode::OK,
        "{}",
        sent.text().await.unwrap()
    );
    sender.wait_for_status(&id, "sent").await;
    herald.stop().await;
}

/// A browser session keeps working on the same routes, with its CSRF rule
/// for changes; the old `/api/` paths move to `/api/v1`.
#[tokio::test]
async fn a_signed_in_session_uses_the_api_with_its_csrf_token() {
    let herald = start().await;
    let staff = herald.staff().await;
    let author = StaffClient::sign_in(&herald.web_base(), &staff[1].0).await;
    let to = people(&herald, 1).await;
    let body = announcement("From a browser", &to);

    let without = author
        .http
        .post(author.url("/api/v1/announcements"))
        .header("Cookie", &author.cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(without, 403, "csrf").await;
    let with = author
        .http
        .post(author.url("/api/v1/announcements"))
        .header("Cookie", &author.cookie)
        .header("X-CSRF-Token", &author.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::CREATED);
    let created: Value = with.json().await.unwrap();
    assert_eq!(created["author"], staff_name(&herald, &staff[1].0).await);

    let moved = author.get("/api/announcements?limit=5").await;
    assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(moved.headers()["location"], "/api/v1/announcements?limit=5");
    let signed_out = StaffClient::signed_out(&herald.web_base());
    problem(
        signed_out.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;
    herald.stop().await;
}

async fn staff_name(herald: &herald_testkit::TestHerald, upn: &str) -> String {
    herald
        .directory_users()
        .await
        .iter()
        .find(|u| u["userPrincipalName"] == upn)
        .map(|u| u["displayName"].as_str().unwrap().to_owned())
        .unwrap()
}

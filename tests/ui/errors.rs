//! When Herald itself fails, the person reads what they can do and a
//! reference to quote, never the database's words; a script gets the same
//! as JSON.

use reqwest::StatusCode;
use serde_json::Value;

use crate::receipts::database;
use crate::{people, sign_in_staff, start};

/// What PostgreSQL and sqlx would say, which must stay in the log.
const INTERNALS: [&str; 4] = [
    "refused by the test trigger",
    "error returned from database",
    "database error",
    "notifications_gone",
];

fn assert_no_internals(text: &str) {
    for words in INTERNALS {
        assert!(!text.contains(words), "{words:?} leaked: {text}");
    }
}

fn is_request_id(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

#[tokio::test]
async fn a_database_failure_says_what_to_do_and_gives_a_reference() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let listed = people(&herald, 2).await;
    let id = author
        .create_draft(&[("title", "refuse me"), ("csv", &listed.join("\n"))])
        .await;
    // The database refuses to start this one sending, as a full disk or a
    // failover would.
    sqlx::raw_sql(
        "create function refuse() returns trigger language plpgsql as $$ begin \
           if new.title = 'refuse me' and new.status <> old.status then \
             raise exception 'refused by the test trigger'; \
           end if; return new; end $$; \
         create trigger refuse before update on notifications \
           for each row execute function refuse();",
    )
    .execute(&mut database(&herald).await)
    .await
    .unwrap();

    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = sent.text().await.unwrap();
    assert!(
        page.contains("database is not answering") && page.contains("try again in a minute"),
        "{page}"
    );
    assert_no_internals(&page);
    let reference = page
        .split(r#"<code id="request-id">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the page shows the request id");
    assert!(is_request_id(reference), "{reference}");
    // Nothing half-done: it is still a draft, and it can be sent once the
    // database takes it.
    let draft = author.page(&format!("/drafts/{id}")).await;
    assert!(draft.contains("refuse me"));
    sqlx::raw_sql("drop trigger refuse on notifications")
        .execute(&mut database(&herald).await)
        .await
        .unwrap();
    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);

    // A program asking for the list while the table is unreachable.
    sqlx::raw_sql("alter table notifications rename to notifications_gone")
        .execute(&mut database(&herald).await)
        .await
        .unwrap();
    let answer = author.get("/api/v1/announcements").await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["type"], "urn:herald:problem:database-unavailable");
    let error = body["detail"].as_str().unwrap();
    assert!(error.contains("database is not answering"), "{body}");
    assert_no_internals(&body.to_string());
    assert!(
        is_request_id(body["request_id"].as_str().unwrap()),
        "{body}"
    );
    sqlx::raw_sql("alter table notifications_gone rename to notifications")
        .execute(&mut database(&herald).await)
        .await
        .unwrap();
    herald.stop().await;
}

//! When Herald itself fails, the person is told what to do and given a
//! reference to quote; the database's own words stay in the log.

use reqwest::StatusCode;

use crate::access::sqlx_exec;
use crate::{sign_in_staff, start};

/// What PostgreSQL says when the send cannot be stored: it must not reach
/// the page.
const INTERNALS: &str = "relation pg_internal_7f3a is corrupted";

#[tokio::test]
async fn a_database_failure_says_what_to_do_and_gives_a_reference_not_its_internals() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let id = author
        .create_draft(&[("title", "Lunch"), ("target", "everyone"), ("target_label", "Everyone")])
        .await;
    sqlx_exec(
        &herald,
        "create function refuse() returns trigger language plpgsql as \
         $$ begin raise exception 'relation pg_internal_7f3a is corrupted'; end $$; \
         create trigger refuse before update on notifications execute function refuse()",
    )
    .await;

    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = sent.text().await.unwrap();
    assert!(!page.contains(INTERNALS), "{page}");
    assert!(!page.contains("database error"), "{page}");
    assert!(page.contains("database is not answering; try again in a minute"), "{page}");
    let reference = element_text(&page, "request-id");
    assert_eq!(reference.len(), 36, "a request id to quote: {page}");

    let listed = author.get("/api/announcements?q=x").await;
    assert_eq!(listed.status(), StatusCode::OK, "reading still works");
    sqlx_exec(&herald, "alter table notifications rename to notifications_away").await;
    let answer = author.get("/api/announcements").await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("try again in a minute"),
        "{body}"
    );
    assert_eq!(body["request_id"].as_str().map(str::len), Some(36), "{body}");
    assert!(!body.to_string().contains("notifications"), "{body}");
    herald.stop().await;
}

fn element_text<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!(r#"id="{id}">"#)).unwrap_or_else(|| panic!("no #{id} in {page}"));
    let text = &page[start + id.len() + 6..];
    &text[..text.find('<').unwrap()]
}

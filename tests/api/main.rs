//! Herald's API for programs (`/api/v1`) over HTTP, against a real Herald
//! with PostgreSQL, RabbitMQ and the Teams emulator: API keys made in the
//! UI, Entra ID app tokens, Idempotency-Key, the rate per program,
//! problem documents for bad input, and every action the UI has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod bad_input;
mod idempotency;
mod keys;
mod limits;
mod openapi;
mod tokens;
mod webhooks;

use herald_testkit::api::{Program, make_key};
use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};
use serde_json::{Value, json};

/// A Herald with a small directory and the emulator's staff.
pub async fn start() -> TestHerald {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut herald_config::Settings)) -> TestHerald {
    let mut config = emulator_config(40);
    config.directory.groups = 4;
    config.directory.teams = 2;
    TestHerald::start(config, tweak).await
}

/// The emulator's admin, signed in.
pub async fn admin(herald: &TestHerald) -> StaffClient {
    let staff = herald.staff().await;
    StaffClient::sign_in(&herald.web_base(), &staff[0].0).await
}

/// A program with a key of `scope` that the admin made.
pub async fn program(herald: &TestHerald, admin: &StaffClient, name: &str, scope: &str) -> Program {
    let key = make_key(admin, name, scope).await;
    Program::new(&herald.web_base(), &key)
}

/// UPNs of people who are not staff.
pub async fn people(herald: &TestHerald, count: usize) -> Vec<String> {
    herald.people(0, count).await
}

/// The emulator's object id of a person.
pub async fn user_id(herald: &TestHerald, upn: &str) -> String {
    herald.user_id(upn).await
}

/// An announcement body to these people.
pub fn announcement(title: &str, people: &[String]) -> Value {
    json!({
        "title": title,
        "summary": "The VPN is down in **Berlin**; we are on it.",
        "buttons": [{"title": "Status page", "url": "https://status.contoso.example"}],
        "people": people,
    })
}

/// Asserts an RFC 9457 problem document of this type and status; its
/// body.
pub async fn problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert_eq!(content_type, "application/problem+json", "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], format!("urn:herald:problem:{kind}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
    body
}

/// A connection to the test's own database.
pub async fn database(herald: &TestHerald) -> sqlx::PgConnection {
    use secrecy::ExposeSecret;
    use sqlx::Connection;
    sqlx::PgConnection::connect(herald.settings.database.url.expose_secret())
        .await
        .unwrap()
}

/// How many announcements (tests aside) the database holds.
pub async fn stored(herald: &TestHerald) -> i64 {
    let (count,): (i64,) = sqlx::query_as("select count(*) from notifications where not is_test")
        .fetch_one(&mut database(herald).await)
        .await
        .unwrap();
    count
}

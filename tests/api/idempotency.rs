//! `Idempotency-Key`: a create or send sent again with the same key and
//! body gets the first answer and sends nothing twice, also when the
//! copies arrive at once at two `herald web` servers; the same key with
//! another body is refused.

use futures_util::future::join_all;
use herald_testkit::api::Program;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{admin, announcement, people, problem, program, start, stored, user_id};

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_and_send_once() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let to = people(&herald, 2).await;
    let mut body = announcement("Benefits enrolment opens", &to);
    body["send"] = json!(true);

    let first = hr
        .post("/api/v1/announcements", &body, Some("enrolment-1"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = hr
        .post("/api/v1/announcements", &body, Some("enrolment-1"))
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"],
        format!("/api/v1/announcements/{}", first["id"].as_str().unwrap())
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(stored(&herald).await, 1);

    let id = first["id"].as_str().unwrap();
    hr.wait_for_status(id, "sent").await;
    // A send with a key, sent twice, is one send too.
    let resend = hr
        .post(
            &format!("/api/v1/announcements/{id}/send"),
            &json!({}),
            Some("send-1"),
        )
        .await;
    problem(resend, 409, "not-a-draft").await;

    // Another body under the same key is a mistake, said as such.
    body["title"] = json!("Benefits enrolment opens today");
    let reused = hr
        .post("/api/v1/announcements", &body, Some("enrolment-1"))
        .await;
    problem(reused, 422, "idempotency-key-reused").await;
    // Keys are the caller's own: another program may use the same one.
    let other = program(&herald, &admin, "Other", "send").await;
    let theirs = other
        .post("/api/v1/announcements", &body, Some("enrolment-1"))
        .await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert_eq!(stored(&herald).await, 2);

    for upn in &to {
        let cards = herald.messages(&user_id(&herald, upn).await).await;
        let got = cards
            .iter()
            .filter(|m| m.to_string().contains(r#""Benefits enrolment opens""#))
            .count();
        assert_eq!(got, 1, "{upn} got the announcement once");
    }
    herald.stop().await;
}

#[tokio::test]
async fn copies_arriving_at_once_at_two_web_servers_send_once() {
    let herald = start().await;
    let second = herald_app::start(
        &herald.settings,
        herald_app::Roles {
            prepare: false,
            send: false,
            web: true,
        },
    )
    .await
    .unwrap();
    let second_base = format!("http://{}", second.web.as_ref().unwrap().address);
    let admin = admin(&herald).await;
    let key = herald_testkit::api::make_key(&admin, "Incident tool", "send").await;
    let servers = [
        Program::new(&herald.web_base(), &key),
        Program::new(&second_base, &key),
    ];
    let to = people(&herald, 3).await;
    let mut body = announcement("The VPN is down", &to);
    body["send"] = json!(true);

    let copies = (0..8).map(|n| {
        let server = &servers[n % 2];
        let body = body.clone();
        async move {
            server
                .post("/api/v1/announcements", &body, Some("vpn-outage-42"))
                .await
        }
    });
    let mut ids = Vec::new();
    for answer in join_all(copies).await {
        assert_eq!(answer.status(), StatusCode::CREATED);
        let created: Value = answer.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every copy got the first answer: {ids:?}");
    assert_eq!(stored(&herald).await, 1);
    servers[0].wait_for_status(&ids[0], "sent").await;
    for upn in &to {
        let cards = herald.messages(&user_id(&herald, upn).await).await;
        let got = cards
            .iter()
            .filter(|m| m.to_string().contains("The VPN is down"))
            .count();
        assert_eq!(got, 1, "{upn} got it once");
    }
    second.stop().await;
    herald.stop().await;
}

//! Every action the UI has, through the API: drafts changed and deleted,
//! schedule, unschedule, cancel, a test to a named person, a reminder,
//! and editing and recalling what went out.

use std::time::Duration;

use herald_testkit::api::Program;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{admin, announcement, people, problem, program, start, user_id};

async fn create(program: &Program, body: &Value) -> String {
    let created = program.post("/api/v1/announcements", body, None).await;
    let status = created.status();
    let created: Value = created.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn act(program: &Program, id: &str, action: &str, body: Value) -> Value {
    let answer = program
        .post(&format!("/api/v1/announcements/{id}/{action}"), &body, None)
        .await;
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{action}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn drafts_are_changed_tested_scheduled_unscheduled_and_canceled() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let to = people(&herald, 2).await;
    let id = create(&hr, &announcement("Draft one", &to)).await;
    let draft = hr.json(&format!("/api/v1/announcements/{id}")).await;
    assert_eq!(draft["status"], "draft");

    // Replaced whole, as the compose page saves it.
    let changed = hr
        .send(
            hr.request(reqwest::Method::PUT, &format!("/api/v1/announcements/{id}"))
                .json(&json!({"title": "Draft one, better", "people": to, "acknowledge": true})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(
        changed.json::<Value>().await.unwrap()["title"],
        "Draft one, better"
    );

    // A test to a named person; a program must name one.
    let tester = &to[1];
    act(&hr, &id, "test", json!({"to": tester})).await;
    let tester_id = user_id(&herald, tester).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !herald
        .messages(&tester_id)
        .await
        .iter()
        .any(|m| m.to_string().contains("[Test] Draft one, better"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the test never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let nameless = hr
        .post(
            &format!("/api/v1/announcements/{id}/test"),
            &json!({}),
            None,
        )
        .await;
    let body = problem(nameless, 422, "invalid-announcement").await;
    assert!(
        body["errors"]["to"]
            .as_str()
            .unwrap()
            .contains("who gets the test"),
        "{body}"
    );

    // Scheduled with an offset, shown back in UTC; then a draft again.
    let at = (OffsetDateTime::now_utc() + time::Duration::days(2))
        .to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap())
        .format(&Rfc3339)
        .unwrap();
    let scheduled = act(
        &hr,
        &id,
        "schedule",
        json!({"at": at, "timeZone": "Asia/Kolkata"}),
    )
    .await;
    assert_eq!(scheduled["status"], "scheduled");
    let back = act(&hr, &id, "unschedule", json!({})).await;
    assert_eq!(back["status"], "draft");
    act(&hr, &id, "schedule", json!({"at": at})).await;
    let canceled = act(&hr, &id, "cancel", json!({})).await;
    assert_eq!(canceled["status"], "canceled");

    // Only drafts are deleted.
    let other = create(&hr, &announcement("Draft two", &to)).await;
    let gone = hr
        .send(hr.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/announcements/{other}"),
        ))
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    problem(
        hr.get(&format!("/api/v1/announcements/{other}")).await,
        404,
        "not-found",
    )
    .await;
    let kept = hr
        .send(hr.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/announcements/{id}"),
        ))
        .await;
    problem(kept, 409, "conflict").await;
    herald.stop().await;
}

#[tokio::test]
async fn what_went_out_is_reminded_of_edited_and_recalled() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let to = people(&herald, 2).await;
    let mut body = announcement("Sign the new policy", &to);
    body["acknowledge"] = json!(true);
    body["send"] = json!(true);
    let id = create(&hr, &body).await;
    hr.wait_for_status(&id, "sent").await;

    let reminded = act(&hr, &id, "remind", json!({})).await;
    assert_eq!(reminded["id"], id);

    // An edit may not change who got it, and must change something.
    let retarget = hr
        .post(
            &format!("/api/v1/announcements/{id}/edit"),
            &json!({"title": "Sign it", "audience": ["everyone"]}),
            None,
        )
        .await;
    problem(retarget, 422, "invalid-announcement").await;
    let edited = act(
        &hr,
        &id,
        "edit",
        json!({"title": "Sign the new policy by Friday", "summary": "The deadline moved."}),
    )
    .await;
    assert_eq!(edited["title"], "Sign the new policy by Friday");
    let notification = herald_domain::NotificationId(id.parse().unwrap());
    herald
        .wait_for_change(notification, Duration::from_secs(60))
        .await;
    let mut originals = Vec::new();
    for upn in &to {
        let cards = herald.messages(&user_id(&herald, upn).await).await;
        let card = cards
            .iter()
            .find(|m| m.to_string().contains("Sign the new policy"))
            .unwrap();
        assert!(card.to_string().contains("by Friday"), "{card}");
        originals.push((upn.clone(), card["id"].clone()));
    }

    let recalled = act(&hr, &id, "recall", json!({"how": "delete"})).await;
    assert_eq!(recalled["id"], id);
    herald
        .wait_for_change(notification, Duration::from_secs(60))
        .await;
    for (upn, original) in &originals {
        let cards = herald.messages(&user_id(&herald, upn).await).await;
        let card = cards.iter().find(|m| m["id"] == *original).unwrap();
        assert_eq!(card["deleted"], true, "{card}");
    }
    let again = hr
        .post(
            &format!("/api/v1/announcements/{id}/recall"),
            &json!({}),
            None,
        )
        .await;
    problem(again, 409, "conflict").await;
    let draft = create(&hr, &announcement("Never sent", &to)).await;
    let early = hr
        .post(
            &format!("/api/v1/announcements/{draft}/edit"),
            &json!({"title": "x"}),
            None,
        )
        .await;
    problem(early, 409, "not-sent").await;
    herald.stop().await;
}

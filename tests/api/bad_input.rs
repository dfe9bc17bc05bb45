//! Bad input on every route: a problem document that says what is wrong,
//! never an HTML page and never a 5xx, and nothing half-stored.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{admin, announcement, people, problem, program, start, stored};

#[tokio::test]
async fn every_route_answers_bad_input_with_a_problem_and_stores_nothing() {
    let herald = start().await;
    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let to = people(&herald, 1).await;
    let created = hr
        .post("/api/v1/announcements", &announcement("Kept", &to), None)
        .await;
    let draft: Value = created.json().await.unwrap();
    let id = draft["id"].as_str().unwrap().to_owned();
    let one = format!("/api/v1/announcements/{id}");

    // Bodies that are not the JSON a route takes.
    let posts = [
        "/api/v1/announcements".to_owned(),
        format!("{one}/send"),
        format!("{one}/schedule"),
        format!("{one}/unschedule"),
        format!("{one}/cancel"),
        format!("{one}/test"),
        format!("{one}/remind"),
        format!("{one}/edit"),
        format!("{one}/recall"),
    ];
    for path in &posts {
        for raw in ["{", "[1, 2]", "\"text\"", r#"{"colour": "blue"}"#] {
            let answer = hr
                .send(
                    hr.request(Method::POST, path)
                        .header("content-type", "application/json")
                        .body(raw),
                )
                .await;
            let body = problem(answer, 400, "bad-request").await;
            assert!(
                body["detail"].as_str().unwrap().contains("JSON"),
                "{path} {raw}: {body}"
            );
        }
    }
    // Not UTF-8 at all.
    let garbled = hr
        .send(
            hr.request(Method::POST, "/api/v1/announcements")
                .header("content-type", "application/json")
                .body(vec![b'{', b'"', b't', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        )
        .await;
    problem(garbled, 400, "bad-request").await;
    let put = hr
        .send(
            hr.request(Method::PUT, &one)
                .header("content-type", "application/json")
                .body(r#"{"title": 5}"#),
        )
        .await;
    problem(put, 400, "bad-request").await;

    // Announcements the UI would refuse, with the UI's words, by field.
    let cases: [(Value, &str, &str); 10] = [
        (json!({"title": "  ", "people": to}), "title", "title"),
        (json!({}), "title", "title"),
        (
            json!({"title": "x", "buttons": [{"title": "Go", "url": "http://intranet.contoso.example"}]}),
            "buttons[0].url",
            "https",
        ),
        (
            json!({"title": "x", "imageUrl": "ftp://img", "people": to}),
            "imageUrl",
            "https",
        ),
        (
            json!({"title": "x", "buttons": [{"title": "", "url": "https://a.example"}]}),
            "buttons[0].title",
            "",
        ),
        (
            json!({"title": "x", "buttons": [{"title": "Go", "url": "javascript:alert(1)"}]}),
            "buttons[0].url",
            "",
        ),
        (
            json!({"title": "x", "buttons": [{"title": "a", "url": "https://a.example"}, {"title": "b", "url": "https://a.example"}, {"title": "c", "url": "https://a.example"}, {"title": "d", "url": "https://a.example"}]}),
            "buttons",
            "at most 3",
        ),
        (
            json!({"title": "x", "audience": ["planet:mars"]}),
            "audience",
            "not a target",
        ),
        (
            json!({"title": "x", "people": ["nobody@nowhere.example"]}),
            "people",
            "match nobody",
        ),
        (
            json!({"title": "x", "people": to, "scheduleAt": "tomorrow at nine"}),
            "scheduleAt",
            "RFC 3339",
        ),
    ];
    for (body, field, words) in cases {
        let answer = hr.post("/api/v1/announcements", &body, None).await;
        let refused = problem(answer, 422, "invalid-announcement").await;
        let said = refused["errors"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {refused}"));
        assert!(said.contains(words), "{field}: {said}");
    }
    let past = hr
        .post(
            "/api/v1/announcements",
            &json!({"title": "x", "people": to, "scheduleAt": "2020-01-01T09:00:00Z"}),
            None,
        )
        .await;
    let refused = problem(past, 422, "invalid-announcement").await;
    assert!(
        refused["errors"]["scheduleAt"]
            .as_str()
            .unwrap()
            .contains("passed")
    );
    let both = hr
        .post(
            "/api/v1/announcements",
            &json!({"title": "x", "people": to, "send": true, "scheduleAt": "2099-01-01T09:00:00Z"}),
            None,
        )
        .await;
    problem(both, 422, "invalid-announcement").await;
    let nobody = hr
        .post(
            "/api/v1/announcements",
            &json!({"title": "x", "send": true}),
            None,
        )
        .await;
    problem(nobody, 400, "no-audience").await;
    let bad_schedule = hr
        .post(
            &format!("{one}/schedule"),
            &json!({"at": "2099-01-01T09:00:00Z", "timeZone": "Mars/Olympus"}),
            None,
        )
        .await;
    problem(bad_schedule, 422, "invalid-announcement").await;
    let bad_recall = hr
        .post(&format!("{one}/recall"), &json!({"how": "shred"}), None)
        .await;
    problem(bad_recall, 400, "bad-request").await;

    // Addresses that name nothing.
    for path in [
        "/api/v1/announcements/not-an-id".to_owned(),
        format!("/api/v1/announcements/{}", uuid::Uuid::new_v4()),
        format!("/api/v1/announcements/{}/recipients", uuid::Uuid::new_v4()),
    ] {
        problem(hr.get(&path).await, 404, "not-found").await;
    }
    problem(hr.get("/api/v1/nothing-here").await, 404, "no-such-route").await;
    problem(
        hr.send(hr.request(Method::PATCH, &one)).await,
        404,
        "no-such-route",
    )
    .await;

    // Query strings, headers and sizes.
    let sorted = hr.get("/api/v1/announcements?sort=colour").await;
    problem(sorted, 400, "bad-request").await;
    let limit = hr.get(&format!("{one}/recipients?limit=-4")).await;
    problem(limit, 400, "bad-request").await;
    let key = hr
        .send(
            hr.request(Method::POST, "/api/v1/announcements")
                .header("Idempotency-Key", "")
                .json(&announcement("x", &to)),
        )
        .await;
    problem(key, 400, "bad-request").await;
    let huge = "x".repeat(10 * 1024 * 1024);
    let large = hr
        .send(
            hr.request(Method::POST, "/api/v1/announcements")
                .header("content-type", "application/json")
                .body(format!(r#"{{"title": "{huge}"}}"#)),
        )
        .await;
    problem(large, 413, "bad-request").await;

    // 10,000 people, some of whom the directory does not know: refused,
    // naming how many, with nothing stored.
    let mut many: Vec<String> = (0..9_990)
        .map(|n| format!("nobody{n}@contoso.example"))
        .collect();
    many.extend(people(&herald, 10).await);
    let listed = hr
        .post(
            "/api/v1/announcements",
            &json!({"title": "To many", "people": many, "send": true}),
            None,
        )
        .await;
    let refused = problem(listed, 422, "invalid-announcement").await;
    let said = refused["errors"]["people"].as_str().unwrap();
    assert!(
        said.starts_with("9,990 of 10,000 rows match nobody"),
        "{said}"
    );

    assert_eq!(stored(&herald).await, 1, "only the first draft is stored");
    assert_eq!(
        herald.emulator_stats().await["activities_received"],
        0,
        "nothing was sent"
    );
    let kept = hr.json(&one).await;
    assert_eq!(kept["title"], "Kept");
    assert_eq!(kept["status"], "draft");
    herald.stop().await;
}

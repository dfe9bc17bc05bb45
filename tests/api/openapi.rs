//! The OpenAPI document Herald serves describes what it answers. Every
//! answer a test's program gets is checked against it (`herald_testkit::
//! contract`, through `Program::send`); here: anyone may read it, every
//! route it lists exists, the check can fail, and answers of each kind
//! (successes and problems) pass it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin, announcement, people, program, start};
use herald_testkit::contract::Contract;

#[tokio::test]
async fn answers_match_the_served_openapi_document() {
    let herald = start().await;
    let served = reqwest::get(format!("{}/api/v1/openapi.json", herald.web_base()))
        .await
        .unwrap();
    assert_eq!(
        served.status(),
        StatusCode::OK,
        "anyone may read the description"
    );
    let doc: serde_json::Value = served.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    // The check can fail: a body of the wrong shape, or a status the
    // document does not list, is caught.
    let contract = Contract::fetch(&herald.web_base()).await;
    assert!(
        contract
            .validate("#/components/schemas/Report", &json!({"id": 5}))
            .is_err()
    );
    assert!(
        contract
            .breach("get", "/api/v1/overview", 418, "application/json", b"{}")
            .is_some()
    );

    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let reader = program(&herald, &admin, "Reader", "read").await;
    let to = people(&herald, 2).await;

    // Every route the document lists is served: a made-up id answers 404
    // "not-found", never "no-such-route".
    let fake = uuid::Uuid::new_v4().to_string();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let url = path.replace("{id}", &fake);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = hr.request(method.clone(), &url);
            if method != Method::GET && method != Method::DELETE {
                request = request.json(&json!({}));
            }
            let answer = hr.send(request).await;
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            assert_ne!(
                body["type"], "urn:herald:problem:no-such-route",
                "{method} {path}"
            );
        }
    }

    // Successes and problems of each route kind, each checked by `send`.
    let mut body = announcement("Checked against the document", &to);
    body["send"] = json!(true);
    let created: serde_json::Value = hr
        .post("/api/v1/announcements", &body, None)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    hr.wait_for_status(&id, "sent").await;
    hr.json("/api/v1/announcements").await;
    hr.json(&format!("/api/v1/announcements/{id}/recipients?limit=1"))
        .await;
    reader.json("/api/v1/overview").await;
    hr.post("/api/v1/announcements", &json!({"title": ""}), None)
        .await;
    hr.post("/api/v1/announcements", &json!({"title": 1}), None)
        .await;
    hr.post(
        &format!("/api/v1/announcements/{id}/send"),
        &json!({}),
        None,
    )
    .await;
    hr.get("/api/v1/overview").await;
    hr.get("/api/v1/announcements?sort=colour").await;
    herald.stop().await;
}

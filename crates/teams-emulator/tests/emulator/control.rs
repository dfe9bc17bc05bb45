use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn config_changes_are_checked() {
    let t = TestEmulator::start(10).await;
    let response = t
        .configure(json!({"global_rps": 200, "latency_ms": [5, 20]}))
        .await;
    assert_eq!(response.status(), 200);
    let current = t.control_get("/config").await;
    assert_eq!(current["global_rps"], 200);
    assert_eq!(current["latency_ms"], json!([5, 20]));

    for bad in [
        json!({"global_rpz": 1}),
        json!({"fault_rate": 1.5}),
        json!({"latency_ms": [50, 10]}),
        json!({"bot_endpoint": "not a url"}),
        json!({"token_lifetime_secs": 0}),
    ] {
        let response = t.configure(bad.clone()).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().len() > 10, "{body}");
    }
    assert_eq!(
        t.control_get("/config").await["global_rps"],
        200,
        "a refused change leaves the config alone"
    );
}

#[tokio::test]
async fn faults_are_injected_at_the_configured_rate() {
    let t = TestEmulator::start(30).await;
    assert_eq!(t.configure(json!({"fault_rate": 1.0})).await.status(), 200);
    let user = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == true)
        .await;
    for _ in 0..5 {
        let status = t
            .send_activity(user["chatId"].as_str().unwrap(), &message("x"))
            .await
            .status()
            .as_u16();
        assert!([502, 503, 504].contains(&status), "{status}");
        let (status, _) = t.graph_get("/users?$top=1").await;
        assert!([502, 503, 504].contains(&status), "{status}");
    }
    assert!(t.messages(user["id"].as_str().unwrap()).await.is_empty());
    assert_eq!(t.stats().await["faults_injected"], 10);
}

#[tokio::test]
async fn latency_is_added_to_microsoft_calls() {
    let t = TestEmulator::start(10).await;
    assert_eq!(
        t.configure(json!({"latency_ms": [60, 70]})).await.status(),
        200
    );
    let token = t.token(GRAPH_SCOPE).await;
    let started = Instant::now();
    let response = t
        .http
        .get(format!("{}/v1.0/users?$top=1", t.urls().graph))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stats_count_requests_per_endpoint() {
    let t = TestEmulator::start(10).await;
    t.graph_get("/users").await;
    t.graph_get("/users?$top=2").await;
    let stats = t.stats().await;
    assert_eq!(stats["requests"]["GET /graph/v1.0/users"], 2);
    assert_eq!(stats["graph_requests"], 2);
    assert!(
        stats["requests"]["POST /{tenant}/oauth2/v2.0/token"]
            .as_u64()
            .unwrap()
            >= 2
    );
}

#[tokio::test]
async fn the_directory_is_the_same_for_the_same_seed() {
    let a = TestEmulator::start(50).await;
    let b = TestEmulator::start(50).await;
    let ids = |d: serde_json::Value| {
        d["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(a.directory().await), ids(b.directory().await));
    let directory = a.directory().await;
    let users = directory["users"].as_array().unwrap();
    assert!(users.iter().any(|u| u["staffRoles"][0] == "Herald.Admin"));
    assert!(
        directory["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["team"].is_object())
    );
}

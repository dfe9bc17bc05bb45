//! The token cache: a slow refresh of one scope never stalls the other, and
//! callers that ask at once share one token request per scope, failed or not.

use std::sync::Arc;
use std::time::Duration;

use herald_microsoft::{AuthError, BotConnector, Credentials, Scope, TokenCache};
use serde_json::{Value, json};
use teams_emulator::{EmulatorConfig, RunningEmulator};

const GRAPH: &str = "https://graph.microsoft.com/.default";
const BOT: &str = "https://api.botframework.com/.default";

/// An emulator whose Entra ID takes `latency` per scope to issue a token.
async fn emulator(latency: Value) -> RunningEmulator {
    emulator_with(json!({ "token_latency_ms": latency })).await
}

/// An emulator with these behaviours changed.
async fn emulator_with(behaviour: Value) -> RunningEmulator {
    let mut config = EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..EmulatorConfig::default()
    };
    config.directory.users = 10;
    config.directory.installed_fraction = 1.0;
    config.directory.blocked_fraction = 0.0;
    config.directory.departing_fraction = 0.0;
    let emulator = teams_emulator::start(config).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/config", emulator.urls.control))
        .json(&behaviour)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    emulator
}

pub fn tokens(emulator: &RunningEmulator, secret: &str) -> Arc<TokenCache> {
    let urls = &emulator.urls;
    let credentials = Credentials {
        login_url: urls.login.clone(),
        tenant_id: urls.tenant_id.clone(),
        app_id: urls.app_id.clone(),
        app_secret: secret.to_owned().into(),
        bot_token_tenant: "botframework.com".to_owned(),
    };
    Arc::new(TokenCache::new(
        herald_microsoft::http_client(),
        credentials,
    ))
}

async fn token_requests(emulator: &RunningEmulator) -> Value {
    let stats: Value = reqwest::get(format!("{}/stats", emulator.urls.control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["token_requests_by_scope"].clone()
}

async fn chat_ids(emulator: &RunningEmulator) -> Vec<String> {
    let directory: Value = reqwest::get(format!("{}/directory", emulator.urls.control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["chatId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sends_go_on_while_a_graph_token_is_slow_to_come() {
    let emulator = emulator(json!({"graph": 3_000})).await;
    let tokens = tokens(&emulator, &emulator.urls.app_secret);
    let connector = BotConnector::new(herald_microsoft::http_client(), tokens.clone());
    let graph_token = tokio::spawn({
        let tokens = tokens.clone();
        async move { tokens.token(Scope::Graph).await }
    });
    // Wait until the Graph token request is in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while token_requests(&emulator).await[GRAPH] != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Graph token request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let activity = json!({"type": "message", "text": "Still sending"}).to_string();
    for chat in chat_ids(&emulator).await.iter().take(5) {
        connector
            .send(&emulator.urls.service_url, chat, &activity)
            .await
            .unwrap();
    }
    assert!(
        !graph_token.is_finished(),
        "the sends waited for the slow Graph token"
    );
    graph_token.await.unwrap().unwrap();
    assert_eq!(token_requests(&emulator).await, json!({GRAPH: 1, BOT: 1}));
    emulator.stop().await;
}

#[tokio::test]
async fn callers_asking_at_once_share_one_request_per_scope() {
    let emulator = emulator(json!({"graph": 300, "bot": 300})).await;
    let tokens = tokens(&emulator, &emulator.urls.app_secret);
    let callers: Vec<_> = (0..40)
        .map(|i| {
            let tokens = tokens.clone();
            let scope = if i % 2 == 0 {
                Scope::Graph
            } else {
                Scope::BotFramework
            };
            tokio::spawn(async move { (scope, tokens.token(scope).await.unwrap()) })
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    for caller in callers {
        let (scope, token) = caller.await.unwrap();
        let first = seen.entry(scope).or_insert_with(|| token.clone());
        assert_eq!(*first, token, "one token per scope");
    }
    assert_eq!(token_requests(&emulator).await, json!({GRAPH: 1, BOT: 1}));
    emulator.stop().await;
}

#[tokio::test]
async fn callers_waiting_on_a_refused_refresh_share_its_error() {
    let emulator = emulator(json!({"graph": 300})).await;
    let tokens = tokens(&emulator, "an expired secret");
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token(Scope::Graph).await })
        })
        .collect();
    for caller in callers {
        let error = caller.await.unwrap().unwrap_err();
        assert!(matches!(error, AuthError::Refused { .. }), "{error}");
    }
    assert_eq!(token_requests(&emulator).await, json!({GRAPH: 1}));
    // A later call asks again rather than repeating an old failure.
    assert!(tokens.token(Scope::Graph).await.is_err());
    assert_eq!(token_requests(&emulator).await, json!({GRAPH: 2}));
    emulator.stop().await;
}

/// Near its end a token is renewed by the first caller to notice, while
/// everyone else goes on with it: a slow Entra ID then holds up one send,
/// not all of them.
#[tokio::test]
async fn a_slow_renewal_holds_up_one_caller_and_no_other() {
    // A 4 s token is renewed from half its life on and sent until 1 s
    // before its end.
    let emulator = emulator_with(json!({"token_lifetime_secs": 4})).await;
    let tokens = tokens(&emulator, &emulator.urls.app_secret);
    let first = tokens.token(Scope::BotFramework).await.unwrap();
    let due = tokio::time::Instant::now() + Duration::from_millis(2_100);
    let slow = reqwest::Client::new()
        .post(format!("{}/config", emulator.urls.control))
        .json(&json!({"token_latency_ms": {"bot": 3_000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    tokio::time::sleep_until(due).await;
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let asked = tokio::time::Instant::now();
                let token = tokens.token(Scope::BotFramework).await.unwrap();
                (token, asked.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.unwrap());
    }
    let (waited, went_on): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|(_, took)| *took >= Duration::from_secs(2));
    assert_eq!(waited.len(), 1, "one caller renews: {went_on:?}");
    assert!(went_on.iter().all(|(token, _)| *token == first));
    let renewed = &waited[0].0;
    assert_ne!(*renewed, first, "the renewal brought a new token");
    assert_eq!(tokens.token(Scope::BotFramework).await.unwrap(), *renewed);
    assert_eq!(token_requests(&emulator).await, json!({BOT: 2}));
    emulator.stop().await;
}

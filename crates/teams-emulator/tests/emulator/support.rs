//! Starts an emulator on port 0 and speaks to it as Herald would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use teams_emulator::{Behaviour, DirectorySpec, EmulatorConfig, RunningEmulator};

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const BOT_SCOPE: &str = "https://api.botframework.com/.default";

pub struct TestEmulator {
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
}

pub fn config(users: usize) -> EmulatorConfig {
    EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        directory: DirectorySpec {
            users,
            ..DirectorySpec::default()
        },
        behaviour: Behaviour::default(),
        ..EmulatorConfig::default()
    }
}

impl TestEmulator {
    pub async fn start(users: usize) -> Self {
        Self::with(config(users)).await
    }

    pub async fn with(config: EmulatorConfig) -> Self {
        let emulator = teams_emulator::start(config).await.unwrap();
        Self {
            emulator,
            http: reqwest::Client::new(),
        }
    }

    pub fn urls(&self) -> &teams_emulator::EmulatorUrls {
        &self.emulator.urls
    }

    pub async fn token_response(
        &self,
        tenant: &str,
        secret: &str,
        scope: &str,
    ) -> reqwest::Response {
        let urls = self.urls();
        self.http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", urls.login))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", urls.app_id.as_str()),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, scope: &str) -> String {
        let tenant = self.urls().tenant_id.clone();
        let secret = self.urls().app_secret.clone();
        let response = self.token_response(&tenant, &secret, scope).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn graph_get(&self, path_and_query: &str) -> (u16, Value) {
        status_and_json(self.graph_request(path_and_query, false).await).await
    }

    /// An advanced query: sent with `ConsistencyLevel: eventual`.
    pub async fn graph_get_eventual(&self, path_and_query: &str) -> (u16, Value) {
        status_and_json(self.graph_request(path_and_query, true).await).await
    }

    /// Status, content type and body text of a GET, `ConsistencyLevel:
    /// eventual` or not.
    pub async fn graph_get_text(
        &self,
        path_and_query: &str,
        eventual: bool,
    ) -> (u16, String, String) {
        let response = self.graph_request(path_and_query, eventual).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("Content-Type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    /// A GET of a path under `/v1.0` or of a full link Graph gave.
    pub async fn graph_request(&self, path_and_query: &str, eventual: bool) -> reqwest::Response {
        let token = self.token(GRAPH_SCOPE).await;
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}/v1.0{path_and_query}", self.urls().graph)
        };
        let mut request = self.http.get(url).bearer_auth(token);
        if eventual {
            request = request.header("ConsistencyLevel", "eventual");
        }
        request.send().await.unwrap()
    }

    pub async fn graph_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let token = self.token(GRAPH_SCOPE).await;
        let response = self
            .http
            .post(format!("{}/v1.0{path}", self.urls().graph))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub async fn send_activity(&self, conversation: &str, activity: &Value) -> reqwest::Response {
        let token = self.token(BOT_SCOPE).await;
        self.http
            .post(format!(
                "{}v3/conversations/{conversation}/activities",
                self.urls().service_url
            ))
            .bearer_auth(token)
            .json(activity)
            .send()
            .await
            .unwrap()
    }

    pub async fn directory(&self) -> Value {
        self.control_get("/directory").await
    }

    pub async fn stats(&self) -> Value {
        self.control_get("/stats").await
    }

    pub async fn control_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.urls().control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn configure(&self, change: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/config", self.urls().control))
            .json(&change)
            .send()
            .await
            .unwrap()
    }

    pub async fn messages(&self, user_id: &str) -> Vec<Value> {
        let body = self
            .control_get(&format!("/users/{user_id}/messages"))
            .await;
        body["messages"].as_array().unwrap().clone()
    }

    /// The first user matching `wanted` in the emulator's directory.
    pub async fn find_user(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let directory = self.directory().await;
        directory["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| wanted(u))
            .cloned()
            .expect("a user like that in the seeded directory")
    }
}

pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

pub fn message(text: &str) -> Value {
    serde_json::json!({
        "type": "message",
        "summary": text,
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}
        }]
    })
}

pub fn is_plain_member(user: &Value) -> bool {
    user["userType"] == "Member"
        && user["accountEnabled"] == true
        && user["blockedBot"] == false
        && user["departing"] == false
        && user["removed"] == false
}

/// Verifies an RS256 token against a served JWKS and returns its claims.
pub async fn verify_with_jwks(
    http: &reqwest::Client,
    jwks_uri: &str,
    token: &str,
) -> (Value, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: Value = http
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .cloned()
        .expect("the token's kid is among the served keys");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &decoding, &validation).unwrap();
    (data.claims, key)
}

/// A bot endpoint that records what it receives.
pub struct RecordingBot {
    pub url: String,
    pub received: Arc<Mutex<Vec<(String, Value)>>>,
    pub handle: actix_web::dev::ServerHandle,
}

impl RecordingBot {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let store = received.clone();
        let server = HttpServer::new(move || {
            let store = store.clone();
            App::new().route(
                "/api/messages",
                web::post().to(move |request: HttpRequest, body: web::Json<Value>| {
                    let store = store.clone();
                    async move {
                        let auth = request
                            .headers()
                            .get("Authorization")
                            .map(|h| h.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        store.lock().unwrap().push((auth, body.into_inner()));
                        HttpResponse::Ok().finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/api/messages"),
            received,
            handle,
        }
    }

    pub async fn wait_for(&self, count: usize) -> Vec<(String, Value)> {
        for _ in 0..200 {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the bot received {} activities, expected {count}",
            self.received.lock().unwrap().len()
        );
    }
}

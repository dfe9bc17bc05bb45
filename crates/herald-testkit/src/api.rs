//! A program calling Herald's API (`/api/v1`) as an HR system or a
//! pipeline would: with an API key an admin made in the UI, or with an
//! Entra ID token of its own app registration from the emulator.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::contract::Contract;
use crate::web::{StaffClient, plain_client};

pub struct Program {
    pub base: String,
    /// `Bearer ...`.
    pub authorization: String,
    pub http: reqwest::Client,
    /// The served OpenAPI document every answer is checked against, read
    /// at the first request; `None` for the benchmarks, which measure.
    contract: Option<OnceCell<Contract>>,
}

impl Program {
    /// A program whose every answer must keep the API's contract.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            contract: Some(OnceCell::new()),
            ..Self::unchecked(base, token)
        }
    }

    /// The same, its answers taken as they come (for the benchmarks).
    pub fn unchecked(base: &str, token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            http: plain_client(),
            contract: None,
        }
    }

    /// Sends a request made with [`Program::request`]; its answer, after
    /// checking it against the API's contract.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = request.build().unwrap();
        let method = request.method().to_string();
        let path = request.url().path().to_owned();
        let response = self.http.execute(request).await.unwrap();
        let Some(contract) = &self.contract else {
            return response;
        };
        let contract = contract.get_or_init(|| Contract::fetch(&self.base)).await;
        let (status, version, headers) = (
            response.status(),
            response.version(),
            response.headers().clone(),
        );
        let body = response.bytes().await.unwrap();
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
            .unwrap_or_default();
        if let Some(breach) = contract.breach(&method, &path, status.as_u16(), &content_type, &body)
        {
            panic!("the answer breaks the API's OpenAPI document: {breach}");
        }
        let mut rebuilt = http::Response::builder().status(status).version(version);
        for (name, value) in &headers {
            rebuilt = rebuilt.header(name, value);
        }
        reqwest::Response::from(rebuilt.body(body).unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(AUTHORIZATION, &self.authorization)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// Posts `body` as JSON, with an `Idempotency-Key` when given.
    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self.request(reqwest::Method::POST, path).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    /// The JSON of a GET that must answer 200.
    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Waits until the announcement's status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let report = self.json(&format!("/api/v1/announcements/{id}")).await;
            if report["status"] == status {
                return report;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never became {status}: {report}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Makes an API key on the admin page as an admin does; the key, read off
/// the page that shows it once.
pub async fn make_key(admin: &StaffClient, name: &str, scope: &str) -> String {
    let response = admin
        .post(
            "/admin/api-keys",
            &[("name", name), ("scope", scope), ("days", "30")],
        )
        .await;
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    key_in(&page).unwrap_or_else(|| panic!("no key on the page: {page}"))
}

/// The key shown on the API keys page.
pub fn key_in(page: &str) -> Option<String> {
    let marker = r#"id="new-key-value" class="key" value=""#;
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

/// An Entra ID access token for Herald's API, as an application of the
/// tenant gets one with the client credentials flow.
pub async fn entra_token(
    urls: &teams_emulator::EmulatorUrls,
    app: &teams_emulator::apps::ClientApp,
) -> String {
    client_credentials(
        urls,
        &app.app_id,
        &app.secret,
        &format!("api://{}/.default", urls.app_id),
    )
    .await
}

/// Herald's own token for Graph: signed by Entra, but for another audience.
pub async fn graph_token(urls: &teams_emulator::EmulatorUrls) -> String {
    client_credentials(
        urls,
        &urls.app_id,
        &urls.app_secret,
        "https://graph.microsoft.com/.default",
    )
    .await
}

async fn client_credentials(
    urls: &teams_emulator::EmulatorUrls,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> String {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            urls.login, urls.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

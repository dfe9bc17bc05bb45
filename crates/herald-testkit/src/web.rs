//! A member of staff using Herald's web UI over plain HTTP: signed in
//! through the real OpenID Connect flow (`sign_in`, which the benchmarks
//! use too), holding the session cookie and the CSRF token its pages carry.

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

pub struct StaffClient {
    pub base: String,
    /// `herald_session=...`, or empty when signed out.
    pub cookie: String,
    pub csrf: String,
    pub http: reqwest::Client,
}

/// A client that shows redirects instead of following them.
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of a hidden `csrf` field in a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let start = page.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

impl StaffClient {
    /// Nobody signed in.
    pub fn signed_out(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            cookie: String::new(),
            csrf: String::new(),
            http: plain_client(),
        }
    }

    /// Signs `upn` in and reads a CSRF token off a page.
    pub async fn sign_in(base: &str, upn: &str) -> Self {
        let mut client = Self::signed_out(base);
        client.cookie = sign_in(base, upn).await.unwrap();
        client.csrf = csrf_in(&client.page("/").await).unwrap_or_default();
        client
    }

    /// A page's text.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// Posts a form as the pages' scripts do, the CSRF token in a header.
    pub async fn post_script(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = fields.to_vec();
        fields.push(("csrf", &self.csrf));
        self.post_raw(path, &fields).await
    }

    /// Posts exactly these fields.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Saves a new draft; its id, from the redirect.
    pub async fn create_draft(&self, fields: &[(&str, &str)]) -> String {
        let response = self.post("/drafts", fields).await;
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap()
        );
        let target = location(&response);
        target
            .trim_start_matches("/drafts/")
            .split(['?', '/'])
            .next()
            .unwrap()
            .to_owned()
    }
}

/// Signs in through OpenID Connect as a browser would, with the
/// emulator's login hint standing in for the account picker; the session
/// cookie.
pub async fn sign_in(base: &str, upn: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let next = |response: &reqwest::Response| -> anyhow::Result<String> {
        Ok(response
            .headers()
            .get(LOCATION)
            .context("sign-in did not redirect")?
            .to_str()?
            .to_owned())
    };
    let start = client.get(format!("{base}/sign-in/start")).send().await?;
    let mut authorize = reqwest::Url::parse(&next(&start)?)?;
    authorize.query_pairs_mut().append_pair("login_hint", upn);
    let code = client.get(authorize).send().await?;
    // Entra sends the browser back to web.public_url, which a test may set
    // to a name that only stands for `base` (as a proxy would).
    let mut back = reqwest::Url::parse(&next(&code)?)?;
    let base_url = reqwest::Url::parse(base)?;
    back.set_scheme(base_url.scheme()).ok();
    back.set_host(base_url.host_str()).ok();
    back.set_port(base_url.port()).ok();
    let callback = client.get(back).send().await?;
    let cookie = callback
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("herald_session="))
        .and_then(|v| v.split(';').next())
        .context("sign-in set no session cookie")?;
    Ok(cookie.to_owned())
}

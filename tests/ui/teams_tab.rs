//! The Teams tab's sign-in over HTTP: Teams' token (from the emulator's
//! page that plays Teams) for a session whose cookie works in a cross-site
//! frame; every token that is not Herald's, not this tenant's, not the
//! tab's scope or not current gets none; the pop-up's one-time code.

use herald_testkit::TestHerald;
use herald_testkit::web::{csrf_in, location, plain_client};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::start;

/// The resource the manifest's `webApplicationInfo` names for this Herald.
fn resource(herald: &TestHerald) -> String {
    let host = url::Url::parse(&herald.web_base())
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    format!("api://{host}/{}", herald.emulator.urls.app_id)
}

/// What Teams' `getAuthToken` gives `upn` in the emulator.
async fn teams_token(urls: &teams_emulator::EmulatorUrls, upn: &str, resource: &str) -> String {
    teams_token_aged(urls, upn, resource, 0).await
}

async fn teams_token_aged(
    urls: &teams_emulator::EmulatorUrls,
    upn: &str,
    resource: &str,
    age_secs: u64,
) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/teams-client/token", urls.control))
        .json(&json!({"user": upn, "resource": resource, "age_secs": age_secs}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_owned()
}

/// Posts a sign-in body as the tab's page does (its own origin).
async fn tab_sign_in(herald: &TestHerald, body: Value) -> reqwest::Response {
    plain_client()
        .post(format!("{}/ui/teams/sign-in", herald.web_base()))
        .header(ORIGIN, herald.web_base())
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn session_cookie(answer: &reqwest::Response) -> Option<String> {
    answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("herald_session=") && !c.starts_with("herald_session=;"))
}

async fn refused(herald: &TestHerald, token: &str, why: &str) {
    let answer = tab_sign_in(herald, json!({"token": token})).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert!(session_cookie(&answer).is_none(), "{why}: a session anyway");
    let body: Value = answer.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{why}: {error}");
}

#[tokio::test]
async fn teams_token_starts_a_partitioned_session_and_no_other_token_does() {
    let herald = start().await;
    let urls = herald.emulator.urls.clone();
    let staff = herald.staff().await;
    let author = &staff[1].0;
    let resource = resource(&herald);

    let answer = tab_sign_in(
        &herald,
        json!({"token": teams_token(&urls, author, &resource).await}),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let cookie = session_cookie(&answer).expect("a session cookie");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=None",
        "Partitioned",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();
    let home = plain_client()
        .get(format!("{}/", herald.web_base()))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let page = home.text().await.unwrap();
    assert!(page.contains("<h1>Announcements</h1>"), "{page}");
    // Its pages run inside Teams: teams-js, no theme picker of their own.
    assert!(page.contains("teams-js/MicrosoftTeams.min"), "{page}");
    assert!(!page.contains(r#"id="theme""#), "{page}");
    assert!(csrf_in(&page).is_some());

    // Forged: the claims changed after Entra signed them.
    let token = teams_token(&urls, author, &resource).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = String::from_utf8(decode(&parts[1]))
        .unwrap()
        .replace(author.as_str(), &staff[0].0);
    parts[1] = encode(claims.as_bytes());
    refused(&herald, &parts.join("."), "a forged token").await;
    refused(&herald, "not-a-token", "garbage").await;

    // Expired: issued two hours ago, an hour's lifetime.
    let stale = teams_token_aged(&urls, author, &resource, 7200).await;
    refused(&herald, &stale, "an expired token").await;

    // Wrong audience: Herald's own token for Graph, signed by Entra.
    let graph = herald_testkit::api::graph_token(&urls).await;
    refused(&herald, &graph, "a token for Graph").await;

    // Right audience, but a program's (no access_as_user scope).
    let hr = urls
        .client_apps
        .iter()
        .find(|a| a.name == "Contoso HR")
        .unwrap();
    let program = herald_testkit::api::entra_token(&urls, hr).await;
    refused(&herald, &program, "an application's token").await;

    // Wrong tenant: the same app id and person in another organisation.
    let mut config = herald_testkit::emulator_config(5);
    config.tenant_id = "5d2f4c7a-1b3e-4a6f-9c8d-0e1f2a3b4c5d".to_owned();
    let elsewhere = teams_emulator::start(config).await.unwrap();
    let someone = elsewhere.staff_accounts()[1].user_principal_name.clone();
    let foreign = teams_token(&elsewhere.urls, &someone, &resource).await;
    refused(&herald, &foreign, "another tenant's token").await;
    elsewhere.stop().await;

    // Another site's page cannot sign its visitor in with a token it holds.
    let cross = plain_client()
        .post(format!("{}/ui/teams/sign-in", herald.web_base()))
        .header(ORIGIN, "https://evil.example")
        .json(&json!({"token": teams_token(&urls, author, &resource).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&cross).is_none());
    // Neither both nor none of token and code.
    let neither = tab_sign_in(&herald, json!({})).await;
    assert_eq!(neither.status(), StatusCode::BAD_REQUEST);
    herald.stop().await;
}

#[tokio::test]
async fn the_pop_up_hands_the_tab_a_code_that_works_once() {
    let herald = start().await;
    let staff = herald.staff().await;
    let admin = &staff[0].0;
    let http = plain_client();

    // The pop-up: Herald's start, Entra's authorize (the login hint picks
    // the account), Herald's callback, which signs nobody in there.
    let start = http
        .get(format!(
            "{}/auth/teams/start?login_hint={admin}",
            herald.web_base()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = http.get(location(&start)).send().await.unwrap();
    let callback = location(&authorize);
    let callback = callback.replacen(
        &url::Url::parse(&callback)
            .unwrap()
            .origin()
            .ascii_serialization(),
        &herald.web_base(),
        1,
    );
    let done = http.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(session_cookie(&done).is_none(), "the pop-up got a session");
    let page = done.text().await.unwrap();
    let code = attribute(&page, "data-code");

    let answer = tab_sign_in(&herald, json!({"code": code})).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let cookie = session_cookie(&answer).unwrap();
    assert!(cookie.contains("Partitioned"), "{cookie}");
    let body: Value = answer.json().await.unwrap();
    assert!(!body["name"].as_str().unwrap().is_empty());
    let overview = http
        .get(format!("{}/admin/overview", herald.web_base()))
        .header(COOKIE, cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), StatusCode::OK, "the admin is an admin");

    let again = tab_sign_in(&herald, json!({"code": code})).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&again).is_none());
    herald.stop().await;
}

fn attribute(page: &str, name: &str) -> String {
    let start = page
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + name.len()
        + 2;
    let end = page[start..].find('"').unwrap();
    page[start..start + end].to_owned()
}

fn decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

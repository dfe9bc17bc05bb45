use base64::Engine;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn client_credentials_give_an_rs256_token_for_the_scope() {
    let t = TestEmulator::start(10).await;
    let tenant = t.urls().tenant_id.clone();
    let response = t
        .token_response(&tenant, "emulator-app-secret", GRAPH_SCOPE)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);

    let discovery: Value = t
        .http
        .get(&t.urls().tenant_openid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let (claims, _) =
        verify_with_jwks(&t.http, jwks_uri, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["iss"], discovery["issuer"]);
    assert_eq!(claims["tid"], tenant.as_str());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    let bot = t.token(BOT_SCOPE).await;
    let (claims, _) = verify_with_jwks(&t.http, jwks_uri, &bot).await;
    assert_eq!(claims["aud"], "https://api.botframework.com");

    // A token lifetime policy shortens them, in the answer and the token.
    let shorter = t
        .configure(serde_json::json!({"token_lifetime_secs": 600}))
        .await;
    assert_eq!(shorter.status(), 200);
    let response = t
        .token_response(&tenant, "emulator-app-secret", BOT_SCOPE)
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 600);
    let (claims, _) =
        verify_with_jwks(&t.http, jwks_uri, body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
}

/// Entra rolls its keys: new tokens name the new key, which the JWKS now
/// lists; the previous key stays listed, and Graph takes tokens signed
/// with either.
#[tokio::test]
async fn rotated_keys_sign_new_tokens_and_the_old_key_stays_published() {
    let t = TestEmulator::start(10).await;
    let jwks_uri = format!(
        "{}/{}/discovery/v2.0/keys",
        t.urls().login,
        t.urls().tenant_id
    );
    let before = t.token(GRAPH_SCOPE).await;
    let (_, old_key) = verify_with_jwks(&t.http, &jwks_uri, &before).await;

    let rotated = t
        .http
        .post(format!("{}/entra/rotate-keys", t.urls().control))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(rotated).await;
    assert_eq!(status, 200, "{body}");
    let kid = body["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid, old_key["kid"].as_str().unwrap());

    let after = t.token(GRAPH_SCOPE).await;
    let header = jsonwebtoken::decode_header(&after).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    let (_, new_key) = verify_with_jwks(&t.http, &jwks_uri, &after).await;
    assert_ne!(new_key["n"], old_key["n"], "a new key, not a new name");
    let (_, still_published) = verify_with_jwks(&t.http, &jwks_uri, &before).await;
    assert_eq!(still_published, old_key);

    for token in [&before, &after] {
        let (status, body) = graph_get_with(&t, token, "/v1.0/users?$top=1").await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn graph_get_with(t: &TestEmulator, token: &str, path: &str) -> (u16, Value) {
    let response = t
        .http
        .get(format!("{}{path}", t.urls().graph))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

#[tokio::test]
async fn token_latency_slows_only_the_scope_it_names() {
    let t = TestEmulator::start(10).await;
    let response = t
        .configure(serde_json::json!({"token_latency_ms": {"graph": 400}}))
        .await;
    assert_eq!(response.status(), 200);
    let started = std::time::Instant::now();
    t.token(BOT_SCOPE).await;
    let bot = started.elapsed();
    let started = std::time::Instant::now();
    t.token(GRAPH_SCOPE).await;
    let graph = started.elapsed();
    assert!(graph >= std::time::Duration::from_millis(400), "{graph:?}");
    assert!(bot < graph, "bot {bot:?}, graph {graph:?}");
    let stats = t.stats().await;
    assert_eq!(stats["token_requests_by_scope"][GRAPH_SCOPE], 1);
    assert_eq!(stats["token_requests_by_scope"][BOT_SCOPE], 1);
    let refused = t
        .configure(serde_json::json!({"token_latency_ms": {"graf": 1}}))
        .await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn the_botframework_tenant_issues_bot_tokens() {
    let t = TestEmulator::start(10).await;
    let response = t
        .token_response("botframework.com", "emulator-app-secret", BOT_SCOPE)
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client() {
    let t = TestEmulator::start(10).await;
    let tenant = t.urls().tenant_id.clone();
    let response = t
        .token_response(&tenant, "not-the-secret", GRAPH_SCOPE)
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[field].is_string(), "{field} missing from {body}");
    }
}

#[tokio::test]
async fn unknown_tenants_and_scopes_are_refused() {
    let t = TestEmulator::start(10).await;
    let response = t
        .token_response("no-such-tenant", "emulator-app-secret", GRAPH_SCOPE)
        .await;
    assert_eq!(response.status(), 400);
    let tenant = t.urls().tenant_id.clone();
    let response = t
        .token_response(
            &tenant,
            "emulator-app-secret",
            "https://graph.microsoft.com/User.Read",
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn openid_discovery_names_every_endpoint() {
    let t = TestEmulator::start(10).await;
    let discovery: Value = t
        .http
        .get(&t.urls().tenant_openid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            discovery[field]
                .as_str()
                .unwrap()
                .starts_with(&t.urls().base),
            "{field}"
        );
    }
    let keys: Value = t
        .http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"][0]["kty"], "RSA");
}

fn pkce_pair() -> (String, String) {
    let verifier = "a-code-verifier-that-is-long-enough-to-be-valid-0123456789".to_owned();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (
        verifier,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()),
    )
}

#[tokio::test]
async fn authorization_code_with_pkce_signs_in_a_staff_account() {
    let t = TestEmulator::start(20).await;
    let staff = t.find_user(|u| u["staffRoles"][0] == "Herald.Admin").await;
    let upn = staff["userPrincipalName"].as_str().unwrap();
    let (verifier, challenge) = pkce_pair();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tenant = &t.urls().tenant_id;
    let redirect_uri = "http://127.0.0.1:9/auth/callback";

    // The account picker lists the staff accounts.
    let authorize = format!("{}/{tenant}/oauth2/v2.0/authorize", t.urls().login);
    let common = [
        ("client_id", t.urls().app_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile"),
        ("state", "xyz"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = no_redirects
        .get(&authorize)
        .query(&common)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(upn));

    // Choosing an account redirects back with a code and the state.
    // A browser posts the pressed button's `account` and the empty
    // free-text field's.
    let mut form: Vec<(&str, &str)> = common.to_vec();
    form.push(("account", upn));
    form.push(("account", ""));
    let chosen = no_redirects
        .post(&authorize)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 302);
    let location = url::Url::parse(chosen.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "xyz");
    let code = params["code"].clone();

    let redeem = |verifier: String, code: String| {
        let http = t.http.clone();
        let url = format!("{}/{tenant}/oauth2/v2.0/token", t.urls().login);
        let app_id = t.urls().app_id.clone();
        async move {
            http.post(url)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", app_id.as_str()),
                    ("client_secret", "emulator-app-secret"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", verifier.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = redeem("not-the-verifier".to_owned(), code.clone()).await;
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // A failed redemption spends the code, as Entra does.
    let again = redeem(verifier.clone(), code).await;
    assert_eq!(again.status(), 400);

    // A fresh sign-in with login_hint skips the picker.
    let mut hinted: Vec<(&str, &str)> = common.to_vec();
    hinted.push(("login_hint", upn));
    let redirect = no_redirects
        .get(&authorize)
        .query(&hinted)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = redeem(verifier, code).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    let discovery: Value = t
        .http
        .get(&t.urls().tenant_openid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (claims, _) = verify_with_jwks(
        &t.http,
        discovery["jwks_uri"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(claims["preferred_username"], upn);
    assert_eq!(claims["aud"], t.urls().app_id.as_str());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["roles"][0], "Herald.Admin");
}

#[tokio::test]
async fn authorize_without_pkce_or_with_a_foreign_client_shows_an_error() {
    let t = TestEmulator::start(5).await;
    let authorize = format!(
        "{}/{}/oauth2/v2.0/authorize",
        t.urls().login,
        t.urls().tenant_id
    );
    let no_pkce = t
        .http
        .get(&authorize)
        .query(&[
            ("client_id", t.urls().app_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_pkce.status(), 400);
    assert!(no_pkce.text().await.unwrap().contains("code_challenge"));
    let foreign = t
        .http
        .get(&authorize)
        .query(&[("client_id", "someone-else"), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);
}

//! Who may do what: signed-out people, people without a role, authors
//! (their own drafts only) and admins, over every route; CSRF; sign-in's
//! return address; sessions.

use herald_domain::{Audience, NotificationId};
use herald_store::Owner;
use herald_testkit::web::{StaffClient, plain_client};
use herald_testkit::{TestHerald, content, emulator_config};
use reqwest::StatusCode;

use crate::{people, sign_in_staff, start};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Served (2xx) or sent on within Herald (3xx, not to sign-in).
    Allowed,
    /// Sent to sign-in (pages) or 401 (scripts).
    SignIn,
    Forbidden,
    NotFound,
}

fn outcome(response: &reqwest::Response) -> Want {
    let status = response.status();
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match status {
        StatusCode::UNAUTHORIZED => Want::SignIn,
        StatusCode::SEE_OTHER if location.starts_with("/sign-in") => Want::SignIn,
        // Someone with no role asking for the staff's start page is sent
        // to their own page instead (tests/ui/for_you.rs).
        StatusCode::SEE_OTHER if location == "/for-you" => Want::Forbidden,
        StatusCode::FORBIDDEN => Want::Forbidden,
        StatusCode::NOT_FOUND => Want::NotFound,
        status if status.is_success() || status.is_redirection() => Want::Allowed,
        other => panic!("unexpected {other} ({location})"),
    }
}

/// A draft of the first author's, to an audience that needs no Graph call.
async fn authors_draft(herald: &TestHerald, owner: &Owner, person: &str) -> NotificationId {
    let id = NotificationId::new();
    let target = herald_domain::audience::Target::users_from_csv("one.csv", person).unwrap();
    let audience = Audience::new(vec![target]).unwrap();
    herald
        .store()
        .create_draft(id, &content("Authors' own draft"), &audience, owner)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn every_route_checks_who_is_asking() {
    let herald = start().await;
    let staff = herald.staff().await;
    let people_upns = people(&herald, 2).await;
    let signed_in = sign_in_staff(&herald).await;
    let base = herald.web_base();
    let nobody = StaffClient::signed_out(&base);
    let no_role = StaffClient::sign_in(&base, &people_upns[1]).await;
    let owner = Owner {
        id: staff[1].1.parse().unwrap(),
        name: "Author".into(),
        upn: staff[1].0.clone(),
    };
    let personas: [(&str, &StaffClient, [Want; 3]); 5] = {
        use Want::*;
        // [open routes, the owner's things, admin pages]
        [
            ("signed out", &nobody, [SignIn, SignIn, SignIn]),
            ("no role", &no_role, [Forbidden, Forbidden, Forbidden]),
            ("owner", &signed_in.author, [Allowed, Allowed, Forbidden]),
            (
                "other author",
                &signed_in.other_author,
                [Allowed, NotFound, Forbidden],
            ),
            ("admin", &signed_in.admin, [Allowed, Allowed, Allowed]),
        ]
    };
    let person = people_upns[0].as_str();
    for (who, client, wants) in personas {
        // Routes anyone with a role may use.
        let open: Vec<(&str, String)> = vec![
            ("GET", "/".into()),
            ("GET", "/drafts/new".into()),
            ("POST", "/drafts".into()),
            ("POST", "/ui/preview".into()),
            ("GET", "/ui/audience/search?q=en".into()),
            ("POST", "/ui/audience/people".into()),
        ];
        for (method, path) in open {
            let response = request(client, method, &path, person).await;
            assert_eq!(outcome(&response), wants[0], "{who}: {method} {path}");
        }
        // Routes on the owner's draft or announcement, each on a fresh one.
        let owned = [
            ("GET", "/drafts/{id}"),
            ("POST", "/drafts/{id}"),
            ("POST", "/drafts/{id}/duplicate"),
            ("POST", "/drafts/{id}/delete"),
            ("GET", "/drafts/{id}/send"),
            ("POST", "/drafts/{id}/send"),
            ("POST", "/drafts/{id}/schedule"),
            ("GET", "/announcements/{id}"),
            ("POST", "/announcements/{id}/cancel"),
            // Edit and recall (a schedule is sent to its own page instead;
            // tests/ui/changes.rs changes sent ones).
            ("GET", "/announcements/{id}/change"),
            ("POST", "/announcements/{id}/change"),
            ("POST", "/announcements/{id}/update"),
            ("POST", "/announcements/{id}/recall"),
        ];
        for (method, template) in owned {
            let id = authors_draft(&herald, &owner, person).await;
            if template.starts_with("/announcements") {
                let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
                assert!(herald.store().schedule(id, later, "UTC").await.unwrap());
            }
            let path = template.replace("{id}", &id.to_string());
            let before = herald.store().notification(id).await.unwrap().unwrap();
            let response = request(client, method, &path, person).await;
            let got = outcome(&response);
            assert_eq!(got, wants[1], "{who}: {method} {template}");
            if got != Want::Allowed {
                let after = herald.store().notification(id).await.unwrap().unwrap();
                assert_eq!(
                    (after.status, after.content.title.as_str(), after.updated_at),
                    (
                        before.status,
                        before.content.title.as_str(),
                        before.updated_at
                    ),
                    "{who}: {method} {template} changed nothing"
                );
            }
        }
        let admin_only = [
            ("GET", "/admin/staff".to_owned()),
            (
                "POST",
                format!("/admin/staff/{}/sign-out", uuid::Uuid::new_v4()),
            ),
        ];
        for (method, path) in admin_only {
            let response = request(client, method, &path, person).await;
            assert_eq!(outcome(&response), wants[2], "{who}: {method} {path}");
        }
    }
    herald.stop().await;
}

/// A request as a person would make it, with their CSRF token on posts.
async fn request(
    client: &StaffClient,
    method: &str,
    path: &str,
    person: &str,
) -> reqwest::Response {
    match method {
        "GET" => client.get(path).await,
        _ => {
            let when = (time::OffsetDateTime::now_utc() + time::Duration::hours(2))
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]"
                ))
                .unwrap();
            client
                .post(
                    path,
                    &[
                        ("title", "Changed by the request"),
                        ("csv", person),
                        ("at", &when),
                        ("offset_minutes", "0"),
                        ("time_zone", "UTC"),
                    ],
                )
                .await
        }
    }
}

#[tokio::test]
async fn state_changes_need_the_sessions_csrf_token() {
    let herald = start().await;
    let signed_in = sign_in_staff(&herald).await;
    let author = &signed_in.author;
    let id = author.create_draft(&[("title", "Original title")]).await;
    let path = format!("/drafts/{id}");
    let other_token = signed_in.other_author.csrf.clone();
    let attempts: Vec<Vec<(&str, &str)>> = vec![
        vec![("title", "Forged")],
        vec![("title", "Forged"), ("csrf", "")],
        vec![("title", "Forged"), ("csrf", "not-the-token")],
        vec![("title", "Forged"), ("csrf", &other_token)],
    ];
    for fields in &attempts {
        let response = author.post_raw(&path, fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("nothing was changed"), "{page}");
    }
    // The right token, but posted from another site's page.
    let forged = author
        .http
        .post(author.url(&path))
        .header("Cookie", &author.cookie)
        .header("Origin", "https://evil.example")
        .form(&[("title", "Forged"), ("csrf", author.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // Scripts send the token in a header; without it, nothing.
    let preview = author.post_raw("/ui/preview", &[("title", "x")]).await;
    assert_eq!(preview.status(), StatusCode::FORBIDDEN);
    let new_draft = author.post_raw("/drafts", &[("title", "Forged new")]).await;
    assert_eq!(new_draft.status(), StatusCode::FORBIDDEN);
    let sign_out = author.post_raw("/sign-out", &[]).await;
    assert_eq!(sign_out.status(), StatusCode::FORBIDDEN);

    let all = herald.store().announcements(None, 100).await.unwrap();
    assert_eq!(all.len(), 1, "no draft was created");
    assert_eq!(all[0].content.title.as_str(), "Original title");
    assert_eq!(
        author.get("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    // With the token, the same change is made.
    let saved = author.post(&path, &[("title", "Changed")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let all = herald.store().announcements(None, 100).await.unwrap();
    assert_eq!(all[0].content.title.as_str(), "Changed");
    herald.stop().await;
}

#[tokio::test]
async fn sign_in_returns_only_to_heralds_own_pages() {
    let herald = start().await;
    let base = herald.web_base();
    let client = plain_client();
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
    ] {
        for page in ["/sign-in", "/sign-in/start"] {
            let url =
                reqwest::Url::parse_with_params(&format!("{base}{page}"), [("return_to", bad)])
                    .unwrap();
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page} {bad}");
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .contains("only goes back to its own pages")
            );
        }
    }
    // A page of Herald's is where sign-in ends.
    let staff = herald.staff().await;
    let start = client
        .get(format!("{base}/sign-in/start?return_to=%2Fdrafts%2Fnew"))
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["Location"].to_str().unwrap().to_owned();
    let code = client
        .get(format!("{authorize}&login_hint={}", staff[1].0))
        .send()
        .await
        .unwrap();
    let callback = code.headers()["Location"].to_str().unwrap().to_owned();
    let signed_in = client.get(callback.clone()).send().await.unwrap();
    assert_eq!(signed_in.headers()["Location"], "/drafts/new");
    let cookie = signed_in.headers()["Set-Cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    // A code is redeemed once.
    let again = client.get(callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    herald.stop().await;
}

#[tokio::test]
async fn sessions_rotate_at_sign_in_expire_and_end_at_sign_out() {
    let herald = start().await;
    let staff = herald.staff().await;
    let base = herald.web_base();
    let first = StaffClient::sign_in(&base, &staff[1].0).await;
    assert_eq!(first.get("/").await.status(), StatusCode::OK);

    // Signing in again with the old cookie replaces that session.
    let planted = StaffClient {
        cookie: first.cookie.clone(),
        ..StaffClient::signed_out(&base)
    };
    let rotated = sign_in_with_cookie(&base, &staff[1].0, &first.cookie).await;
    assert_ne!(rotated, first.cookie);
    assert_eq!(
        planted.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "the old session ended at the new sign-in"
    );

    // Idle too long: the session is over.
    let third = StaffClient::sign_in(&base, &staff[2].0).await;
    sqlx_exec(
        &herald,
        "update web_sessions set last_seen_at = now() - interval '9 hours'",
    )
    .await;
    let response = third.get("/drafts/new").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["Location"],
        "/sign-in?return_to=%2Fdrafts%2Fnew"
    );

    // Sign-out ends it at once.
    let fourth = StaffClient::sign_in(&base, &staff[0].0).await;
    let out = fourth.post("/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["Set-Cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(fourth.get("/").await.status(), StatusCode::SEE_OTHER);
    herald.stop().await;
}

/// Entra ID rolls its signing keys while Herald runs: the next ID token
/// names a key Herald has not fetched, which it fetches then, and the
/// sign-in succeeds without a restart.
#[tokio::test]
async fn sign_in_goes_on_after_entra_rotates_its_keys() {
    // No pause between key fetches, so the rotation is seen at once.
    let herald = TestHerald::start(emulator_config(20), |settings| {
        settings.microsoft.key_refetch_seconds = 0;
    })
    .await;
    let base = herald.web_base();
    let upn = herald.staff().await[0].0.clone();
    let before = sign_in_answer(&base, &upn, None).await;
    assert_eq!(before.status(), StatusCode::SEE_OTHER, "signs in at first");

    let rotated = herald
        .http
        .post(format!(
            "{}/entra/rotate-keys",
            herald.emulator.urls.control
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let after = sign_in_answer(&base, &upn, None).await;
    let status = after.status();
    let cookie = after
        .headers()
        .get("Set-Cookie")
        .map(|c| c.to_str().unwrap().to_owned());
    let page = after.text().await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "after the rotation: {page}");
    assert!(
        cookie.is_some_and(|c| c.starts_with("herald_session=")),
        "a new session"
    );
    herald.stop().await;
}

/// The callback's answer to a sign-in of `upn`, with this cookie sent
/// along, if any.
async fn sign_in_answer(base: &str, upn: &str, cookie: Option<&str>) -> reqwest::Response {
    let client = plain_client();
    let with_cookie = |request: reqwest::RequestBuilder| match cookie {
        Some(cookie) => request.header("Cookie", cookie),
        None => request,
    };
    let start = with_cookie(client.get(format!("{base}/sign-in/start")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = start.headers()["Location"].to_str().unwrap().to_owned();
    let code = client
        .get(format!("{authorize}&login_hint={upn}"))
        .send()
        .await
        .unwrap();
    let callback = code.headers()["Location"].to_str().unwrap().to_owned();
    with_cookie(client.get(callback)).send().await.unwrap()
}

async fn sign_in_with_cookie(base: &str, upn: &str, cookie: &str) -> String {
    sign_in_answer(base, upn, Some(cookie)).await.headers()["Set-Cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn sqlx_exec(herald: &TestHerald, statement: &'static str) {
    use secrecy::ExposeSecret;
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(herald.settings.database.url.expose_secret())
        .await
        .unwrap();
    sqlx::query(statement)
        .execute(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn people_without_a_role_are_told_whom_to_ask() {
    let herald = start().await;
    let person = people(&herald, 1).await.remove(0);
    let client = StaffClient::sign_in(&herald.web_base(), &person).await;
    let response = client.get("/drafts/new").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Herald.Author") && page.contains("your Microsoft 365 administrator"),
        "{page}"
    );
    assert!(page.contains(&person), "{page}");
    herald.stop().await;
}

#[tokio::test]
async fn pages_may_be_framed_by_teams_and_nobody_else() {
    let herald = start().await;
    let response = plain_client()
        .get(format!("{}/sign-in", herald.web_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["Content-Security-Policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(
            "frame-ancestors 'self' https://teams.microsoft.com https://*.teams.microsoft.com"
        ),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!response.headers().contains_key("X-Frame-Options"));
    herald.stop().await;
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_and_sessions_end_after_their_lifetime() {
    let public = "https://herald.contoso.example";
    let mut config = herald_testkit::emulator_config(10);
    config.directory.groups = 1;
    let herald = TestHerald::start(config, |s| s.web.public_url = Some(public.to_owned())).await;
    let staff = herald.staff().await;
    let base = herald.web_base();
    let client = plain_client();
    let start = client
        .get(format!("{base}/sign-in/start"))
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["Location"].to_str().unwrap().to_owned();
    assert!(
        authorize.contains("redirect_uri=https%3A%2F%2Fherald.contoso.example%2Fauth%2Fcallback"),
        "{authorize}"
    );
    let code = client
        .get(format!("{authorize}&login_hint={}", staff[1].0))
        .send()
        .await
        .unwrap();
    let callback = code.headers()["Location"]
        .to_str()
        .unwrap()
        .replace(public, &base);
    let signed_in = client.get(callback).send().await.unwrap();
    let cookie = signed_in.headers()["Set-Cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = StaffClient {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        ..StaffClient::signed_out(&base)
    };
    assert_eq!(session.get("/").await.status(), StatusCode::OK);
    // Busy all along, but signed in longer ago than the absolute lifetime.
    sqlx_exec(
        &herald,
        "update web_sessions set created_at = now() - interval '25 hours'",
    )
    .await;
    assert_eq!(session.get("/").await.status(), StatusCode::SEE_OTHER);
    herald.stop().await;
}

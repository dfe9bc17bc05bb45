//! Image upload: what Herald takes and how it refuses the rest, one stored
//! image and one URL per distinct content, served to anyone (Teams fetches
//! it without a session) and kept by a draft's card.

use herald_testkit::TestHerald;
use herald_testkit::images::png;
use herald_testkit::web::{StaffClient, plain_client};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH};
use serde_json::Value;

use crate::{sign_in_staff, start};

/// Posts a file as the compose page's script does: the bytes as the body.
async fn upload(client: &StaffClient, bytes: &[u8], csrf: &str) -> reqwest::Response {
    client
        .http
        .post(client.url("/ui/images"))
        .header(COOKIE, &client.cookie)
        .header("X-CSRF-Token", csrf)
        .header(CONTENT_TYPE, "image/png")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn uploaded_url(client: &StaffClient, bytes: &[u8]) -> String {
    let response = upload(client, bytes, &client.csrf).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    answer["url"].as_str().unwrap().to_owned()
}

/// Rows in the images table.
async fn stored_images(herald: &TestHerald) -> i64 {
    use secrecy::ExposeSecret;
    use sqlx::Connection;
    let url = herald.settings.database.url.expose_secret();
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("select count(*) from images")
        .fetch_one(&mut connection)
        .await
        .unwrap()
}

async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn an_uploaded_image_is_stored_once_and_served_to_anyone_at_a_stable_url() {
    let herald = start().await;
    let staff = sign_in_staff(&herald).await;
    let image = png(40, 30, [200, 30, 30]);
    let url = uploaded_url(&staff.author, &image).await;
    let base = herald.web_base();
    let name = url
        .strip_prefix(&format!("{base}/images/"))
        .unwrap_or_else(|| panic!("{url} is under {base}/images/"));
    assert!(name.ends_with(".png") && name.len() == 64 + 4, "{name}");

    // The same bytes, from someone else too: the same image, the same URL.
    assert_eq!(uploaded_url(&staff.author, &image).await, url);
    assert_eq!(uploaded_url(&staff.other_author, &image).await, url);
    let other = uploaded_url(&staff.author, &png(40, 30, [30, 30, 200])).await;
    assert_ne!(other, url);
    let stored = stored_images(&herald).await;
    assert_eq!(stored, 2, "two distinct images, two rows");

    // Served without a session, as Teams fetches it.
    let anyone = plain_client();
    let served = anyone.get(&url).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let headers = served.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "image/png");
    assert_eq!(
        headers[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["X-Content-Type-Options"], "nosniff");
    let etag = headers[ETAG].to_str().unwrap().to_owned();
    assert_eq!(served.bytes().await.unwrap().as_ref(), image.as_slice());
    let again = anyone
        .get(&url)
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Unknown ids, other extensions and other names: 404, signed in or not.
    let unknown = format!("{base}/images/{}.png", "0".repeat(64));
    let wrong_kind = url.replace(".png", ".gif");
    for missing in [
        unknown.as_str(),
        wrong_kind.as_str(),
        &format!("{base}/images/cat.png"),
    ] {
        let answer = anyone.get(missing).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    herald.stop().await;
}

#[tokio::test]
async fn uploads_that_teams_cannot_show_are_refused_saying_what_to_do() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;

    let (status, error) =
        refusal(upload(&author, b"%PDF-1.7 a document", &author.csrf).await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        error,
        "This file (a PDF document) is not a PNG, JPEG or GIF image, the kinds Teams shows in a card: \
         save it as PNG or JPEG and try again"
    );

    let mut large = png(100, 100, [0, 0, 0]);
    large.resize(6_500_000, 0);
    let (status, error) = refusal(upload(&author, &large, &author.csrf).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        error,
        "This image is 6.2 MB; Herald takes images up to 1 MB: make it smaller and try again"
    );

    let (status, error) =
        refusal(upload(&author, &png(1500, 10, [0, 0, 0]), &author.csrf).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error.contains("1500 x 10 pixels; Teams shows images up to 1024 x 1024"),
        "{error}"
    );

    let stored = stored_images(&herald).await;
    assert_eq!(stored, 0, "nothing refused is stored");
    herald.stop().await;
}

#[tokio::test]
async fn uploading_needs_an_author_s_session_and_its_csrf_token() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let image = png(8, 8, [10, 200, 10]);

    let nobody = StaffClient::signed_out(&herald.web_base());
    let (status, _) = refusal(upload(&nobody, &image, "").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for token in ["", "not-the-token"] {
        let (status, error) = refusal(upload(&author, &image, token).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(error.contains("nothing was changed"), "{error}");
    }
    let from_elsewhere = author
        .http
        .post(author.url("/ui/images"))
        .header(COOKIE, &author.cookie)
        .header("X-CSRF-Token", &author.csrf)
        .header("Origin", "https://evil.example")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);

    let stored = stored_images(&herald).await;
    assert_eq!(stored, 0, "no refused upload is stored");
    herald.stop().await;
}

#[tokio::test]
async fn a_draft_keeps_heralds_own_image_url_though_herald_runs_over_http() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let url = uploaded_url(&author, &png(16, 16, [0, 120, 212])).await;
    assert!(
        url.starts_with("http://"),
        "tests reach Herald over http: {url}"
    );

    let preview: Value = author
        .post_script(
            "/ui/preview",
            &[("title", "With a picture"), ("image_url", &url)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["card"]["body"][1]["url"], url.as_str(), "{preview}");

    let id = author
        .create_draft(&[("title", "With a picture"), ("image_url", &url)])
        .await;
    let page = author.page(&format!("/drafts/{id}")).await;
    assert!(
        page.contains(&format!(r#"value="{url}""#)),
        "the draft keeps it"
    );

    // Any other http image stays refused: Teams shows only https images.
    let elsewhere = url.replace("127.0.0.1", "localhost");
    let response = author
        .post(
            "/drafts",
            &[("title", "Elsewhere"), ("image_url", &elsewhere)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    herald.stop().await;
}

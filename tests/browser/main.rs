//! Browser tests: headless Chromium over WebDriver, driven as a person would
//! use the pages, with axe-core checking accessibility. Needs Debian's
//! `chromium` and `chromium-driver` (`.ci/run` installs them).
//!
//! This file tests the harness itself; `flows` (signing in, composing,
//! sending, scheduling, canceling), `typing` (markup typed into fields,
//! the keyboard alone), `reports` (live status, recipients, CSV, overview)
//! `images` (uploading, pasting, images that do not load)
//! and `a11y` (every page in every theme) click through a real Herald,
//! with `site`'s helpers for its pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod a11y;
mod api_pages;
mod changes;
mod flows;
mod for_you;
mod harness;
mod images;
mod reports;
mod site;
mod teams_host;
mod teams_tab;
mod tls;
mod typing;
mod viewer;

use std::panic::AssertUnwindSafe;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use futures_util::FutureExt;
use harness::{
    Browser, assert_accessible, axe, click, save_screenshot, screenshot, set_cookie, text,
    type_into, wait_for, wait_for_text,
};

const BAD_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bad form</title></head>
<body>
<main>
<h1>Bad form</h1>
<form><input id="unlabeled" type="text"> <button type="button">Go</button></form>
</main>
</body>
</html>"#;

const GOOD_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Good form</title></head>
<body>
<main>
<h1>Good form</h1>
<form>
<label for="name">Your name</label> <input id="name" name="name" type="text">
<button type="button" id="greet">Greet</button>
</form>
<p id="greeting" aria-live="polite"></p>
</main>
<script>
document.getElementById("greet").addEventListener("click", () => {
  const name = document.getElementById("name").value;
  // Late on purpose: the harness has to wait for it.
  setTimeout(() => {
    document.getElementById("greeting").textContent = "Hello, " + name + "!";
  }, 300);
});
</script>
</body>
</html>"#;

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Serves the self-test's pages on 127.0.0.1; returns its base URL.
fn serve_pages() -> (String, ServerHandle) {
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/bad",
                web::get().to(|| async { html(BAD_PAGE.to_owned()) }),
            )
            .route(
                "/good",
                web::get().to(|| async { html(GOOD_PAGE.to_owned()) }),
            )
            .route(
                "/cookie",
                web::get().to(|request: HttpRequest| async move {
                    // Herald's actix-web has no cookie feature: read the header.
                    let value = request
                        .headers()
                        .get("cookie")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|h| {
                            h.split(';')
                                .find_map(|c| c.trim().strip_prefix("herald_probe="))
                        })
                        .unwrap_or("none")
                        .to_owned();
                    html(format!(
                        "<!doctype html><html lang=\"en\"><title>Cookie</title>\
                         <main><p id=\"cookie\">{value}</p></main></html>"
                    ))
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
    (format!("http://127.0.0.1:{port}"), handle)
}

/// The harness itself: it must see an axe violation where there is one and
/// none where there is none, and drive a page like a person.
#[tokio::test]
async fn harness_works() {
    let (base, server) = serve_pages();
    let browser = Browser::start().await;

    // A form field without a label: axe must say so, and fail the check.
    browser.goto(&format!("{base}/bad")).await.unwrap();
    wait_for(&browser, "#unlabeled").await;
    let violations = axe(&browser, "bad page").await;
    let label = violations
        .iter()
        .find(|v| v.id == "label")
        .unwrap_or_else(|| panic!("axe missed the unlabeled input: {violations:?}"));
    assert!(label.is_serious(), "{label}");
    assert!(
        label.targets.iter().any(|t| t.contains("#unlabeled")),
        "{label}"
    );
    let failed = AssertUnwindSafe(assert_accessible(&browser, "bad page"))
        .catch_unwind()
        .await
        .expect_err("assert_accessible passed a page with an unlabeled input");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("label") && message.contains("#unlabeled"),
        "{message}"
    );

    // The same form done right: nothing at all to report.
    browser.goto(&format!("{base}/good")).await.unwrap();
    wait_for(&browser, "#name").await;
    let violations = axe(&browser, "good page").await;
    assert!(violations.is_empty(), "{violations:#?}");
    assert_accessible(&browser, "good page").await;

    // Type, click, and read back what the page shows after a while.
    type_into(&browser, "#name", "Ada").await;
    click(&browser, "#greet").await;
    assert_eq!(
        wait_for_text(&browser, "#greeting", "Hello").await,
        "Hello, Ada!"
    );
    assert_eq!(text(&browser, "h1").await, "Good form");

    // A cookie set in the browser reaches the server.
    set_cookie(&browser, "herald_probe", "42").await;
    browser.goto(&format!("{base}/cookie")).await.unwrap();
    assert_eq!(text(&browser, "#cookie").await, "42");

    // Screenshots are real PNGs, and only land in docs/ when asked for.
    browser.goto(&format!("{base}/good")).await.unwrap();
    wait_for(&browser, "#greet").await;
    let png = std::env::temp_dir().join(format!("herald-harness-{}.png", std::process::id()));
    save_screenshot(&browser, &png).await;
    let bytes = std::fs::read(&png).unwrap();
    std::fs::remove_file(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 1000, "a suspiciously small picture");
    if std::env::var_os("HERALD_SCREENSHOTS").is_none() {
        assert_eq!(screenshot(&browser, "harness").await, None);
    }

    browser.close().await;
    server.stop(true).await;
}

//! The emulator's Teams client page (`/_emulator/teams-client`) against
//! the real `@microsoft/teams-js` 2.58.0, without Herald: a tab of this
//! test's own, on 127.0.0.1, framed by the page on `localhost` (another
//! site, as a tab is inside Teams), initializes, reads its context, gets an
//! SSO token, follows theme changes and signs in through a pop-up, all
//! through the library's own messages.

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::Client;
use serde_json::{Value, json};
use teams_emulator::RunningEmulator;

use crate::harness::{Browser, DEFAULT_WAIT, click, script, text, wait_for, wait_for_text};

/// The library as Herald serves it.
const TEAMS_JS: &[u8] = include_bytes!("../../web/static/vendor/teams-js/MicrosoftTeams.min.js");

/// The tab: everything it learns from Teams, written into its page.
const TAB: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test tab</title><script src="/teams-js.js"></script></head>
<body><main>
<h1>Test tab</h1>
<dl>
<dt>Placeholders</dt><dd id="placeholders"></dd>
<dt>Initialized</dt><dd id="init">starting</dd>
<dt>Context</dt><dd id="context"></dd>
<dt>Theme change</dt><dd id="theme-change">none</dd>
<dt>Ready</dt><dd id="success"></dd>
<dt>Token</dt><dd id="token"></dd>
<dt>Sign-in</dt><dd id="auth"></dd>
</dl>
<button type="button" id="sign-in">Sign in</button>
<button type="button" id="sign-in-idle">Sign in, never finishing</button>
</main>
<script>
const params = new URLSearchParams(location.search);
const host = params.get("host");
const show = (id, value) => { document.getElementById(id).textContent = value; };
show("placeholders", JSON.stringify(Object.fromEntries(params)));
microsoftTeams.app.initialize([host]).then(async () => {
  show("init", "initialized");
  microsoftTeams.app.registerOnThemeChangeHandler((theme) => show("theme-change", "changed to " + theme));
  const context = await microsoftTeams.app.getContext();
  show("context", JSON.stringify({
    upn: context.user.userPrincipalName,
    loginHint: context.user.loginHint,
    id: context.user.id,
    tenant: context.user.tenant && context.user.tenant.id,
    theme: context.app.theme,
    locale: context.app.locale,
    page: context.page.id,
    frameContext: context.page.frameContext,
    host: context.app.host.name,
    clientType: context.app.host.clientType,
  }));
  microsoftTeams.app.notifySuccess().then(
    (result) => show("success", String(result.hasFinishedSuccessfully)),
    (error) => show("success", "failed: " + error.message));
  microsoftTeams.authentication.getAuthToken().then(
    (token) => show("token", token),
    (error) => show("token", "failed: " + error.message));
}, (error) => show("init", "failed: " + error.message));
// The library opens only https pop-ups: the test starts it at an https
// address of this server, which speaks no TLS, as an app starts it at its
// sign-in page; the test then takes the pop-up on to the page that ends it.
const signIn = (page) => microsoftTeams.authentication
  .authenticate({ url: "https://" + location.host + "/" + page + "?host=" + encodeURIComponent(host), width: 500, height: 400 })
  .then((result) => show("auth", "succeeded: " + result), (error) => show("auth", "failed: " + error.message));
document.getElementById("sign-in").addEventListener("click", () => signIn("popup-ok"));
document.getElementById("sign-in-idle").addEventListener("click", () => signIn("popup-idle"));
</script>
</body>
</html>"#;

/// The authentication pop-up: the app's page that tells Teams it is done.
const POPUP_OK: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signing in</title><script src="/teams-js.js"></script></head>
<body><main><p id="state">starting</p></main>
<script>
const host = new URLSearchParams(location.search).get("host");
microsoftTeams.app.initialize([host]).then(() => {
  document.getElementById("state").textContent = "notifying";
  microsoftTeams.authentication.notifySuccess("abc");
}, (error) => { document.getElementById("state").textContent = "failed: " + error.message; });
</script>
</body>
</html>"#;

/// A pop-up the person closes before it finishes.
const POPUP_IDLE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signing in</title><script src="/teams-js.js"></script></head>
<body><main><p id="state">starting</p></main>
<script>
const host = new URLSearchParams(location.search).get("host");
microsoftTeams.app.initialize([host]).then(async () => {
  const context = await microsoftTeams.app.getContext();
  document.getElementById("state").textContent = "waiting in " + context.page.frameContext;
}, (error) => { document.getElementById("state").textContent = "failed: " + error.message; });
</script>
</body>
</html>"#;

fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Serves the tab, its pop-ups and the library on 127.0.0.1.
fn serve_tab() -> (String, ServerHandle) {
    let server = HttpServer::new(|| {
        App::new()
            .route("/tab", web::get().to(|| async { html(TAB) }))
            .route("/popup-ok", web::get().to(|| async { html(POPUP_OK) }))
            .route("/popup-idle", web::get().to(|| async { html(POPUP_IDLE) }))
            .route(
                "/teams-js.js",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/javascript; charset=utf-8")
                        .body(TEAMS_JS)
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

/// The emulator's page on `localhost`, the tab (on 127.0.0.1) being another site.
fn host_page(emulator: &RunningEmulator, pairs: &[(&str, &str)]) -> String {
    let base = format!(
        "http://localhost:{}/_emulator/teams-client",
        emulator.local_addr.port()
    );
    reqwest::Url::parse_with_params(&base, pairs)
        .unwrap()
        .to_string()
}

/// The tab's contentUrl as a manifest would write it, placeholders and all.
fn content_url(tab_base: &str, host_origin: &str) -> String {
    let mut url = reqwest::Url::parse(&format!("{tab_base}/tab")).unwrap();
    url.query_pairs_mut().append_pair("host", host_origin);
    // Braces stay literal here so that the page has something to replace.
    format!(
        "{url}&hint={{loginHint}}&upn={{userPrincipalName}}&oid={{userObjectId}}\
         &theme={{theme}}&locale={{locale}}&entity={{entityId}}&tid={{tid}}&kept={{unknownThing}}"
    )
}

async fn host_log(browser: &Client) -> String {
    text(browser, "#host-log").await
}

async fn enter_tab(browser: &Client) {
    browser.enter_parent_frame().await.ok();
    let frame = wait_for(browser, "#tab").await;
    frame.enter_frame().await.unwrap();
}

async fn leave_tab(browser: &Client) {
    browser.enter_parent_frame().await.unwrap();
}

async fn wait_for_windows(browser: &Client, count: usize) -> Vec<fantoccini::wd::WindowHandle> {
    let deadline = std::time::Instant::now() + DEFAULT_WAIT;
    loop {
        let windows = browser.windows().await.unwrap();
        if windows.len() == count {
            return windows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} windows open, not {count}, after {DEFAULT_WAIT:?}",
            windows.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The one window besides `main`, once the host has opened it.
async fn other_window(
    browser: &Client,
    main: &fantoccini::wd::WindowHandle,
) -> fantoccini::wd::WindowHandle {
    wait_for_windows(browser, 2)
        .await
        .into_iter()
        .find(|w| w != main)
        .unwrap()
}

/// Navigates the authentication pop-up from the host page (shown now).
async fn take_popup_to(browser: &Client, url: &str) {
    script(
        browser,
        "window.open(arguments[0], 'teams-authentication'); return true;",
        vec![json!(url)],
    )
    .await;
}

fn popup_page(tab_base: &str, page: &str, host_origin: &str) -> String {
    reqwest::Url::parse_with_params(&format!("{tab_base}/{page}"), &[("host", host_origin)])
        .unwrap()
        .to_string()
}

fn json_text(shown: &str) -> Value {
    serde_json::from_str(shown).unwrap_or_else(|e| panic!("not JSON ({e}): {shown}"))
}

/// A staff member (so the token carries app roles) and their object id.
async fn staff_member(emulator: &RunningEmulator) -> (teams_emulator::StaffAccount, String) {
    let account = emulator.staff_accounts().into_iter().next().unwrap();
    let directory: Value = reqwest::get(format!("{}/directory", emulator.urls.control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == account.user_principal_name.as_str())
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .unwrap();
    (account, id)
}

/// Checks the token's signature against the tenant's published keys, and
/// returns its claims.
async fn verified_claims(emulator: &RunningEmulator, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let keys: Value = reqwest::get(format!(
        "{}/{}/discovery/v2.0/keys",
        emulator.urls.base, emulator.urls.tenant_id
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .unwrap_or_else(|| panic!("the token's key {:?} is not published", header.kid));
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&emulator.urls.app_id]);
    validation.set_issuer(&[format!(
        "{}/{}/v2.0",
        emulator.urls.base, emulator.urls.tenant_id
    )]);
    let verified = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap_or_else(|e| panic!("the SSO token does not verify: {e}"));
    // What the tab itself would read, without a key.
    let payload = token.split('.').nth(1).unwrap();
    let decoded: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(decoded, verified.claims);
    verified.claims
}

#[tokio::test]
async fn teams_host_plays_teams_for_a_tab() {
    let emulator = teams_emulator::start(herald_testkit::emulator_config(10))
        .await
        .unwrap();
    let (tab_base, tab_server) = serve_tab();
    let host_origin = format!("http://localhost:{}", emulator.local_addr.port());
    let (person, person_id) = staff_member(&emulator).await;
    let upn = person.user_principal_name.as_str();
    let tab = content_url(&tab_base, &host_origin);
    let browser = Browser::start().await;

    // The page frames the tab, which initializes through the library.
    browser
        .goto(&host_page(&emulator, &[("user", upn), ("tab", &tab)]))
        .await
        .unwrap();
    wait_for_text(&browser, "#host-log", "initialize: answered as content").await;
    assert_eq!(text(&browser, "h1").await, "Herald");
    assert_eq!(text(&browser, "#person-name").await, person.display_name);
    let title = script(
        &browser,
        "return document.getElementById('tab').title;",
        vec![],
    )
    .await;
    assert_eq!(title, json!("Herald tab"));

    enter_tab(&browser).await;
    wait_for_text(&browser, "#init", "initialized").await;
    // contentUrl placeholders, replaced as Teams does.
    let placeholders = json_text(&text(&browser, "#placeholders").await);
    assert_eq!(placeholders["hint"], upn);
    assert_eq!(placeholders["upn"], upn);
    assert_eq!(placeholders["oid"], person_id.as_str());
    assert_eq!(placeholders["theme"], "default");
    assert_eq!(placeholders["locale"], "en-US");
    assert_eq!(placeholders["entity"], "herald");
    assert_eq!(placeholders["tid"], emulator.urls.tenant_id.as_str());
    assert_eq!(placeholders["kept"], "{unknownThing}");
    assert_eq!(placeholders["host"], host_origin.as_str());

    // app.getContext, through transformLegacyContextToAppContext.
    let context = json_text(&wait_for_text(&browser, "#context", "upn").await);
    assert_eq!(
        context,
        json!({
            "upn": upn, "loginHint": upn, "id": person_id,
            "tenant": emulator.urls.tenant_id, "theme": "default", "locale": "en-US",
            "page": "herald", "frameContext": "content", "host": "Teams", "clientType": "web",
        })
    );
    assert_eq!(text(&browser, "#success").await, "true");

    // authentication.getAuthToken: an Entra v2 token for Herald's app.
    let token = wait_for_text(&browser, "#token", ".").await;
    assert!(!token.starts_with("failed"), "getAuthToken failed: {token}");
    let claims = verified_claims(&emulator, &token).await;
    assert_eq!(claims["aud"], emulator.urls.app_id.as_str());
    assert_eq!(claims["scp"], "access_as_user");
    assert_eq!(claims["tid"], emulator.urls.tenant_id.as_str());
    assert_eq!(claims["preferred_username"], upn);
    assert_eq!(claims["oid"], person_id.as_str());
    assert_eq!(claims["sub"], person_id.as_str());
    assert_eq!(claims["name"], person.display_name.as_str());
    assert_eq!(claims["azp"], "5e3ce6c0-2b1f-4285-8d4b-75ee78787346");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["roles"], json!(person.roles));

    // A theme picked in Teams restyles Teams and reaches the tab.
    leave_tab(&browser).await;
    click(&browser, "#theme-dark").await;
    let theme = script(
        &browser,
        "return document.documentElement.dataset.theme;",
        vec![],
    )
    .await;
    assert_eq!(theme, json!("dark"));
    let pressed = script(
        &browser,
        "return document.getElementById('theme-dark').getAttribute('aria-pressed');",
        vec![],
    )
    .await;
    assert_eq!(pressed, json!("true"));
    enter_tab(&browser).await;
    wait_for_text(&browser, "#theme-change", "changed to dark").await;

    // authentication.authenticate: the host opens the pop-up; the app's
    // page in it notifies success and is closed; the tab gets the result.
    // The library opens https pop-ups only, and this server speaks no TLS:
    // the pop-up fails to load until the test takes it on to the page
    // that ends the flow, as an app's sign-in redirects do. (A WebDriver
    // navigation would cut the pop-up from its opener, as typing an
    // address would; a navigation from the host page keeps it.)
    let main_window = browser.window().await.unwrap();
    click(&browser, "#sign-in").await;
    other_window(&browser, &main_window).await;
    leave_tab(&browser).await;
    take_popup_to(&browser, &popup_page(&tab_base, "popup-ok", &host_origin)).await;
    wait_for_windows(&browser, 1).await;
    enter_tab(&browser).await;
    assert_eq!(
        wait_for_text(&browser, "#auth", "succeeded").await,
        "succeeded: abc"
    );

    // A pop-up the person closes: the tab hears CancelledByUser.
    click(&browser, "#sign-in-idle").await;
    let popup = other_window(&browser, &main_window).await;
    leave_tab(&browser).await;
    take_popup_to(&browser, &popup_page(&tab_base, "popup-idle", &host_origin)).await;
    browser.switch_to_window(popup).await.unwrap();
    wait_for_text(&browser, "#state", "waiting in authentication").await;
    browser.close_window().await.unwrap();
    browser.switch_to_window(main_window).await.unwrap();
    enter_tab(&browser).await;
    wait_for_text(&browser, "#auth", "failed: CancelledByUser").await;

    // Nothing refused by the page's policy, no script error anywhere.
    // Expected: no favicons, the library's fetch of Microsoft's list of
    // Teams origins (offline here), the pop-up's https address.
    let expected = ["favicon.ico", "res.cdn.office.net", "https://127.0.0.1:"];
    browser
        .assert_no_console_errors("the Teams client page", &expected)
        .await;
    // The host's log says what the tab asked, never what it was given.
    leave_tab(&browser).await;
    let log = host_log(&browser).await;
    for line in [
        "getContext: answered",
        "registerHandler: themeChange",
        "appInitialization.success: the tab is ready",
        "authentication.getAuthToken: token issued",
        "themeChange: dark sent to the tab",
        "initialize (pop-up): answered as authentication",
        "authentication.authenticate.success (pop-up)",
        "authentication.authenticate: succeeded",
        "authentication.authenticate: failed: CancelledByUser",
    ] {
        assert!(log.contains(line), "the host log lacks {line:?}:\n{log}");
    }
    assert!(!log.contains(&token), "the host log shows the token");
    assert!(
        !log.contains("abc"),
        "the host log shows the sign-in result"
    );

    // Without consent, in another theme and language, 390 pixels wide.
    browser.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&host_page(
            &emulator,
            &[
                ("user", upn),
                ("tab", &tab),
                ("theme", "contrast"),
                ("locale", "de-DE"),
                ("consent", "missing"),
            ],
        ))
        .await
        .unwrap();
    wait_for_text(
        &browser,
        "#host-log",
        "authentication.getAuthToken: failed: resourceRequiresConsent",
    )
    .await;
    let fits = script(
        &browser,
        "const tab = document.getElementById('tab').getBoundingClientRect();
         return document.documentElement.scrollWidth <= window.innerWidth && tab.width >= 250;",
        vec![],
    )
    .await;
    assert_eq!(fits, json!(true), "the page does not fit 390 pixels");
    enter_tab(&browser).await;
    assert_eq!(
        wait_for_text(&browser, "#token", "failed").await,
        "failed: resourceRequiresConsent"
    );
    let context = json_text(&wait_for_text(&browser, "#context", "upn").await);
    assert_eq!(context["theme"], "contrast");
    assert_eq!(context["locale"], "de-DE");
    let placeholders = json_text(&text(&browser, "#placeholders").await);
    assert_eq!(placeholders["theme"], "contrast");
    assert_eq!(placeholders["locale"], "de-DE");
    browser
        .assert_no_console_errors("the Teams client page, 390 pixels wide", &expected)
        .await;

    browser.close().await;
    tab_server.stop(true).await;
    emulator.stop().await;
}

/// The token service and the page refuse what Teams would refuse, and
/// never echo a query value unescaped.
#[tokio::test]
async fn teams_host_refusals() {
    let emulator = teams_emulator::start(herald_testkit::emulator_config(10))
        .await
        .unwrap();
    let (person, person_id) = staff_member(&emulator).await;
    let upn = person.user_principal_name.as_str();
    let app_id = emulator.urls.app_id.clone();
    let http = reqwest::Client::new();
    let token_url = format!("{}/_emulator/teams-client/token", emulator.urls.base);
    let ask = |user: &str, resource: &str| {
        http.post(&token_url)
            .json(&json!({"user": user, "resource": resource}))
            .send()
    };

    // A resource that is not api://{host}/{Herald's app id}.
    for resource in [
        format!("api://herald.example.com/{}", uuid::Uuid::new_v4()),
        format!("https://herald.example.com/{app_id}"),
        format!("api:///{app_id}"),
        app_id.clone(),
        String::new(),
    ] {
        let answer = ask(upn, &resource).await.unwrap();
        assert_eq!(answer.status(), 400, "{resource:?}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_resource", "{resource:?}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS500011:"),
            "{body}"
        );
        assert_eq!(body["error_codes"], json!([500011]));
    }

    // Someone the directory does not know, or whose account is disabled.
    let resource = format!("api://herald.example.com/{app_id}");
    let answer = ask("nobody@example.com", &resource).await.unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([50034]), "{body}");

    let answer = ask(upn, &resource).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let claims = verified_claims(&emulator, body["token"].as_str().unwrap()).await;
    assert_eq!(claims["oid"], person_id.as_str());

    let disabled = http
        .patch(format!(
            "{}/directory/users/{person_id}",
            emulator.urls.control
        ))
        .json(&json!({"accountEnabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 204);
    let answer = ask(upn, &resource).await.unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([50057]), "{body}");

    let malformed = http
        .post(&token_url)
        .header("Content-Type", "application/json")
        .body("{\"user\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // The page: an unknown person, escaped; no tab; a bad theme.
    let page = |pairs: &[(&str, &str)]| {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/_emulator/teams-client", emulator.urls.base),
            pairs,
        )
        .unwrap();
        http.get(url).send()
    };
    let tab = "http://127.0.0.1:9/tab?who={userPrincipalName}";
    let answer = page(&[("user", "<script>alert(1)</script>"), ("tab", tab)])
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body = answer.text().await.unwrap();
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains("emulator's directory"), "{body}");

    // The disabled person has no Teams either.
    let answer = page(&[("user", upn), ("tab", tab)]).await.unwrap();
    assert_eq!(answer.status(), 404);

    let other = emulator
        .staff_accounts()
        .into_iter()
        .map(|account| account.user_principal_name)
        .find(|u| u != upn)
        .unwrap();
    let answer = page(&[("user", &other)]).await.unwrap();
    assert_eq!(answer.status(), 400);
    let answer = page(&[("user", &other), ("tab", tab), ("theme", "pink")])
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = page(&[("user", &other), ("tab", "javascript:alert(1)")])
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);

    // A tab address that tries to end the data block stays inside it.
    let sneaky = "http://127.0.0.1:9/tab?x=</script><script>alert(1)</script>";
    let answer = page(&[("user", &other), ("tab", sneaky)]).await.unwrap();
    assert_eq!(answer.status(), 200);
    let policy = answer
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    assert!(policy.contains("frame-src http://127.0.0.1:9;"), "{policy}");
    let body = answer.text().await.unwrap();
    assert!(!body.contains("</script><script>alert"), "{body}");
    assert_eq!(body.matches("<script").count(), 2, "{body}");

    emulator.stop().await;
}

//! Entra ID access tokens of other applications (client credentials):
//! the emulator's tenant has an HR app with Herald.Send, a reporting app
//! with Herald.Read and a wiki with no Herald role.

use herald_testkit::api::{Program, entra_token};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{announcement, people, problem, start};

fn app<'a>(
    herald: &'a herald_testkit::TestHerald,
    name: &str,
) -> &'a teams_emulator::apps::ClientApp {
    herald
        .emulator
        .urls
        .client_apps
        .iter()
        .find(|a| a.name == name)
        .unwrap()
}

#[tokio::test]
async fn applications_act_by_the_app_roles_entra_gave_them() {
    let herald = start().await;
    let urls = herald.emulator.urls.clone();
    let base = herald.web_base();
    let hr = Program::new(&base, &entra_token(&urls, app(&herald, "Contoso HR")).await);
    let reporting = Program::new(
        &base,
        &entra_token(&urls, app(&herald, "Contoso Reporting")).await,
    );
    let wiki = Program::new(
        &base,
        &entra_token(&urls, app(&herald, "Contoso Wiki")).await,
    );
    let to = people(&herald, 2).await;

    let mut body = announcement("Release 4.2 is live", &to);
    body["send"] = json!(true);
    let created = hr.post("/api/v1/announcements", &body, None).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let hr_app = &app(&herald, "Contoso HR").app_id;
    assert_eq!(created["author"], format!("Entra app {hr_app}"));
    hr.wait_for_status(id, "sent").await;

    // Herald.Read: every report and the overview, but no sending.
    let report = reporting.json(&format!("/api/v1/announcements/{id}")).await;
    assert_eq!(report["progress"]["delivered"], 2, "{report}");
    reporting.json("/api/v1/overview").await;
    problem(
        reporting
            .post("/api/v1/announcements", &announcement("No", &to), None)
            .await,
        403,
        "forbidden",
    )
    .await;

    // No Herald role: refused, saying which role to grant.
    let refused = problem(wiki.get("/api/v1/announcements").await, 403, "forbidden").await;
    assert!(
        refused["detail"].as_str().unwrap().contains("Herald.Send"),
        "{refused}"
    );
    herald.stop().await;
}

#[tokio::test]
async fn tokens_that_are_not_for_herald_or_not_signed_by_entra_are_refused() {
    let herald = start().await;
    let urls = herald.emulator.urls.clone();
    let base = herald.web_base();
    let token = entra_token(&urls, app(&herald, "Contoso HR")).await;

    // The signature no longer matches the claims.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = String::from_utf8(base64_decode(&parts[1]))
        .unwrap()
        .replace("Herald.Send", "Herald.Sent");
    parts[1] = base64_encode(claims.as_bytes());
    let tampered = Program::new(&base, &parts.join("."));
    problem(
        tampered.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;

    // Herald's own Graph token: signed by Entra, but for Graph.
    let for_graph = Program::new(&base, &herald_testkit::api::graph_token(&urls).await);
    let refused = problem(
        for_graph.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("refused"),
        "{refused}"
    );

    // Another tenant's HR app, with the same app role on an app of the same
    // id there: its token is signed by Entra's keys, but not issued by
    // Herald's tenant.
    let mut config = herald_testkit::emulator_config(5);
    config.tenant_id = "5d2f4c7a-1b3e-4a6f-9c8d-0e1f2a3b4c5d".to_owned();
    let elsewhere = teams_emulator::start(config).await.unwrap();
    let foreign_app = elsewhere
        .urls
        .client_apps
        .iter()
        .find(|a| a.name == "Contoso HR")
        .unwrap()
        .clone();
    let foreign = Program::new(&base, &entra_token(&elsewhere.urls, &foreign_app).await);
    let refused = problem(
        foreign.get("/api/v1/announcements").await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    elsewhere.stop().await;
    herald.stop().await;
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

//! Admin > Teams app: the package to upload in the Teams admin center,
//! downloaded by an admin and checked against Microsoft's manifest schema.

use std::io::Read;

use herald_testkit::web::StaffClient;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{sign_in_staff, start};

const SCHEMA: &str = include_str!("../vendor/app-manifest/MicrosoftTeams.v1.25.schema.json");

/// The files of a zip, by name.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().to_string(), content)
        })
        .collect()
}

/// Every way `manifest` breaks Microsoft's schema (none when valid).
fn schema_errors(manifest: &Value) -> Option<String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let mut schema: Value = serde_json::from_str(SCHEMA).unwrap();
    // One pattern of the schema looks ahead, which the regex crate (boon's)
    // cannot run: the name of an Excel add-in's XLL file, which Herald's
    // manifest has no part in. Everything else is checked.
    let xll = schema
        .pointer_mut("/definitions/extensionXllCustomFunctions/properties/fileName")
        .and_then(Value::as_object_mut)
        .unwrap();
    assert!(
        xll.remove("pattern")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("(?!")
    );
    compiler.add_resource("urn:teams:manifest", schema).unwrap();
    let index = compiler
        .compile("urn:teams:manifest", &mut schemas)
        .unwrap();
    schemas
        .validate(manifest, index)
        .err()
        .map(|e| format!("{e:#}"))
}

#[tokio::test]
async fn an_admin_downloads_a_package_that_meets_microsofts_schema() {
    let mut config = herald_testkit::emulator_config(20);
    config.directory.groups = 2;
    let herald = herald_testkit::TestHerald::start(config, |settings| {
        settings.web.public_url = Some("https://herald.contoso.example".to_owned());
    })
    .await;
    let staff = herald.staff().await;
    let admin = StaffClient::sign_in(&herald.web_base(), &staff[0].0).await;
    let author = StaffClient::sign_in(&herald.web_base(), &staff[1].0).await;

    let page = admin.page("/admin/teams-app").await;
    assert!(page.contains("download-teams-app"), "{page}");
    let answer = admin
        .get("/admin/teams-app.zip?version=2.3.4&developer=Contoso")
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    let files = unzip(&answer.bytes().await.unwrap());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", "color.png", "outline.png"]);
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    if let Some(errors) = schema_errors(&manifest) {
        panic!("the manifest breaks Microsoft's schema: {errors}\n{manifest:#}");
    }
    assert_eq!(manifest["version"], "2.3.4");
    assert_eq!(manifest["developer"]["name"], "Contoso");
    assert_eq!(
        manifest["webApplicationInfo"]["id"],
        herald.emulator.urls.app_id
    );
    let tab = manifest["staticTabs"][0]["contentUrl"].as_str().unwrap();
    assert_eq!(tab, "https://herald.contoso.example/teams?theme={theme}");
    // Single sign-on: Teams asks Entra for a token for this resource,
    // which the app registration's Application ID URI must be.
    assert_eq!(
        manifest["webApplicationInfo"]["resource"],
        format!(
            "api://herald.contoso.example/{}",
            herald.emulator.urls.app_id
        )
    );
    assert_eq!(manifest["validDomains"][0], "herald.contoso.example");
    // The schema catches a broken manifest: the check can fail.
    let mut broken = manifest.clone();
    broken["id"] = Value::from("not-a-guid");
    assert!(schema_errors(&broken).is_some());

    let bad = admin.get("/admin/teams-app.zip?version=2.3").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("major.minor.patch"));
    assert_eq!(
        author.get("/admin/teams-app.zip").await.status(),
        StatusCode::FORBIDDEN
    );
    herald.stop().await;
}

#[tokio::test]
async fn without_https_the_page_says_what_to_set() {
    let herald = start().await;
    let people = sign_in_staff(&herald).await;
    let page = people.admin.page("/admin/teams-app").await;
    assert!(
        page.contains("teams-app-problem") && page.contains("web.public_url"),
        "{page}"
    );
    let refused = people.admin.get("/admin/teams-app.zip").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("https"));
    herald.stop().await;
}

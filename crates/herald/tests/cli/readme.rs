//! The README's API examples, run as they stand (bash and curl) against
//! `herald up` with its embedded emulator.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use herald_testkit::api::make_key;
use herald_testkit::web::StaffClient;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::herald;

/// The ```sh blocks of the README's "The API" section, in order.
fn api_examples() -> Vec<String> {
    let readme = include_str!("../../../../README.md");
    let start = readme
        .find("\n## The API\n")
        .expect("the README has an API section");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// What `herald up` printed, by label, and its staff accounts.
struct Printed {
    values: HashMap<String, String>,
    admin: String,
    apps: Vec<(String, String, String)>,
}

async fn read_up(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Printed {
    let mut printed = Printed {
        values: HashMap::new(),
        admin: String::new(),
        apps: Vec::new(),
    };
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("any other account of the emulator's directory") {
            break;
        }
        if let Some((label, value)) = line.trim().split_once(": ") {
            printed
                .values
                .insert(label.trim().to_owned(), value.trim().to_owned());
        }
        if line.contains("client id") {
            // "  Contoso HR         client id <id>  secret <secret>  (roles)"
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "client").unwrap();
            printed.apps.push((
                words[..at].join(" "),
                words[at + 2].to_owned(),
                words[at + 4].to_owned(),
            ));
        }
        if line.contains("(Herald.Admin") && printed.admin.is_empty() {
            printed.admin = line.split_whitespace().next().unwrap().to_owned();
        }
    }
    printed
}

#[tokio::test]
async fn readme_api_examples_run_against_herald_up() {
    let settings = herald_testkit::own_settings("readme").unwrap();
    let mut child = herald()
        .args([
            "up",
            "--emulator-listen",
            "127.0.0.1:0",
            "--emulator-users",
            "30",
        ])
        .envs(herald_app::worker_environment(&settings))
        .env("HERALD_WEB__LISTEN", "127.0.0.1:0")
        .env("HERALD_OPS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = tokio::time::timeout(Duration::from_secs(120), read_up(&mut lines))
        .await
        .expect("herald up starts and prints its addresses");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let web = printed.values["Web UI"]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let admin = StaffClient::sign_in(&web, &printed.admin).await;
    let key = make_key(&admin, "README examples", "send").await;
    let hr = printed
        .apps
        .iter()
        .find(|a| a.0 == "Contoso HR")
        .expect("Contoso HR is printed");

    let folder = std::env::temp_dir().join(format!("herald-readme-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let script = format!("set -euo pipefail\n{}", api_examples().join("\n"));
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&folder)
        .env("HERALD", format!("{web}/api/v1"))
        .env("HERALD_KEY", &key)
        .env("LOGIN", &printed.values["Entra ID login URL"])
        .env("TENANT_ID", &printed.values["Tenant id"])
        .env("HERALD_APP_ID", &printed.values["Herald's app id"])
        .env("CLIENT_ID", &hr.1)
        .env("CLIENT_SECRET", &hr.2)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the README's examples failed:\n{stderr}\n{stdout}"
    );
    assert!(stdout.contains("The VPN is down in Berlin"), "{stdout}");
    assert!(stdout.contains("\"status\":\"scheduled\""), "{stdout}");
    // Downloaded moments after the send started: the table's header, and
    // whoever it reached by then.
    let csv = std::fs::read_to_string(folder.join("recipients.csv")).unwrap();
    assert!(csv.starts_with("\u{feff}name,upn,"), "{csv}");
    let _ = std::fs::remove_dir_all(&folder);
    child.kill().await.unwrap();
    herald_testkit::drop_database(&settings).await;
}

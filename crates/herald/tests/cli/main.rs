//! The `herald` binary as a person runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod readme;
mod shutdown;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn herald() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.env_remove("RUST_LOG").kill_on_drop(true);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("HERALD_")) {
        command.env_remove(name);
    }
    command
}

#[tokio::test]
async fn help_lists_the_roles() {
    let output = herald().arg("--help").output().await.unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    // The benchmarks are their own binary (herald-bench), not a role.
    assert!(
        text.contains("emulator") && !text.contains("bench"),
        "{text}"
    );
}

#[tokio::test]
async fn the_emulator_starts_and_prints_its_urls() {
    let mut child = herald()
        .args(["emulator", "--listen", "127.0.0.1:0", "--users", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("app secret:");
            printed.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the emulator prints its URLs");
    let url_after = |label: &str| {
        printed
            .iter()
            .find(|l| l.contains(label))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no {label} line in {printed:?}"))
            .to_owned()
    };
    let openid = url_after("Tenant OpenID metadata:");
    let response = reqwest::get(&openid).await.unwrap();
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["token_endpoint"].is_string());
    assert!(url_after("Bot Connector serviceUrl:").ends_with("/teams/"));
    assert!(url_after("Microsoft Graph:").ends_with("/graph/v1.0"));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_wrong_setting_is_named_and_stops_the_start() {
    let output = herald()
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .env("HERALD_EMULATOR__USERZ", "5")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("HERALD_EMULATOR__USERZ") && text.contains("userz"),
        "{text}"
    );

    let output = herald()
        .args(["emulator", "--latency-ms", "150"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("P50,P99")
    );

    let output = herald()
        .args(["emulator", "--listen", "127.0.0.1:0", "--fault-rate", "2"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("fault_rate")
    );
}

#[tokio::test]
async fn bad_announcements_are_refused_before_anything_is_stored() {
    let dir = std::env::temp_dir().join(format!("herald-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let people = dir.join("people.csv");
    std::fs::write(&people, "someone@contoso.example\n").unwrap();
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "# nobody\n").unwrap();
    let bad_rows = dir.join("bad.csv");
    std::fs::write(&bad_rows, "a@contoso.example\nnot a person\n").unwrap();
    // A database URL nobody listens on: these must fail before connecting.
    let refuse = |args: Vec<String>, expected: &'static str| {
        let mut command = herald();
        command
            .env("HERALD_DATABASE__URL", "postgres://nobody@127.0.0.1:1/none")
            .arg("send")
            .args(args);
        async move {
            let output = command.output().await.unwrap();
            assert!(!output.status.success());
            let text = String::from_utf8(output.stderr).unwrap();
            assert!(text.contains(expected), "expected {expected:?} in {text}");
        }
    };
    let audience = |path: &std::path::Path| format!("users:{}", path.display());
    refuse(
        vec![
            "--title".into(),
            "Hi".into(),
            "--button".into(),
            "Open=http://contoso.example".into(),
            "--audience".into(),
            audience(&people),
        ],
        "https",
    )
    .await;
    refuse(
        vec![
            "--title".into(),
            "Hi".into(),
            "--audience".into(),
            audience(&empty),
        ],
        "lists nobody",
    )
    .await;
    refuse(
        vec![
            "--title".into(),
            "Hi".into(),
            "--audience".into(),
            audience(&bad_rows),
        ],
        "line 2",
    )
    .await;
    refuse(
        vec![
            "--title".into(),
            "Hi".into(),
            "--audience".into(),
            audience(&dir.join("missing.csv")),
        ],
        "cannot read the audience file",
    )
    .await;
    refuse(
        vec![
            "--title".into(),
            " ".into(),
            "--audience".into(),
            audience(&people),
        ],
        "title is empty",
    )
    .await;
    refuse(
        vec![
            "--title".into(),
            "Hi".into(),
            "--audience".into(),
            "planet:earth".into(),
        ],
        "unknown audience",
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server that answers every request with `status` and reports the
/// request lines it got.
async fn canned_server(
    status: &'static str,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            if let Ok(Some(first)) = lines.next_line().await {
                let _ = seen.send(first);
            }
            while let Ok(Some(line)) = lines.next_line().await {
                if line.is_empty() {
                    break;
                }
            }
            let response =
                format!("HTTP/1.1 {status}\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n");
            let _ = write.write_all(response.as_bytes()).await;
        }
    });
    (address, requests)
}

#[tokio::test]
async fn healthcheck_passes_on_2xx_and_fails_otherwise() {
    // No target: /healthz on ops.listen, its wildcard address asked on loopback.
    let (healthy, mut requests) = canned_server("200 OK").await;
    let output = herald()
        .arg("healthcheck")
        .env("HERALD_OPS__LISTEN", format!("0.0.0.0:{}", healthy.port()))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(requests.recv().await.unwrap().starts_with("GET /healthz "));

    let output = herald()
        .args(["healthcheck", &format!("http://{healthy}/readyz")])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(requests.recv().await.unwrap().starts_with("GET /readyz "));

    let (unready, _requests) = canned_server("503 Service Unavailable").await;
    let output = herald()
        .args(["healthcheck", &format!("http://{unready}/readyz")])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("503"), "{text}");

    // Nobody listens on port 1.
    let output = herald()
        .args([
            "healthcheck",
            "http://127.0.0.1:1/healthz",
            "--timeout",
            "2",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
}

/// A complete set of Microsoft credentials (made up: nothing is called).
const MICROSOFT: [(&str, &str); 3] = [
    (
        "HERALD_MICROSOFT__TENANT_ID",
        "9f3c1b6e-2a47-4d8e-b5f0-7e21c4a9d001",
    ),
    (
        "HERALD_MICROSOFT__APP_ID",
        "3b8e5d7a-6c41-4f2e-9a1d-2c7f4b8e6a01",
    ),
    ("HERALD_MICROSOFT__APP_SECRET", "not-a-secret"),
];

#[tokio::test]
async fn teams_app_writes_the_zip_to_upload() {
    let folder = std::env::temp_dir().join(format!("herald-teams-app-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let zip = folder.join("herald-teams-app.zip");
    let output = herald()
        .args(["teams-app", "--version", "1.2.3", "--out"])
        .arg(&zip)
        .envs(MICROSOFT)
        .env("HERALD_WEB__PUBLIC_URL", "https://herald.contoso.example")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().to_string())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);

    let refused = herald()
        .args(["teams-app", "--out"])
        .arg(&zip)
        .envs(MICROSOFT)
        .env("HERALD_WEB__PUBLIC_URL", "http://herald.contoso.example")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"));
    let _ = std::fs::remove_dir_all(&folder);
}

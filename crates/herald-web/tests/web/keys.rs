//! Forged tokens must not make Herald hammer (or wait on) the Bot
//! Framework's metadata and key endpoints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_web::{AuthFailure, BotAuthenticator, KeyRefresh, PUBLIC_CLOUD_ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OTHER_KEY: &str = include_str!("../../../teams-emulator/keys/entra.pem");
const BOT_KEY: &str = include_str!("../../../teams-emulator/keys/botframework.pem");
const BOT_JWK: &str = include_str!("../../../teams-emulator/keys/botframework.jwk.json");
const BOT_KID: &str = "bot-key-1";
const APP_ID: &str = "app-id";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";

#[derive(Clone, Copy)]
enum Answer {
    /// The metadata and keys, each after this delay.
    Slowly(Duration),
    /// 500 for the metadata.
    Failing,
}

/// A key server on port 0 that counts its hits.
struct KeyServer {
    base: String,
    metadata_hits: Arc<Mutex<Vec<Instant>>>,
    key_hits: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Self {
            base: base.clone(),
            metadata_hits: Arc::default(),
            key_hits: Arc::default(),
        };
        let (metadata_hits, key_hits) = (server.metadata_hits.clone(), server.key_hits.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (base, metadata_hits, key_hits) =
                    (base.clone(), metadata_hits.clone(), key_hits.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let path = String::from_utf8_lossy(&request)
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (status, body) = if path == "/metadata" {
                        metadata_hits.lock().unwrap().push(Instant::now());
                        match answer {
                            Answer::Failing => ("500 Internal Server Error", "{}".to_owned()),
                            Answer::Slowly(delay) => {
                                tokio::time::sleep(delay).await;
                                let metadata = json!({
                                    "issuer": "https://api.botframework.com",
                                    "jwks_uri": format!("{base}/keys"),
                                });
                                ("200 OK", metadata.to_string())
                            }
                        }
                    } else {
                        key_hits.fetch_add(1, Ordering::SeqCst);
                        if let Answer::Slowly(delay) = answer {
                            tokio::time::sleep(delay).await;
                        }
                        ("200 OK", jwks().to_string())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        server
    }

    fn metadata_url(&self) -> String {
        format!("{}/metadata", self.base)
    }

    fn metadata_hits(&self) -> usize {
        self.metadata_hits.lock().unwrap().len()
    }

    fn key_hits(&self) -> usize {
        self.key_hits.load(Ordering::SeqCst)
    }
}

fn jwks() -> Value {
    let mut key: Value = serde_json::from_str(BOT_JWK).unwrap();
    key["kty"] = json!("RSA");
    key["kid"] = json!(BOT_KID);
    key["endorsements"] = json!(["msteams"]);
    json!({"keys": [key]})
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({
        "iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": SERVICE_URL,
        "nbf": now() - 10, "exp": now() + 600,
    });
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

fn authenticator(server: &KeyServer) -> Arc<BotAuthenticator> {
    Arc::new(BotAuthenticator::new(
        reqwest::Client::new(),
        server.metadata_url(),
        APP_ID.to_owned(),
        PUBLIC_CLOUD_ISSUER.to_owned(),
    ))
}

async fn authenticate(auth: &BotAuthenticator, authorization: &str) -> Result<(), AuthFailure> {
    auth.verify(Some(authorization))
        .await
        .and_then(|token| token.admits(SERVICE_URL, "msteams"))
}

/// `count` requests at once, each with a key id nobody knows.
async fn forged_requests(
    auth: &Arc<BotAuthenticator>,
    count: usize,
) -> Vec<Result<(), AuthFailure>> {
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..count {
        let auth = auth.clone();
        requests.spawn(async move {
            let forged = token(OTHER_KEY, &format!("forged-{i}"));
            authenticate(&auth, &forged).await
        });
    }
    requests.join_all().await
}

#[tokio::test]
async fn concurrent_forged_requests_share_one_fetch_of_a_slow_key_endpoint() {
    let server = KeyServer::start(Answer::Slowly(Duration::from_millis(300))).await;
    let auth = authenticator(&server);
    let outcomes = forged_requests(&auth, 32).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(AuthFailure::Unauthorized(_))))
    );
    assert_eq!(server.metadata_hits(), 1, "one metadata fetch");
    assert_eq!(server.key_hits(), 1, "one key set fetch");

    // The keys fetched are used: a real token passes without another fetch.
    let real = token(BOT_KEY, BOT_KID);
    assert_eq!(authenticate(&auth, &real).await, Ok(()));
    forged_requests(&auth, 8).await;
    assert_eq!(
        server.metadata_hits(),
        1,
        "forged kids within 10 s fetch nothing"
    );
}

#[tokio::test]
async fn a_failing_key_endpoint_is_tried_once_per_window() {
    let server = KeyServer::start(Answer::Failing).await;
    let auth = authenticator(&server);
    for outcome in forged_requests(&auth, 100).await {
        assert!(matches!(outcome, Err(AuthFailure::Unauthorized(_))));
    }
    assert_eq!(
        server.metadata_hits(),
        1,
        "one attempt, whatever its outcome"
    );
    let real = token(BOT_KEY, BOT_KID);
    assert!(authenticate(&auth, &real).await.is_err());
    assert_eq!(
        server.metadata_hits(),
        1,
        "not even for a token that might be real"
    );
}

#[tokio::test]
async fn while_the_key_endpoint_fails_attempts_back_off_exponentially() {
    let server = KeyServer::start(Answer::Failing).await;
    let refresh = KeyRefresh {
        min_interval: Duration::from_millis(200),
        max_backoff: Duration::from_millis(800),
        ..KeyRefresh::default()
    };
    let auth = Arc::new(
        BotAuthenticator::new(
            reqwest::Client::new(),
            server.metadata_url(),
            APP_ID.to_owned(),
            PUBLIC_CLOUD_ISSUER.to_owned(),
        )
        .with_key_refresh(refresh),
    );
    // Forged requests keep coming; the endpoint is tried on its schedule.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metadata_hits() < 5 {
        assert!(Instant::now() < deadline, "too few attempts");
        let outcome = authenticate(&auth, &token(OTHER_KEY, "forged")).await;
        assert!(matches!(outcome, Err(AuthFailure::Unauthorized(_))));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hits = server.metadata_hits.lock().unwrap().clone();
    let gaps: Vec<Duration> = hits.windows(2).map(|w| w[1] - w[0]).collect();
    // 200 ms after the first failure, then doubling up to 800 ms.
    for (gap, least) in gaps.iter().zip([200, 400, 800, 800]) {
        assert!(*gap >= Duration::from_millis(least), "{gaps:?}");
    }
}

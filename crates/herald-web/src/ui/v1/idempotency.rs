//! `Idempotency-Key` on creates and sends: a program that did not hear
//! the answer sends the same request again with the same key and gets the
//! first answer, and nothing is done twice. The key is claimed in
//! PostgreSQL before the work starts, so two requests at once, even in two
//! Herald processes, cannot both do it: the second waits for the first
//! answer. The same key with another request is refused (422).

use std::future::Future;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use herald_store::{Claim, StoredAnswer};

use super::problem::ApiError;
use crate::ui::Ui;
use crate::ui::session::Staff;

pub const HEADER: &str = "Idempotency-Key";

/// How long a second request waits for the first one's answer.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Serves `work` once per key: the first time it runs, later requests
/// with the key get its answer again (with `Idempotent-Replayed: true`).
/// An error is not kept: nothing was done, and a retry may try again.
pub async fn once<F, Fut>(
    ui: &Ui,
    caller: &Staff,
    request: &HttpRequest,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let Some(key) = key_of(request)? else {
        return work().await;
    };
    let hash = request_hash(request, body);
    let started = tokio::time::Instant::now();
    loop {
        match ui.store.claim_idempotency(&caller.upn, &key, &hash).await? {
            Claim::New => break,
            Claim::Answered(answer) => return Ok(replay(answer)),
            Claim::OtherRequest => return Err(ApiError::KeyReused),
            Claim::Pending if started.elapsed() < WAIT => tokio::time::sleep(POLL).await,
            Claim::Pending => return Err(ApiError::KeyBusy),
        }
    }
    match work().await {
        Ok(response) => {
            let answer = stored(response).await;
            ui.store.remember_answer(&caller.upn, &key, &answer).await?;
            Ok(rebuilt(&answer))
        }
        Err(error) => {
            ui.store.release_idempotency(&caller.upn, &key).await?;
            Err(error)
        }
    }
}

fn key_of(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::BadBody(
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters, such as a UUID"
                .to_owned(),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests the same: method, path with query, and body.
fn request_hash(request: &HttpRequest, body: &[u8]) -> Vec<u8> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(request.method().as_str().as_bytes());
    context.update(b" ");
    context.update(request.uri().to_string().as_bytes());
    context.update(b"\n");
    context.update(body);
    context.finish().as_ref().to_vec()
}

async fn stored(response: HttpResponse) -> StoredAnswer {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    StoredAnswer {
        status,
        body,
        location,
    }
}

fn rebuilt(answer: &StoredAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if let Some(location) = &answer.location {
        response.insert_header((header::LOCATION, location.as_str()));
    }
    response.body(answer.body.clone())
}

fn replay(answer: StoredAnswer) -> HttpResponse {
    let mut response = rebuilt(&answer);
    response.headers_mut().insert(
        header::HeaderName::from_static("idempotent-replayed"),
        header::HeaderValue::from_static("true"),
    );
    response
}

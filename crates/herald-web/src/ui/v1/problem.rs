//! What `/api/v1` answers when it cannot serve a request: an RFC 9457
//! problem document (`application/problem+json`) whose `type` names the
//! error for good, so programs can branch on it; `detail` says in words
//! what was wrong and what to do. The UI's own errors (`UiError`) are
//! answered the same way under `/api/v1`, with the same words.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use tracing_actix_web::RequestId;

use crate::ui::compose::FieldErrors;
use crate::ui::error::UiError;

/// Where the problem types are listed for people (the API reference).
pub const TYPE_PREFIX: &str = "urn:herald:problem:";

/// The API's own errors; everything else it answers is a `UiError`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Ui(#[from] UiError),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Scope(String),
    #[error(
        "too many requests from this caller: wait {retry_after} s (the Retry-After header), then go on more slowly"
    )]
    RateLimited { retry_after: u64 },
    #[error("the announcement is not valid: fix the fields listed in `errors`, then send it again")]
    Invalid(FieldErrors),
    #[error("{0}")]
    BadBody(String),
    #[error(
        "this Idempotency-Key was used for another request (another path or body); use a new key for a new request"
    )]
    KeyReused,
    #[error(
        "a request with this Idempotency-Key is still being served; try again in a few seconds to get its answer"
    )]
    KeyBusy,
}

impl From<herald_store::StoreError> for ApiError {
    fn from(error: herald_store::StoreError) -> Self {
        ApiError::Ui(error.into())
    }
}

impl From<herald_prepare::SubmitError> for ApiError {
    fn from(error: herald_prepare::SubmitError) -> Self {
        ApiError::Ui(error.into())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Ui(error) => error.status(),
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Scope(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Invalid(_) | ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::KeyBusy => StatusCode::CONFLICT,
        }
    }

    /// The stable name of the error, after [`TYPE_PREFIX`].
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Ui(error) => error.kind(),
            ApiError::Unauthorized(_) => "unauthenticated",
            ApiError::Scope(_) => "forbidden",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::Invalid(_) => "invalid-announcement",
            ApiError::BadBody(_) => "bad-request",
            ApiError::KeyReused => "idempotency-key-reused",
            ApiError::KeyBusy => "idempotency-key-in-use",
        }
    }

    pub fn respond(&self, request: &HttpRequest) -> HttpResponse {
        if let ApiError::Ui(error) = self {
            return error.respond(request);
        }
        let errors = match self {
            ApiError::Invalid(errors) => Some(api_fields(errors)),
            _ => None,
        };
        let mut response = answer(
            request,
            self.status(),
            self.kind(),
            &self.to_string(),
            errors,
        );
        match self {
            ApiError::RateLimited { retry_after } => {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(*retry_after),
                );
            }
            ApiError::Unauthorized(_) => {
                response.headers_mut().insert(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    actix_web::http::header::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
        response
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// Only a fallback: the guard answers with [`ApiError::respond`],
    /// which knows the request.
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// An RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `urn:herald:problem:` and the error's stable name.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: &'a str,
    /// The path that was asked for.
    pub instance: &'a str,
    /// The id of this request in Herald's log, to quote to an admin.
    pub request_id: String,
    /// For an invalid announcement: what is wrong, by field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
}

/// The problem document for `request`.
pub fn answer(
    request: &HttpRequest,
    status: StatusCode,
    kind: &str,
    detail: &str,
    errors: Option<BTreeMap<String, String>>,
) -> HttpResponse {
    let problem = Problem {
        kind: format!("{TYPE_PREFIX}{kind}"),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        instance: request.path(),
        request_id: request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default(),
        errors,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .body(body)
}

/// The compose form's field names as the API's body names them.
pub fn api_field(form_field: &str) -> String {
    if let Some(rest) = form_field.strip_prefix("button")
        && let Some((number, part)) = rest.split_once('_')
        && let Ok(number) = number.parse::<usize>()
    {
        return format!("buttons[{}].{part}", number.saturating_sub(1));
    }
    match form_field {
        "image_url" => "imageUrl".to_owned(),
        "feed_text" => "feedText".to_owned(),
        "csv" => "people".to_owned(),
        "test" => "to".to_owned(),
        other => other.to_owned(),
    }
}

fn api_fields(errors: &FieldErrors) -> BTreeMap<String, String> {
    errors
        .0
        .iter()
        .map(|(field, message)| (api_field(field), message.clone()))
        .collect()
}

/// The paths the problem documents are for.
pub fn is_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

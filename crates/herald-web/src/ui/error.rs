//! What the UI answers when a request cannot be served: a page that says
//! what happened and what to do, never a stack trace. Scripts' and
//! programs' requests (`/ui/...`, `/api/...`) get the same message as JSON.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use herald_prepare::SubmitError;

use super::views::{Chrome, ErrorPage};

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("sign in to continue")]
    SignedOut,
    #[error(
        "You are signed in as {name} ({upn}), but Herald has not given you a role. To compose announcements \
         you need the Herald.Author role: ask {contact} to assign it to you in Herald's Entra ID app, then sign in again."
    )]
    NoRole {
        name: String,
        upn: String,
        contact: String,
    },
    #[error("only Herald admins can open this page")]
    AdminsOnly,
    #[error("there is no such announcement, or it is not yours")]
    NotFound,
    #[error(
        "this form has expired or came from another site, so nothing was changed: go back, reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    BadForm(String),
    #[error("signing in did not work: {0}")]
    SignIn(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Microsoft Graph did not answer ({0}); try again in a moment")]
    Graph(#[from] herald_microsoft::GraphError),
    #[error("Herald's database is not answering; try again in a moment")]
    Store(#[from] herald_store::StoreError),
    #[error("{0}")]
    Submit(#[from] SubmitError),
    #[error("{0}")]
    Image(#[from] herald_domain::ImageError),
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            UiError::SignedOut => StatusCode::UNAUTHORIZED,
            UiError::NoRole { .. } | UiError::AdminsOnly | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::BadForm(_) | UiError::SignIn(_) => StatusCode::BAD_REQUEST,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::Graph(_) => StatusCode::BAD_GATEWAY,
            UiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Image(error) => match error {
                herald_domain::ImageError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                herald_domain::ImageError::NotAnImage { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            },
            UiError::Submit(error) => match error {
                SubmitError::Content(_) | SubmitError::Card(_) | SubmitError::NoAudience => {
                    StatusCode::BAD_REQUEST
                }
                SubmitError::NotADraft(_)
                | SubmitError::NotAcknowledged(_)
                | SubmitError::EveryoneAcknowledged(_) => StatusCode::CONFLICT,
                SubmitError::Unknown(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    fn title(&self) -> &'static str {
        match self {
            UiError::SignedOut => "Sign in",
            UiError::NoRole { .. } => "You don't have access to Herald yet",
            UiError::AdminsOnly => "For admins only",
            UiError::NotFound => "Not found",
            UiError::Csrf => "Nothing was changed",
            UiError::BadForm(_) | UiError::Conflict(_) | UiError::Submit(_) | UiError::Image(_) => {
                "That did not work"
            }
            UiError::SignIn(_) => "Signing in did not work",
            UiError::Graph(_) | UiError::Store(_) => "Herald is having trouble",
        }
    }

    /// The answer for this request: a redirect to sign-in for a page, JSON
    /// for a script, an error page otherwise.
    pub fn into_response(self, request: &HttpRequest) -> HttpResponse {
        if wants_json(request.path()) {
            return json_error(self);
        }
        if matches!(self, UiError::SignedOut) {
            let mut target = request.path().to_owned();
            if !request.query_string().is_empty() {
                target = format!("{target}?{}", request.query_string());
            }
            let location = if request.method() == actix_web::http::Method::GET {
                format!("/sign-in?return_to={}", encode(&target))
            } else {
                "/sign-in".to_owned()
            };
            return HttpResponse::SeeOther()
                .insert_header(("Location", location))
                .finish();
        }
        self.error_response()
    }
}

/// Paths scripts and programs call: they get JSON, never a page.
fn wants_json(path: &str) -> bool {
    path.starts_with("/ui/") || path.starts_with("/api/")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = ErrorPage {
        chrome: Chrome::bare(title),
        title,
        message,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned());
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, ?self, "the UI could not serve a request");
        }
        page(status, self.title(), &self.to_string())
    }
}

/// A handler's error for a script or program: the same message as JSON.
/// Errors become responses before the guard sees them, so it swaps the
/// page for JSON on the paths that want it.
pub fn as_json(request_path: &str, response: &HttpResponse) -> Option<HttpResponse> {
    if !wants_json(request_path) {
        return None;
    }
    let error = response.error()?.as_error::<UiError>()?;
    Some(json_for(error))
}

/// A script's request failed: the message as JSON.
pub fn json_error(error: UiError) -> HttpResponse {
    json_for(&error)
}

fn json_for(error: &UiError) -> HttpResponse {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(%error, "the UI could not serve a script's request");
    }
    HttpResponse::build(status).json(serde_json::json!({"error": error.to_string()}))
}

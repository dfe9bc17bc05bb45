//! What the UI answers when a request cannot be served: a page that says
//! what happened and what to do, never a stack trace. Scripts' and
//! programs' requests (`/ui/...`, `/api/...`) get the same message as JSON.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use herald_prepare::SubmitError;
use tracing_actix_web::RequestId;

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
    /// The Teams tab's token (or pop-up code) did not sign anyone in.
    #[error("Herald refused the sign-in Teams gave it: {0}")]
    TokenRefused(String),
    #[error("{0}")]
    Conflict(String),
    /// The messages below are for the person; the cause (`#[source]`)
    /// goes to the log only, with the request id the page shows.
    #[error("{}", graph_advice(.0))]
    Graph(#[source] herald_microsoft::GraphError),
    #[error("Herald's database is not answering, so nothing was changed; try again in a minute")]
    Store(#[source] herald_store::StoreError),
    #[error(
        "Herald's message queue is not answering, so nothing was sent; your announcement is kept: try again in a minute"
    )]
    Queue(#[source] herald_queue::QueueError),
    #[error(
        "Herald could not draw this page; try again, and if it keeps happening tell your Herald admin"
    )]
    Render(#[source] askama::Error),
    /// Only what the author can act on: `From<SubmitError>` sends the
    /// database and queue failures to their own variants.
    #[error("{0}")]
    Submit(SubmitError),
    #[error("{0}")]
    Image(#[from] herald_domain::ImageError),
}

fn graph_advice(error: &herald_microsoft::GraphError) -> &'static str {
    match error {
        herald_microsoft::GraphError::Auth(_) => {
            "Microsoft refused Herald's credentials, so Herald cannot look anything up; a Herald admin must renew them (microsoft.app_secret)"
        }
        _ => "Microsoft Graph is not answering Herald just now; try again in a minute",
    }
}

impl From<SubmitError> for UiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Store(error) => UiError::Store(error),
            SubmitError::Queue(error) => UiError::Queue(error),
            other => UiError::Submit(other),
        }
    }
}

impl From<herald_microsoft::GraphError> for UiError {
    fn from(error: herald_microsoft::GraphError) -> Self {
        UiError::Graph(error)
    }
}

impl From<herald_store::StoreError> for UiError {
    fn from(error: herald_store::StoreError) -> Self {
        UiError::Store(error)
    }
}

impl From<askama::Error> for UiError {
    fn from(error: askama::Error) -> Self {
        UiError::Render(error)
    }
}

impl UiError {
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::SignedOut | UiError::TokenRefused(_) => StatusCode::UNAUTHORIZED,
            UiError::NoRole { .. } | UiError::AdminsOnly | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::BadForm(_) | UiError::SignIn(_) => StatusCode::BAD_REQUEST,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::Graph(_) => StatusCode::BAD_GATEWAY,
            UiError::Store(_) | UiError::Queue(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
                | SubmitError::NotSent(_)
                | SubmitError::TakenBack(_)
                | SubmitError::NotAcknowledged(_)
                | SubmitError::EveryoneAcknowledged(_) => StatusCode::CONFLICT,
                SubmitError::Unknown(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// The error's stable name in the API's problem documents.
    pub fn kind(&self) -> &'static str {
        match self {
            UiError::SignedOut | UiError::TokenRefused(_) => "unauthenticated",
            UiError::NoRole { .. } | UiError::AdminsOnly => "forbidden",
            UiError::NotFound => "not-found",
            UiError::Csrf => "csrf",
            UiError::BadForm(_) | UiError::SignIn(_) => "bad-request",
            UiError::Conflict(_) => "conflict",
            UiError::Graph(_) => "graph-unavailable",
            UiError::Store(_) => "database-unavailable",
            UiError::Queue(_) => "queue-unavailable",
            UiError::Render(_) => "internal",
            UiError::Image(_) => "bad-image",
            UiError::Submit(error) => match error {
                SubmitError::Content(_) | SubmitError::Card(_) => "invalid-announcement",
                SubmitError::NoAudience => "no-audience",
                SubmitError::Unknown(_) => "not-found",
                SubmitError::NotADraft(_) => "not-a-draft",
                SubmitError::NotSent(_) => "not-sent",
                SubmitError::TakenBack(_) => "recalled",
                SubmitError::NotAcknowledged(_) | SubmitError::EveryoneAcknowledged(_) => {
                    "conflict"
                }
                _ => "unavailable",
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
            UiError::SignIn(_) | UiError::TokenRefused(_) => "Signing in did not work",
            UiError::Graph(_) | UiError::Store(_) | UiError::Queue(_) | UiError::Render(_) => {
                "Herald is having trouble"
            }
        }
    }

    /// The answer for this request: a redirect to sign-in for a page, JSON
    /// for a script, an error page otherwise. A failure of Herald's own
    /// is logged here, once, with its causes.
    pub fn respond(&self, request: &HttpRequest) -> HttpResponse {
        answer(self, request)
    }
}

fn answer(error: &UiError, request: &HttpRequest) -> HttpResponse {
    let status = error.status();
    let reference = request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    if status.is_server_error() {
        tracing::error!(
            request_id = %reference,
            error = %herald_domain::chain(error),
            "the UI could not serve a request"
        );
    }
    if super::v1::is_api(request.path()) {
        return super::v1::problem::answer(request, status, error.kind(), &error.to_string(), None);
    }
    if wants_json(request.path()) {
        return HttpResponse::build(status).json(ErrorAnswer {
            error: error.to_string(),
            request_id: reference,
        });
    }
    if matches!(error, UiError::SignedOut) {
        return to_sign_in(request);
    }
    let body = ErrorPage {
        chrome: Chrome::bare(error.title()),
        title: error.title(),
        message: &error.to_string(),
        reference: &reference,
    }
    .render()
    .unwrap_or_else(|_| error.to_string());
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// What a script or program gets when its request fails.
#[derive(serde::Serialize)]
struct ErrorAnswer {
    error: String,
    /// The id of this request in Herald's log, to quote to an admin.
    request_id: String,
}

fn to_sign_in(request: &HttpRequest) -> HttpResponse {
    let mut target = request.path().to_owned();
    if !request.query_string().is_empty() {
        target = format!("{target}?{}", request.query_string());
    }
    // Inside Teams' frame a sign-in page cannot work (Entra ID refuses
    // to be framed): the tab signs in with Teams' token instead.
    let page = if super::teams_tab::in_frame(request) {
        super::urls::TEAMS_TAB
    } else {
        "/sign-in"
    };
    let location = if request.method() == actix_web::http::Method::GET {
        format!("{page}?return_to={}", encode(&target))
    } else {
        page.to_owned()
    };
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// Paths scripts and programs call: they get JSON, never a page.
fn wants_json(path: &str) -> bool {
    path.starts_with("/ui/") || path.starts_with("/api/")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// Only a fallback: the UI's guard answers every handler's error with
    /// [`finish`], which knows the request.
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// Errors become responses before the guard sees them: it swaps a
/// handler's error for the answer this request wants (page or JSON), with
/// the request id to quote.
pub fn finish(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let error = response.response().error();
    let answered = match error.and_then(|e| e.as_error::<UiError>()) {
        Some(error) => Some(answer(error, response.request())),
        None => match error.and_then(|e| e.as_error::<super::v1::ApiError>()) {
            Some(error) => Some(error.respond(response.request())),
            // actix's own refusals (a body too large, say) are problem
            // documents under /api/v1 too.
            None => error
                .filter(|_| super::v1::is_api(response.request().path()))
                .map(|e| {
                    let status = e.as_response_error().status_code();
                    super::v1::problem::answer(
                        response.request(),
                        status,
                        "bad-request",
                        &format!("the request could not be read: {e}"),
                        None,
                    )
                }),
        },
    };
    match answered {
        Some(answer) => response.into_response(answer),
        None => response,
    }
}

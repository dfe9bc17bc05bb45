//! The API for programs, `/api/v1`: everything the UI does, as JSON, for
//! HR systems, incident tools and pipelines. Callers are programs with an
//! API key or an Entra ID app token (`programs`), or a signed-in browser
//! session under the UI's CSRF rule (`session::guard`). Handlers turn
//! bodies into the UI's forms and call the UI's own functions, so rules
//! and error words are the same; errors are problem documents
//! (`problem`); creates and sends honour `Idempotency-Key`
//! (`idempotency`); the OpenAPI document is generated from the routes
//! (`openapi`).

pub mod idempotency;
pub mod openapi;
pub mod problem;
pub mod programs;
mod reads;
mod writes;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

pub use problem::{ApiError, is_api};
pub use programs::Programs;

use super::error::UiError;
use super::session::{Author, Scope, Staff};

/// Someone who may create, send and change: an author or an admin, or a
/// program with the `send` scope.
pub struct Sender(pub Staff);

/// Someone who may read the organisation-wide figures: an admin, or a
/// program with the `read` scope.
pub struct Overseer(pub Staff);

fn caller(request: &HttpRequest) -> Result<Staff, ApiError> {
    let mut payload = Payload::None;
    match Author::from_request(request, &mut payload).into_inner() {
        Ok(Author(staff)) => Ok(staff),
        Err(error) => Err(error.into()),
    }
}

impl FromRequest for Sender {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(request).and_then(|staff| {
            if staff.may_send() {
                Ok(Sender(staff))
            } else {
                Err(ApiError::Scope(
                    "this caller may only read (scope read); a Herald admin can give the program a key with the send scope, or the Herald.Send app role"
                        .to_owned(),
                ))
            }
        }))
    }
}

impl FromRequest for Overseer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(request).and_then(|staff| {
            let reads_all = match staff.program {
                Some(scope) => scope == Scope::Read,
                None => staff.is_admin(),
            };
            if reads_all {
                Ok(Overseer(staff))
            } else if staff.program.is_some() {
                Err(ApiError::Scope(
                    "the overview is for keys with the read scope (or the Herald.Read app role)"
                        .to_owned(),
                ))
            } else {
                Err(UiError::AdminsOnly.into())
            }
        }))
    }
}

/// The routes under `/api/v1`.
pub fn routes(config: &mut web::ServiceConfig) {
    use super::recipients;
    config
        .app_data(web::PayloadConfig::new(super::MAX_FORM_BYTES))
        .route("/announcements", web::get().to(reads::list))
        .route("/announcements", web::post().to(writes::create))
        .route("/announcements/{id}", web::get().to(reads::report))
        .route("/announcements/{id}", web::put().to(writes::update))
        .route("/announcements/{id}", web::delete().to(writes::delete))
        .route("/announcements/{id}/send", web::post().to(writes::send))
        .route(
            "/announcements/{id}/schedule",
            web::post().to(writes::schedule),
        )
        .route(
            "/announcements/{id}/unschedule",
            web::post().to(writes::unschedule),
        )
        .route("/announcements/{id}/cancel", web::post().to(writes::cancel))
        .route("/announcements/{id}/test", web::post().to(writes::test))
        .route("/announcements/{id}/remind", web::post().to(writes::remind))
        .route("/announcements/{id}/edit", web::post().to(writes::edit))
        .route("/announcements/{id}/recall", web::post().to(writes::recall))
        .route(
            "/announcements/{id}/recipients",
            web::get().to(reads::recipients),
        )
        .route(
            "/announcements/{id}/recipients.csv",
            web::get().to(recipients::csv),
        )
        .route("/overview", web::get().to(reads::overview))
        .route("/openapi.json", web::get().to(openapi::serve))
        .default_service(web::to(unknown));
}

/// A path or method `/api/v1` does not have.
async fn unknown(request: HttpRequest) -> HttpResponse {
    problem::answer(
        &request,
        actix_web::http::StatusCode::NOT_FOUND,
        "no-such-route",
        &format!(
            "{} {} is not a route of Herald's API; the routes are listed in /api/v1/openapi.json",
            request.method(),
            request.path()
        ),
        None,
    )
}

/// The JSON that used to be under `/api/` (before v1) moved: a 308 keeps
/// the method and body.
pub async fn moved(request: HttpRequest) -> HttpResponse {
    let rest = request.path().trim_start_matches("/api");
    let mut target = format!("{}{rest}", super::urls::API);
    if !request.query_string().is_empty() {
        target = format!("{target}?{}", request.query_string());
    }
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, target))
        .finish()
}

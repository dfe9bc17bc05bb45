//! Sessions, roles and the checks every request passes before a handler:
//! a signed-in person for every page but sign-in, a CSRF token on every
//! state-changing request, and the security headers on every answer.

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use herald_store::{NotificationRecord, StaffSession};

use super::Ui;
use super::error::UiError;

pub const SESSION_COOKIE: &str = "herald_session";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Author,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Author => "author",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "author" => Some(Role::Author),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a program calling the API may do (`/api/v1` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read every announcement's report; send nothing.
    Read,
    /// Create, send and change its own announcements, and read them.
    Send,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Send => "send",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Scope::Read),
            "send" => Some(Scope::Send),
            _ => None,
        }
    }
}

/// Who is asking: the signed-in person, as their session says, or a
/// program with an API key or an Entra ID token. A program is never a
/// person: `program` holds its scope, it has no session and no CSRF
/// token, and the guard lets it reach `/api/v1` only.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: uuid::Uuid,
    pub name: String,
    pub upn: String,
    /// The highest role they hold; `None`: signed in, but may do nothing.
    pub role: Option<Role>,
    pub csrf_token: String,
    pub program: Option<Scope>,
    /// Signed in by the Teams tab: their pages run inside Teams.
    pub in_teams: bool,
}

impl Staff {
    fn from_session(session: StaffSession) -> Self {
        let role = session.roles.iter().filter_map(|r| Role::parse(r)).max();
        Self {
            id: session.user_id,
            name: session.user_name,
            upn: session.user_principal_name,
            role,
            csrf_token: session.csrf_token,
            program: None,
            in_teams: session.in_teams,
        }
    }

    /// How Herald names them to others: their name, or their UPN without one.
    pub fn display_name(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.upn
        } else {
            &self.name
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    /// Admins and reading programs see every announcement; authors and
    /// sending programs the ones they composed.
    pub fn sees_all(&self) -> bool {
        self.is_admin() || self.program == Some(Scope::Read)
    }

    pub fn may_see(&self, record: &NotificationRecord) -> bool {
        self.sees_all() || record.owner.as_ref().is_some_and(|(id, _)| *id == self.id)
    }

    /// The role as a session row keeps it: none, or one name.
    pub fn role_names(&self) -> Vec<String> {
        self.role.iter().map(|r| r.as_str().to_owned()).collect()
    }

    /// Whether they may create, send and change announcements.
    pub fn may_send(&self) -> bool {
        match self.program {
            Some(scope) => scope == Scope::Send,
            None => self.role.is_some(),
        }
    }
}

impl FromRequest for Staff {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Staff>()
                .cloned()
                .ok_or(UiError::SignedOut),
        )
    }
}

/// Someone who may compose and send: an author or an admin.
pub struct Author(pub Staff);

/// An admin.
pub struct Admin(pub Staff);

/// The signed-in person, if `role_check` lets them through.
fn with_role<T>(
    request: &HttpRequest,
    role_check: impl FnOnce(Staff, Role) -> Result<T, UiError>,
) -> Ready<Result<T, UiError>> {
    let staff = request.extensions().get::<Staff>().cloned();
    ready(match staff {
        None => Err(UiError::SignedOut),
        Some(staff) => match staff.role {
            Some(role) => role_check(staff, role),
            None => Err(no_role(request, staff)),
        },
    })
}

impl FromRequest for Author {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_role(request, |staff, _| Ok(Author(staff)))
    }
}

impl FromRequest for Admin {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_role(request, |staff, role| match role {
            Role::Admin => Ok(Admin(staff)),
            Role::Author => Err(UiError::AdminsOnly),
        })
    }
}

fn no_role(request: &HttpRequest, staff: Staff) -> UiError {
    let contact = request
        .app_data::<web::Data<Ui>>()
        .map(|ui| ui.settings.access_contact.clone())
        .unwrap_or_default();
    UiError::NoRole {
        name: staff.name,
        upn: staff.upn,
        contact,
    }
}

/// A random token for a cookie or a form, 256 bits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system's generator does not fail on Linux; an all-zero token
    // would still be refused below, as it matches no stored hash.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Runs before every UI handler: loads the session, sends people who are
/// not signed in to sign-in, refuses state changes without the session's
/// CSRF token, and adds the security headers.
pub async fn guard(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(ui) = request.app_data::<web::Data<Ui>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let path = request.path().to_owned();
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .filter(|_| super::v1::is_api(&path))
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    if let Some(authorization) = bearer {
        // A program: no session, no cookie, so no CSRF to check.
        match super::v1::programs::authenticate(&ui, &authorization).await {
            Ok(program) => {
                request.extensions_mut().insert(program);
            }
            Err(error) => {
                let response = error.respond(request.request());
                return Ok(secure(&ui, request.into_response(response)));
            }
        }
    } else if !super::is_public(&path) {
        match load_staff(&ui, &request).await {
            Ok(Some(staff)) => {
                if is_state_change(request.method())
                    && let Err(refusal) = check_csrf(&mut request, &staff).await
                {
                    let response = refusal.respond(request.request());
                    return Ok(secure(&ui, request.into_response(response)));
                }
                request.extensions_mut().insert(staff);
            }
            Ok(None) => {
                let response = UiError::SignedOut.respond(request.request());
                return Ok(secure(&ui, request.into_response(response)));
            }
            Err(error) => {
                let response = error.respond(request.request());
                return Ok(secure(&ui, request.into_response(response)));
            }
        }
    }
    let viewer = super::viewer::Viewer::of_request(&request);
    let response = viewer
        .scope(next.call(request))
        .await?
        .map_into_boxed_body();
    Ok(secure(&ui, super::error::finish(response)))
}

async fn load_staff(ui: &Ui, request: &ServiceRequest) -> Result<Option<Staff>, UiError> {
    let Some(cookie) = request.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = ui
        .store
        .session(&token_hash(cookie.value()), ui.settings.lifetime)
        .await?;
    Ok(session.map(Staff::from_session))
}

fn is_state_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token comes in the `X-CSRF-Token` header (scripts) or the `csrf`
/// field of a form, whose body is read here and handed on unchanged. A
/// request another site's page made also fails the Origin check.
async fn check_csrf(request: &mut ServiceRequest, staff: &Staff) -> Result<(), UiError> {
    if origin_is_ours(request.request()) == Some(false) {
        return Err(UiError::Csrf);
    }
    if let Some(token) = request.headers().get(CSRF_HEADER) {
        return same_token(token.to_str().unwrap_or_default(), staff);
    }
    let mut payload = request.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| UiError::BadForm("the form could not be read".to_owned()))?;
        if body.len() + chunk.len() > super::MAX_FORM_BYTES {
            return Err(UiError::BadForm(format!(
                "the form is larger than {} MB; upload a shorter list",
                super::MAX_FORM_BYTES / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let token = form_field(&body, CSRF_FIELD);
    request.set_payload(Payload::from(body));
    same_token(token.as_deref().unwrap_or_default(), staff)
}

/// Whether the request's `Origin` is this site; `None` without one.
pub(super) fn origin_is_ours(request: &HttpRequest) -> Option<bool> {
    let origin = request.headers().get(header::ORIGIN)?;
    let from = origin.to_str().unwrap_or_default();
    let host = from.split_once("://").map_or(from, |(_, host)| host);
    Some(host == request.connection_info().host())
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn same_token(given: &str, staff: &Staff) -> Result<(), UiError> {
    let expected = staff.csrf_token.as_bytes();
    let matches = given.len() == expected.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), expected).is_ok();
    if matches { Ok(()) } else { Err(UiError::Csrf) }
}

/// The headers of every UI answer. Teams frames Herald's pages, so
/// `frame-ancestors` names Teams' origins and no `X-Frame-Options` is sent.
fn secure(ui: &Ui, mut response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let ancestors = if ui.settings.frame_ancestors.is_empty() {
        "'self'".to_owned()
    } else {
        format!("'self' {}", ui.settings.frame_ancestors.join(" "))
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    );
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::REFERRER_POLICY, "same-origin".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    response
}

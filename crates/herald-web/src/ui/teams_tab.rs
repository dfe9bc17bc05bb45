//! Herald inside Teams: the personal tab signs people in with Teams'
//! single sign-on, never with a sign-in page (Entra ID refuses to be
//! framed).
//!
//! `GET /teams` is the tab's address in the manifest. Its script
//! (`teams.js`, on the vendored Teams JavaScript library) asks Teams for an
//! Entra ID access token for Herald (`authentication.getAuthToken`) and
//! posts it to `POST /ui/teams/sign-in`, which checks it and starts a
//! session whose cookie works in a cross-site frame. Where Teams cannot
//! give a token (consent missing, an old client), a button opens Teams'
//! pop-up (`authentication.authenticate`) on `GET /auth/teams/start`: the
//! ordinary OpenID Connect sign-in, which ends not by signing the pop-up
//! in (its cookies are not the frame's) but by handing a one-time code to
//! the tab, which trades it at the same `POST /ui/teams/sign-in`.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::entra_token::{self, Refusal};
use super::error::UiError;
use super::session::{Staff, origin_is_ours, random_token, token_hash};
use super::shared::html;
use super::signin::{self, EntraClaims, safe_return_to};
use super::views::Chrome;
use super::{Role, Ui, urls};

/// The delegated scope Herald's app registration exposes for the tab.
pub const TAB_SCOPE: &str = "access_as_user";

/// Whether the request is a page navigation inside a frame (Teams' tab):
/// browsers say so in `Sec-Fetch-Dest`.
pub fn in_frame(request: &HttpRequest) -> bool {
    request
        .headers()
        .get("sec-fetch-dest")
        .is_some_and(|dest| dest == "iframe")
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TabPage {
    chrome: Chrome,
    return_to: String,
    signed_out: bool,
}

#[derive(Template)]
#[template(path = "teams_done.html")]
struct PopUpDone {
    chrome: Chrome,
    code: String,
}

#[derive(Deserialize)]
pub struct TabQuery {
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// `GET /teams`: the tab. Signs in without a word when Teams gives a
/// token; offers the pop-up when it cannot.
pub async fn page(query: web::Query<TabQuery>) -> Result<HttpResponse, UiError> {
    html(&TabPage {
        chrome: Chrome::bare("Herald"),
        return_to: safe_return_to(query.return_to.as_deref())?,
        signed_out: query.signed_out.is_some(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    /// Teams' access token (`getAuthToken`).
    #[serde(default)]
    token: Option<String>,
    /// The pop-up's one-time code.
    #[serde(default)]
    code: Option<String>,
}

#[derive(serde::Serialize)]
struct SignedIn {
    /// The signed-in person's name, for the page to greet them.
    name: String,
}

/// `POST /ui/teams/sign-in`: a token or a pop-up's code for a session,
/// whose cookie is partitioned for the frame. Only Herald's own page may
/// ask (a page of another site could otherwise sign its visitor in as
/// someone else with a token it holds).
pub async fn sign_in(
    ui: web::Data<Ui>,
    request: HttpRequest,
    body: web::Json<SignInBody>,
) -> Result<HttpResponse, UiError> {
    if origin_is_ours(&request) != Some(true) {
        return Err(UiError::Csrf);
    }
    let staff = match (&body.token, &body.code) {
        (Some(token), None) => staff_of_token(&ui, token).await?,
        (None, Some(code)) => take_hand_off(&ui, code).await?,
        _ => {
            return Err(UiError::BadForm(
                "send either Teams' token (\"token\") or the pop-up's code (\"code\"), one of them"
                    .to_owned(),
            ));
        }
    };
    let token = signin::start_session(&ui, &request, &staff, true).await?;
    let mut response = HttpResponse::Ok().json(SignedIn {
        name: staff.display_name().to_owned(),
    });
    signin::set_session_cookie(&mut response, &ui, &token, true);
    Ok(response)
}

#[derive(Deserialize)]
pub struct PopUpQuery {
    #[serde(default)]
    login_hint: Option<String>,
}

/// `GET /auth/teams/start`: the pop-up's sign-in, for the person Teams
/// named (`loginHint` from the tab's context).
pub async fn pop_up(
    ui: web::Data<Ui>,
    query: web::Query<PopUpQuery>,
) -> Result<HttpResponse, UiError> {
    signin::begin(&ui, "/".to_owned(), true, query.login_hint.as_deref()).await
}

/// The end of the pop-up's sign-in: the person is left under a one-time
/// code, which the pop-up's page hands to the tab through Teams
/// (`authentication.notifySuccess`).
pub(super) async fn hand_off(ui: &Ui, staff: &Staff) -> Result<HttpResponse, UiError> {
    let code = random_token();
    let person = herald_store::SignInHandoff {
        user_id: staff.id,
        user_name: staff.name.clone(),
        user_principal_name: staff.upn.clone(),
        roles: staff.role_names(),
    };
    ui.store
        .hand_off_sign_in(&token_hash(&code), &person)
        .await?;
    html(&PopUpDone {
        chrome: Chrome::bare("Signed in"),
        code,
    })
}

async fn take_hand_off(ui: &Ui, code: &str) -> Result<Staff, UiError> {
    let person = ui
        .store
        .take_sign_in_handoff(&token_hash(code))
        .await?
        .ok_or_else(|| {
            UiError::TokenRefused(
                "the pop-up's sign-in has expired or was already used; open the tab again"
                    .to_owned(),
            )
        })?;
    Ok(Staff {
        id: person.user_id,
        name: person.user_name,
        upn: person.user_principal_name,
        role: person.roles.iter().filter_map(|r| Role::parse(r)).max(),
        csrf_token: String::new(),
        program: None,
        in_teams: true,
    })
}

/// What Herald reads from Teams' token besides the person.
#[derive(Deserialize)]
struct TabClaims {
    #[serde(flatten)]
    person: EntraClaims,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    scp: Option<String>,
}

/// The person Teams' token names, once it holds: Entra's signature, the
/// tenant's issuer, Herald's audience, its lifetime, the tenant, and the
/// tab's scope.
async fn staff_of_token(ui: &Ui, token: &str) -> Result<Staff, UiError> {
    let sign_in = &ui.settings.sign_in;
    let claims: TabClaims =
        entra_token::verify(&ui.programs.entra, token, &sign_in.issuer, &audiences(ui))
            .await
            .map_err(|refusal| match refusal {
                Refusal::NotJwt => UiError::TokenRefused(
                    "Teams' token is not an Entra ID access token (a JWT)".to_owned(),
                ),
                Refusal::Invalid(why) => UiError::TokenRefused(format!("Teams' token {why}")),
            })?;
    if claims.tid.as_deref() != Some(sign_in.tenant_id.as_str()) {
        return Err(UiError::TokenRefused(format!(
            "Teams' token is from tenant {}, not this organisation's ({})",
            claims.tid.as_deref().unwrap_or("(none)"),
            sign_in.tenant_id
        )));
    }
    let scopes = claims.scp.unwrap_or_default();
    if !scopes.split(' ').any(|scope| scope == TAB_SCOPE) {
        return Err(UiError::TokenRefused(format!(
            "Teams' token lacks the scope {TAB_SCOPE}; Herald's app registration must expose it (Expose an API) and pre-authorize Teams' client ids"
        )));
    }
    let mut staff = signin::staff_of(ui, claims.person)?;
    staff.in_teams = true;
    Ok(staff)
}

/// The audiences of a tab's token: the app id (Entra v2 tokens), or the
/// Application ID URI the manifest's `webApplicationInfo.resource` names.
fn audiences(ui: &Ui) -> Vec<String> {
    let app_id = &ui.settings.sign_in.client_id;
    let host = url::Url::parse(&ui.settings.public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    vec![app_id.clone(), format!("api://{host}/{app_id}")]
}

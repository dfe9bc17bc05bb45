//! The audience picker's lookups, for the compose page's scripts: groups
//! and teams by name, a team's channels, and which people of a list the
//! directory knows. Each answers JSON.

use actix_web::{HttpResponse, web};
use herald_domain::audience::Target;
use herald_prepare::authoring;
use serde::Deserialize;

use super::Ui;
use super::error::UiError;
use super::session::Author;

/// Searches shorter than this would match much of the directory.
const MIN_SEARCH: usize = 2;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn search(
    _author: Author,
    ui: web::Data<Ui>,
    query: web::Query<Search>,
) -> Result<HttpResponse, UiError> {
    let text = query.q.trim();
    let mut choices = Vec::new();
    if "everyone".starts_with(&text.to_lowercase()) && !text.is_empty() {
        choices.push(authoring::Choice {
            spec: "everyone".to_owned(),
            label: "Everyone".to_owned(),
            detail: "Every member of the organisation (not guests)".to_owned(),
            team: None,
            team_name: None,
        });
    }
    if text.chars().count() >= MIN_SEARCH {
        choices.extend(authoring::search_audience(&ui.graph, text).await?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"choices": choices})))
}

#[derive(Deserialize)]
pub struct Team {
    team: String,
    #[serde(default)]
    name: String,
}

pub async fn channels(
    _author: Author,
    ui: web::Data<Ui>,
    query: web::Query<Team>,
) -> Result<HttpResponse, UiError> {
    let choices = authoring::channel_choices(&ui.graph, &query.team, &query.name).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"choices": choices})))
}

/// `POST /ui/audience/people` with `csv_name` and `csv`: the people of
/// the list Graph knows, and the rows that match nobody.
pub async fn people(
    _author: Author,
    ui: web::Data<Ui>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let name = field("csv_name");
    let name = if name.trim().is_empty() {
        "the pasted list".to_owned()
    } else {
        name
    };
    let users = match Target::users_from_csv(&name, &field("csv")) {
        Ok(Target::Users { users, .. }) => users,
        Ok(_) => Vec::new(),
        Err(error) => return Err(UiError::BadForm(error.to_string())),
    };
    let check = authoring::check_people(&ui.graph, &users).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "name": name,
        "found": check.found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "unknown": check.unknown,
    })))
}

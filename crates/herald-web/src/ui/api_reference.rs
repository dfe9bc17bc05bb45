//! Admin > API: the API reference for staff, drawn from the same OpenAPI
//! document programs read, with a `curl` example per route.

use actix_web::web;
use askama::Template;
use serde_json::Value;

use super::session::Admin;
use super::shared::{Page, html};
use super::views::Chrome;
use super::{Ui, urls};

pub struct RouteDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub who: &'static str,
    pub curl: String,
}

#[derive(Template)]
#[template(path = "api_reference.html")]
pub struct ApiReferencePage {
    pub chrome: Chrome,
    pub base: String,
    pub per_minute: u32,
    pub routes: Vec<RouteDoc>,
}

pub async fn page(Admin(admin): Admin, ui: web::Data<Ui>) -> Page {
    let doc: Value = serde_json::from_str(&super::v1::openapi::document()).unwrap_or_default();
    html(&ApiReferencePage {
        chrome: Chrome::new("API reference", &admin, "api"),
        base: format!("{}{}", ui.settings.public_url, urls::API),
        per_minute: ui.settings.api_requests_per_minute,
        routes: routes(&doc),
    })
}

/// Every operation of the document, in its order.
pub fn routes(doc: &Value) -> Vec<RouteDoc> {
    let Some(paths) = doc["paths"].as_object() else {
        return Vec::new();
    };
    let mut routes = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete"] {
            let operation = &item[method];
            if !operation.is_object() {
                continue;
            }
            let id = operation["operationId"].as_str().unwrap_or_default();
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            routes.push(RouteDoc {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: operation["summary"]
                    .as_str()
                    .or(operation["description"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                who: who(tag, id),
                curl: curl(method, path, id),
            });
        }
    }
    routes
}

fn who(tag: &str, operation: &str) -> &'static str {
    match (tag, operation) {
        (_, "overview") => "admins, and programs with the read scope (Herald.Read)",
        ("reports", _) => {
            "the announcement's author and admins; programs with the send scope their own announcements, with the read scope every one"
        }
        _ => {
            "authors and admins; programs with the send scope (Herald.Send), their own announcements"
        }
    }
}

/// The body an example sends, by operation.
fn example_body(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "create" => {
            r#"{
    "title": "The VPN is down in Berlin",
    "summary": "We are on it. **Expect it back by 14:00.**",
    "buttons": [{"title": "Status page", "url": "https://status.contoso.example"}],
    "audience": ["everyone"],
    "critical": true,
    "send": true
  }"#
        }
        "update" => r#"{"title": "Payslips are out", "people": ["adele@contoso.example"]}"#,
        "schedule" => r#"{"at": "2026-12-24T09:00:00+01:00", "timeZone": "Europe/Berlin"}"#,
        "test" => r#"{"to": "adele@contoso.example"}"#,
        "edit" => r#"{"title": "The VPN is back", "summary": "Fixed at 13:40.", "notify": true}"#,
        "recall" => r#"{"how": "delete"}"#,
        "send" | "unschedule" | "cancel" | "remind" => "{}",
        _ => return None,
    })
}

fn curl(method: &str, path: &str, operation: &str) -> String {
    let url = path
        .replacen(urls::API, "$HERALD", 1)
        .replace("{id}", "$ID");
    let mut lines = vec![format!(
        "curl --fail-with-body -X {} \"{url}\"",
        method.to_uppercase()
    )];
    lines.push("  -H \"Authorization: Bearer $HERALD_KEY\"".to_owned());
    if let Some(body) = example_body(operation) {
        lines.push("  -H \"Content-Type: application/json\"".to_owned());
        if matches!(
            operation,
            "create" | "send" | "schedule" | "test" | "edit" | "recall" | "remind"
        ) {
            lines.push("  -H \"Idempotency-Key: $(uuidgen)\"".to_owned());
        }
        lines.push(format!("  -d '{body}'"));
    }
    if operation == "csv" {
        lines.push("  -o recipients.csv".to_owned());
    }
    lines.join(" \\\n")
}

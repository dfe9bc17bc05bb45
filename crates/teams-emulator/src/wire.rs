//! Answers as the Microsoft services shape them: error bodies, throttling
//! bodies, headers. Handlers build a `Reply`, which `$batch` can also embed.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::limits::retry_after_header;
use crate::state::{Emulator, Fault};

const TEXT_PLAIN: &str = "text/plain";

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A bare value as `text/plain`, as Graph answers `$count` paths. The
    /// body stays a JSON string so that `$batch` can embed it as Graph does.
    pub fn text(status: u16, body: String) -> Self {
        Self::json(status, Value::String(body)).with_header("Content-Type", TEXT_PLAIN.to_owned())
    }

    fn is_text(&self) -> bool {
        self.headers
            .iter()
            .any(|(name, value)| *name == "Content-Type" && value == TEXT_PLAIN)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Graph's error shape (`{"error":{"code","message","innerError"}}`).
    pub fn graph_error(status: u16, code: &str, message: impl Into<String>) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        Self::json(
            status,
            json!({"error": {
                "code": code,
                "message": message.into(),
                "innerError": {
                    "date": now_rfc3339(),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }}),
        )
    }

    /// The Bot Connector's error shape (`{"error":{"code","message"}}`).
    pub fn connector_error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    pub fn graph_throttled(wait: Duration) -> Self {
        Self::graph_error(429, "TooManyRequests", "Please retry again later.")
            .with_header("Retry-After", retry_after_header(wait))
    }

    pub fn connector_throttled(wait: Duration) -> Self {
        Self::connector_error(
            429,
            "Throttled",
            "The bot has exceeded the allowed rate of requests. Retry after the time in the Retry-After header.",
        )
        .with_header("Retry-After", retry_after_header(wait))
    }

    pub fn graph_fault(fault: Fault) -> Self {
        Self::graph_error(
            fault.0,
            "ServiceNotAvailable",
            "The service is temporarily unavailable. Please retry.",
        )
    }

    pub fn connector_fault(fault: Fault) -> Self {
        Self::connector_error(
            fault.0,
            "ServiceError",
            "The service is temporarily unavailable. Please retry.",
        )
    }

    /// Counts the answer under `endpoint` and turns it into a response.
    pub fn respond(self, emulator: &Emulator, endpoint: &str) -> HttpResponse {
        emulator.stats.request(endpoint, self.status);
        let text = self.is_text();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        for (name, value) in self.headers {
            response.insert_header((name, value));
        }
        match self.body {
            Some(Value::String(body)) if text => response.body(body),
            Some(body) => response.json(body),
            None => response.finish(),
        }
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn header<'a>(request: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

//! The Bot Connector: posting activities and classifying what comes back
//! (teams-platform.md §2).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::retry_after;
use crate::tokens::{Scope, TokenCache};

/// Why a send did not deliver, in the terms the send pipeline acts on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendFailure {
    #[error("throttled (429)")]
    Throttled { retry_after: Option<Duration> },
    /// 412, 502, 503, 504, or no answer at all: worth another try.
    #[error("transient failure {code}: {message}")]
    Transient {
        status: Option<u16>,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// 403: the person blocked the bot or removed the app.
    #[error("blocked ({code}): {message}")]
    Blocked { code: String, message: String },
    /// 404: the conversation or the person is gone.
    #[error("gone ({code}): {message}")]
    Gone { code: String, message: String },
    /// 413: the message itself is too large, for everyone.
    #[error("message too large: {message}")]
    TooLarge { message: String },
    #[error("permanent failure {status} {code}: {message}")]
    Permanent {
        status: u16,
        code: String,
        message: String,
    },
}

impl SendFailure {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Throttled { .. } => Some(429),
            Self::Transient { status, .. } => *status,
            Self::Blocked { .. } => Some(403),
            Self::Gone { .. } => Some(404),
            Self::TooLarge { .. } => Some(413),
            Self::Permanent { status, .. } => Some(*status),
        }
    }

    pub fn code(&self) -> String {
        match self {
            Self::Throttled { .. } => "Throttled".to_owned(),
            Self::TooLarge { .. } => "MessageSizeTooBig".to_owned(),
            Self::Transient { code, .. }
            | Self::Blocked { code, .. }
            | Self::Gone { code, .. }
            | Self::Permanent { code, .. } => code.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
    #[serde(default, rename = "errorCode")]
    error_code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Classifies a non-success answer from the Bot Connector.
pub fn classify(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> SendFailure {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let (code, message) = match (&parsed.error, parsed.error_code) {
        (Some(detail), _) => (detail.code.clone(), detail.message.clone()),
        // The blocked shape: {"errorCode":209,"message":"{\"subCode\":\"MessageWritesBlocked\",...}"}
        (None, Some(number)) => {
            let message = parsed.message.clone().unwrap_or_default();
            let sub_code = serde_json::from_str::<serde_json::Value>(&message)
                .ok()
                .and_then(|v| v["subCode"].as_str().map(str::to_owned));
            (
                sub_code.unwrap_or_else(|| format!("ErrorCode{number}")),
                message,
            )
        }
        (None, None) => (
            status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', ""),
            parsed.message.unwrap_or_default(),
        ),
    };
    let status_number = status.as_u16();
    match status_number {
        429 => SendFailure::Throttled {
            retry_after: retry_after(headers),
        },
        // 408 is not Teams' own answer but any HTTP server's or proxy's on
        // the way: it did not get the whole request, so nothing was posted
        // and trying again cannot duplicate (seen from an overloaded
        // server in the million-recipient benchmark).
        408 | 412 | 502 | 503 | 504 => SendFailure::Transient {
            status: Some(status_number),
            code,
            message,
            retry_after: retry_after(headers),
        },
        403 => SendFailure::Blocked { code, message },
        404 => SendFailure::Gone { code, message },
        413 => SendFailure::TooLarge { message },
        _ => SendFailure::Permanent {
            status: status_number,
            code,
            message,
        },
    }
}

pub struct BotConnector {
    http: reqwest::Client,
    tokens: Arc<TokenCache>,
}

#[derive(Deserialize)]
struct ResourceResponse {
    id: String,
}

impl BotConnector {
    pub fn new(http: reqwest::Client, tokens: Arc<TokenCache>) -> Self {
        Self { http, tokens }
    }

    pub fn activities_url(service_url: &str, conversation: &str) -> Result<url::Url, SendFailure> {
        let mut url = url::Url::parse(service_url).map_err(|e| SendFailure::Permanent {
            status: 0,
            code: "BadServiceUrl".to_owned(),
            message: format!("serviceUrl {service_url:?}: {e}"),
        })?;
        url.path_segments_mut()
            .map_err(|()| SendFailure::Permanent {
                status: 0,
                code: "BadServiceUrl".to_owned(),
                message: service_url.to_owned(),
            })?
            .pop_if_empty()
            .extend(["v3", "conversations", conversation, "activities"]);
        Ok(url)
    }

    /// Posts a serialised activity; returns the new activity's id.
    pub async fn send(
        &self,
        service_url: &str,
        conversation: &str,
        activity: &str,
    ) -> Result<String, SendFailure> {
        let url = Self::activities_url(service_url, conversation)?;
        self.request(reqwest::Method::POST, url, activity).await
    }

    /// Replaces a posted activity (e.g. a card after its Acknowledge press).
    pub async fn update(
        &self,
        service_url: &str,
        conversation: &str,
        activity_id: &str,
        activity: &str,
    ) -> Result<(), SendFailure> {
        let url = Self::activity_url(service_url, conversation, activity_id)?;
        self.request(reqwest::Method::PUT, url, activity)
            .await
            .map(drop)
    }

    /// Deletes a posted activity (a recall). Teams answers 404 for one
    /// that is gone already.
    pub async fn delete(
        &self,
        service_url: &str,
        conversation: &str,
        activity_id: &str,
    ) -> Result<(), SendFailure> {
        let url = Self::activity_url(service_url, conversation, activity_id)?;
        self.request(reqwest::Method::DELETE, url, "")
            .await
            .map(drop)
    }

    fn activity_url(
        service_url: &str,
        conversation: &str,
        activity_id: &str,
    ) -> Result<url::Url, SendFailure> {
        let mut url = Self::activities_url(service_url, conversation)?;
        url.path_segments_mut()
            .map_err(|()| SendFailure::Permanent {
                status: 0,
                code: "BadServiceUrl".to_owned(),
                message: service_url.to_owned(),
            })?
            .push(activity_id);
        Ok(url)
    }

    /// One call with the bot's token; a 401 refreshes the token and tries
    /// once more.
    async fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
        activity: &str,
    ) -> Result<String, SendFailure> {
        for refreshed in [false, true] {
            let token = self.tokens.token(Scope::BotFramework).await.map_err(|e| {
                SendFailure::Permanent {
                    status: 401,
                    code: "TokenRefused".to_owned(),
                    message: e.to_string(),
                }
            })?;
            let response = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(activity.to_owned())
                .send()
                .await
                .map_err(|e| SendFailure::Transient {
                    status: None,
                    code: "NoResponse".to_owned(),
                    message: e.to_string(),
                    retry_after: None,
                })?;
            let status = response.status();
            if let Some(operation) = response.headers().get("X-Correlating-OperationId") {
                tracing::trace!(operation = ?operation, %status, "bot connector answered");
            }
            if status.is_success() {
                let bad = |message: String| SendFailure::Transient {
                    status: Some(status.as_u16()),
                    code: "BadResponse".to_owned(),
                    message,
                    retry_after: None,
                };
                let body = response.bytes().await.map_err(|e| bad(e.to_string()))?;
                // A delete answers with no body.
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(String::new());
                }
                let body: ResourceResponse =
                    serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
                return Ok(body.id);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                self.tokens.invalidate(Scope::BotFramework).await;
                continue;
            }
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            return Err(classify(status, &headers, &body));
        }
        Err(SendFailure::Permanent {
            status: 401,
            code: "Unauthorized".to_owned(),
            message: "the Bot Connector refused a fresh token".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(value) = retry {
            map.insert("Retry-After", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn statuses_map_to_what_the_pipeline_does() {
        let body =
            br#"{"error":{"code":"ConversationNotFound","message":"Conversation not found."}}"#;
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &headers(None), body),
            SendFailure::Gone {
                code: "ConversationNotFound".into(),
                message: "Conversation not found.".into()
            }
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers(Some("1.5")), b"{}"),
            SendFailure::Throttled {
                retry_after: Some(Duration::from_millis(1500))
            }
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &headers(None), b""),
            SendFailure::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::PRECONDITION_FAILED, &headers(None), b""),
            SendFailure::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::REQUEST_TIMEOUT, &headers(None), b""),
            SendFailure::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::PAYLOAD_TOO_LARGE, &headers(None), b""),
            SendFailure::TooLarge { .. }
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &headers(None), b""),
            SendFailure::Permanent { status: 500, .. }
        ));
    }

    #[test]
    fn the_blocked_shape_yields_its_sub_code() {
        let body = br#"{"errorCode":209,"message":"{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\"}"}"#;
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &headers(None), body).code(),
            "MessageWritesBlocked"
        );
    }

    #[test]
    fn conversation_ids_are_escaped_in_urls() {
        let url = BotConnector::activities_url("https://smba.example/teams/", "a:1/x#y z").unwrap();
        assert_eq!(
            url.as_str(),
            "https://smba.example/teams/v3/conversations/a:1%2Fx%23y%20z/activities"
        );
    }
}

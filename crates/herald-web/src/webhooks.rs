//! The webhook dispatcher: posts each queued event (an announcement a key
//! created finished sending, was canceled or failed) to the key's URL,
//! signed, and retries with doubling waits for a day. Runs in every web
//! process; claims are leased in PostgreSQL, so each event goes out from
//! one of them at a time.
//!
//! The signature is `Herald-Signature: t=<unix seconds>,v1=<hex>`, the
//! HMAC-SHA256 with the webhook's secret of `<t>.<body>`: a receiver
//! recomputes it and refuses an old `t`, so a captured request cannot be
//! replayed later.

use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationId};
use herald_store::{Attempt, DueDelivery, Store};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::watch;

/// Deliveries claimed per round, and how long a claim holds.
const PER_ROUND: i64 = 20;
const LEASE_SECONDS: f64 = 60.0;
/// Retries stop a day after the event.
const GIVE_UP_AFTER: time::Duration = time::Duration::days(1);
/// The longest wait between two attempts.
const MAX_WAIT_SECONDS: u64 = 3600;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The wait after the first failure; it doubles after each.
    pub first_retry: Duration,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

/// Posts due deliveries every second until `stop`.
pub async fn run(store: Store, settings: WebhookSettings, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .build()
        .unwrap_or_default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match store
            .claim_webhook_deliveries(PER_ROUND, LEASE_SECONDS)
            .await
        {
            Ok(due) => {
                for delivery in due {
                    deliver(&store, &http, &settings, delivery).await;
                }
            }
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), "cannot read the webhook deliveries; trying again in a second");
            }
        }
    }
}

async fn deliver(
    store: &Store,
    http: &reqwest::Client,
    settings: &WebhookSettings,
    delivery: DueDelivery,
) {
    let span = tracing::info_span!("webhook", delivery = delivery.id, event = %delivery.event, notification = %delivery.notification_id);
    let _entered = span.enter();
    let body = match payload(store, &delivery).await {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(error = %herald_domain::chain(&error), "cannot read the announcement for a webhook; trying again later");
            return;
        }
    };
    let now = OffsetDateTime::now_utc();
    let answer = http
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header("Herald-Event", &delivery.event)
        .header("Herald-Delivery", delivery.id.to_string())
        .header(
            "Herald-Signature",
            signature(&delivery.secret, now.unix_timestamp(), &body),
        )
        .body(body)
        .send()
        .await;
    let attempt = match answer {
        Ok(response) if response.status().is_success() => Attempt::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => failed(
            settings,
            &delivery,
            Some(response.status().as_u16()),
            format!("the receiver answered {}", response.status()),
        ),
        Err(error) if error.is_timeout() => failed(
            settings,
            &delivery,
            None,
            format!(
                "the receiver did not answer within {} s",
                settings.timeout.as_secs()
            ),
        ),
        Err(error) => failed(
            settings,
            &delivery,
            None,
            format!(
                "cannot reach the receiver: {}",
                herald_domain::chain(&error)
            ),
        ),
    };
    match &attempt {
        Attempt::Delivered { .. } => tracing::info!("webhook delivered"),
        Attempt::Failed {
            error, retry_at, ..
        } => {
            tracing::warn!(error, retry = retry_at.is_some(), "webhook not delivered")
        }
    }
    if let Err(error) = store.record_webhook_attempt(delivery.id, &attempt).await {
        tracing::warn!(error = %herald_domain::chain(&error), "cannot record a webhook attempt; it is tried again when its lease ends");
    }
}

/// A failed attempt: tried again after a doubling wait, until a day has
/// passed since the event.
fn failed(
    settings: &WebhookSettings,
    delivery: &DueDelivery,
    status: Option<u16>,
    error: String,
) -> Attempt {
    let doublings = u32::try_from(delivery.attempts).unwrap_or(0).min(16);
    let wait = (settings.first_retry.as_secs_f64() * f64::from(2u32.pow(doublings)))
        .min(MAX_WAIT_SECONDS as f64);
    let retry_at = OffsetDateTime::now_utc() + time::Duration::seconds_f64(wait);
    Attempt::Failed {
        status,
        error,
        retry_at: (retry_at < delivery.created_at + GIVE_UP_AFTER).then_some(retry_at),
    }
}

/// `t=<unix>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    context.update(unix.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

/// The event as the receiver gets it.
async fn payload(
    store: &Store,
    delivery: &DueDelivery,
) -> Result<Vec<u8>, herald_store::StoreError> {
    let id = NotificationId(delivery.notification_id);
    let progress = store.progress(id).await?;
    let announcement = progress.as_ref().map(|p| {
        let record = &p.notification;
        json!({
            "id": record.id.to_string(),
            "title": record.content.title.as_str(),
            "status": record.status.as_str(),
            "recipients": p.total(),
            "delivered": p.count(DeliveryStatus::Delivered),
            "notDelivered": DeliveryStatus::ALL.iter().filter(|s| s.is_final() && **s != DeliveryStatus::Delivered).map(|s| p.count(*s)).sum::<i64>(),
            "report": format!("/api/v1/announcements/{}", record.id),
        })
    });
    let event = json!({
        "id": delivery.id,
        "event": delivery.event,
        "occurredAt": delivery.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "announcement": announcement,
    });
    Ok(serde_json::to_vec(&event).unwrap_or_default())
}

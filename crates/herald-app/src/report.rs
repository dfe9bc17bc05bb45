//! A notification's progress, for people (`herald status`) and programs
//! (`--json`).

use herald_domain::{ChangeStatus, DeliveryStatus};
use herald_store::{ChangeRecord, Progress};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn timestamp(at: Option<OffsetDateTime>) -> Value {
    at.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

pub fn progress_json(progress: &Progress) -> Value {
    let n = &progress.notification;
    let counts: serde_json::Map<String, Value> = DeliveryStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), json!(progress.count(*s))))
        .collect();
    json!({
        "id": n.id.to_string(),
        "title": n.content.title.as_str(),
        "status": n.status.as_str(),
        "prepared": n.prepared,
        "total": progress.total(),
        "counts": counts,
        "created_by": n.created_by,
        "created_at": timestamp(Some(n.created_at)),
        "send_started_at": timestamp(n.send_started_at),
        "first_delivery_at": timestamp(n.first_delivery_at),
        "last_delivery_at": timestamp(n.last_delivery_at),
        "completed_at": timestamp(n.completed_at),
        "error": n.error,
        "canceled_by": n.canceled_by,
        "delivered": progress.count(DeliveryStatus::Delivered),
        "read": n.read,
        "acknowledgement_required": n.content.acknowledgement_required,
        "acknowledged": n.acknowledged,
        "not_acknowledged": if n.content.acknowledgement_required { json!((progress.count(DeliveryStatus::Delivered) - n.acknowledged).max(0)) } else { Value::Null },
        "reminder_of": n.reminder_of.map(|r| r.to_string()),
    })
}

pub fn progress_text(progress: &Progress) -> String {
    let n = &progress.notification;
    let counts: Vec<String> = DeliveryStatus::ALL
        .iter()
        .map(|s| format!("{} {}", s.as_str(), progress.count(*s)))
        .collect();
    let when = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut text = format!(
        "{} \"{}\": {}{}\n  recipients {}: {}\n  started {}, first delivery {}, last delivery {}, completed {}\n",
        n.id,
        n.content.title.as_str(),
        n.status.as_str(),
        if n.prepared || n.status.is_final() {
            ""
        } else {
            " (still resolving the audience)"
        },
        progress.total(),
        counts.join(", "),
        when(n.send_started_at),
        when(n.first_delivery_at),
        when(n.last_delivery_at),
        when(n.completed_at),
    );
    // As the status page counts them: receipts and Acknowledge presses.
    text.push_str(&format!(
        "  read {} of {} delivered\n",
        n.read,
        progress.count(DeliveryStatus::Delivered)
    ));
    if n.content.acknowledgement_required {
        let waiting = (progress.count(DeliveryStatus::Delivered) - n.acknowledged).max(0);
        text.push_str(&format!(
            "  acknowledged {}, not yet {waiting}\n",
            n.acknowledged
        ));
    }
    if let Some(by) = &n.canceled_by {
        text.push_str(&format!("  canceled by {by}\n"));
    }
    if let Some(error) = &n.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    text
}

/// The edits and recalls of an announcement, and how the latest is going.
pub fn changes_text(changes: &[ChangeRecord], counts: &[(ChangeStatus, i64)]) -> String {
    let mut text = String::new();
    for change in changes {
        text.push_str(&format!(
            "  version {}: {} by {} at {}{}\n",
            change.version,
            change.kind,
            change.by,
            timestamp_text(Some(change.created_at)),
            match change.completed_at {
                Some(at) => format!(", done at {}", timestamp_text(Some(at))),
                None => ", in progress".to_owned(),
            }
        ));
    }
    if !changes.is_empty() {
        let counts: Vec<String> = ChangeStatus::ALL
            .iter()
            .map(|s| format!("{} {}", s, count_of(counts, *s)))
            .collect();
        text.push_str(&format!("  latest change: {}\n", counts.join(", ")));
    }
    text
}

pub fn changes_json(changes: &[ChangeRecord], counts: &[(ChangeStatus, i64)]) -> Value {
    let list: Vec<Value> = changes
        .iter()
        .map(|c| {
            json!({
                "version": c.version,
                "kind": c.kind.as_str(),
                "by": c.by,
                "created_at": timestamp(Some(c.created_at)),
                "completed_at": timestamp(c.completed_at),
            })
        })
        .collect();
    let counts: serde_json::Map<String, Value> = ChangeStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), json!(count_of(counts, *s))))
        .collect();
    json!({"list": list, "latest": counts})
}

fn count_of(counts: &[(ChangeStatus, i64)], status: ChangeStatus) -> i64 {
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

fn timestamp_text(at: Option<OffsetDateTime>) -> String {
    at.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".to_owned())
}

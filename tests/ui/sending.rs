//! Sending from the web UI: to a group and a list at once, a test to
//! oneself, canceling a running send, and schedules that fire once
//! however many Herald processes run.

use std::collections::HashSet;
use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};
use reqwest::StatusCode;
use serde_json::Value;

use crate::drafts::{user_id, wait_for_message};
use crate::{people, sign_in_staff, start};

fn notification(id: &str) -> NotificationId {
    NotificationId(id.parse().unwrap())
}

#[tokio::test]
async fn a_group_and_a_list_each_get_it_once() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let directory = herald.emulator_get("/directory").await;
    let group = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_null() && !g["memberUserIds"].as_array().unwrap().is_empty())
        .unwrap();
    let members: Vec<String> = group["memberUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let listed = people(&herald, 3).await;
    let id = author
        .create_draft(&[
            ("title", "Group and list"),
            (
                "target",
                &format!("group:{}", group["id"].as_str().unwrap()),
            ),
            ("target_label", group["displayName"].as_str().unwrap()),
            ("csv", &listed.join("\n")),
            ("csv_name", "three.csv"),
        ])
        .await;
    let confirm = author.page(&format!("/drafts/{id}/send")).await;
    assert!(confirm.contains(group["displayName"].as_str().unwrap()));
    assert!(confirm.contains("three.csv (3 people)"));
    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(
        sent.headers()["Location"],
        format!("/announcements/{id}").as_str()
    );
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(60))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    let mut everyone: HashSet<String> = members.into_iter().collect();
    for upn in &listed {
        everyone.insert(user_id(&herald, upn).await);
    }
    for user in &everyone {
        let got = herald.messages(user).await;
        assert_eq!(got.len(), 1, "{user} got it once");
    }
    assert_eq!(
        progress.count(DeliveryStatus::Delivered) as usize,
        everyone.len()
    );
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(
        page.contains("Sent")
            && page.contains(&format!(r#"id="count-delivered">{}"#, everyone.len()))
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_test_goes_to_its_author_alone() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let staff = herald.staff().await;
    let listed = people(&herald, 2).await;
    let id = author
        .create_draft(&[("title", "Quarterly results"), ("csv", &listed.join("\n"))])
        .await;
    let tested = author
        .post(
            &format!("/drafts/{id}"),
            &[
                ("title", "Quarterly results"),
                ("csv", &listed.join("\n")),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(
        tested.headers()["Location"],
        format!("/drafts/{id}?done=tested").as_str()
    );
    let message = wait_for_message(&herald, &staff[1].1).await;
    assert!(message.to_string().contains("[Test] Quarterly results"));
    for upn in &listed {
        assert!(
            herald
                .messages(&user_id(&herald, upn).await)
                .await
                .is_empty()
        );
    }
    let draft = herald
        .store()
        .notification(notification(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        draft.status,
        NotificationStatus::Draft,
        "the draft is still a draft"
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_running_send_can_be_canceled() {
    let mut config = emulator_config(300);
    config.behaviour.global_rps = 10;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 10.0).await;
    let author = sign_in_staff(&herald).await.author;
    let listed = people(&herald, 200).await;
    let id = author
        .create_draft(&[("title", "Slow and long"), ("csv", &listed.join("\n"))])
        .await;
    author.post(&format!("/drafts/{id}/send"), &[]).await;
    herald
        .wait_for(notification(&id), Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 5
        })
        .await;
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(page.contains("Cancel send"));
    let canceled = author
        .post(&format!("/announcements/{id}/cancel"), &[])
        .await;
    assert_eq!(canceled.status(), StatusCode::SEE_OTHER);
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(10))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Canceled);
    assert!(
        progress.count(DeliveryStatus::Canceled) > 100,
        "{progress:?}"
    );
    let again = author
        .post(&format!("/announcements/{id}/cancel"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    herald.stop().await;
}

fn in_seconds(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap()
}

/// Schedules a draft for the next whole minute in UTC+1, as a browser in
/// Paris would send it.
async fn schedule_soon(author: &StaffClient, id: &str) -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    let due = now + time::Duration::seconds(60 - i64::from(now.second()));
    let local = due.to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap());
    let at = local
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap();
    let response = author
        .post(
            &format!("/drafts/{id}/schedule"),
            &[
                ("at", &at),
                ("offset_minutes", "-60"),
                ("time_zone", "Europe/Paris"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    due.replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
}

#[tokio::test]
async fn a_schedule_fires_once_with_several_herald_processes() {
    let herald = start().await;
    // A second Herald on the same database and queues.
    let second = herald_app::start(&herald.settings, herald_app::Roles::ALL)
        .await
        .unwrap();
    let author = sign_in_staff(&herald).await.author;
    let listed = people(&herald, 5).await;
    let id = author
        .create_draft(&[("title", "Scheduled once"), ("csv", &listed.join("\n"))])
        .await;
    let due = schedule_soon(&author, &id).await;
    let stored = herald
        .store()
        .notification(notification(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, NotificationStatus::Scheduled);
    assert_eq!(stored.scheduled_at, Some(due), "stored in UTC");
    assert_eq!(stored.time_zone.as_deref(), Some("Europe/Paris"));
    let list = author.page("/").await;
    assert!(list.contains("Scheduled for"));

    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(100))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert!(progress.notification.send_started_at.unwrap() >= due);
    for upn in &listed {
        assert_eq!(
            herald.messages(&user_id(&herald, upn).await).await.len(),
            1,
            "{upn}"
        );
    }
    let all = herald.store().announcements(None, 10).await.unwrap();
    assert_eq!(all.len(), 1, "one notification");
    second.stop().await;
    herald.stop().await;
}

#[tokio::test]
async fn schedules_are_checked_edited_back_to_a_draft_and_canceled() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let listed = people(&herald, 1).await;
    let id = author
        .create_draft(&[("title", "Not yet"), ("csv", &listed[0])])
        .await;
    for (at, problem) in [
        (in_seconds(-3600), "that time has passed"),
        ("tomorrow".to_owned(), "is not a date and time"),
        (in_seconds(400 * 86_400), "up to a year ahead"),
    ] {
        let response = author
            .post(
                &format!("/drafts/{id}/schedule"),
                &[("at", &at), ("offset_minutes", "0")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{at}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(problem) && page.contains(&format!(r#"value="{at}""#)),
            "{page}"
        );
    }
    let at = in_seconds(3600);
    let scheduled = author
        .post(
            &format!("/drafts/{id}/schedule"),
            &[("at", &at), ("offset_minutes", "0")],
        )
        .await;
    assert_eq!(scheduled.status(), StatusCode::SEE_OTHER);
    // The page of a schedule shows what goes out and when, with Edit and
    // Cancel; not an empty report.
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(
        page.contains("Goes out on")
            && page.contains(r#"id="edit""#)
            && page.contains(r#"id="cancel""#)
            && page.contains(
                "Editing takes it off the schedule; schedule it again when you are done."
            )
            && page.contains(r#"<input type="hidden" name="title" value="Not yet">"#),
        "{page}"
    );
    for empty_report in [
        "progress-bar",
        "recipients-link",
        "recipients.csv",
        "progress-chart",
    ] {
        assert!(
            !page.contains(empty_report),
            "{empty_report} on a schedule's page"
        );
    }
    // Edit takes it off the schedule and opens the editor, saying so.
    let edited = author.post(&format!("/announcements/{id}/edit"), &[]).await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    let location = edited.headers()["Location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/drafts/{id}?done=unscheduled"));
    let editor = author.page(&location).await;
    assert!(
        editor.contains("Schedule it again when you are done"),
        "{editor}"
    );
    let draft = herald
        .store()
        .notification(notification(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (draft.status, draft.scheduled_at),
        (NotificationStatus::Draft, None)
    );
    // Scheduled again, then canceled: it ends canceled, never sent.
    let scheduled = author
        .post(
            &format!("/drafts/{id}/schedule"),
            &[("at", &at), ("offset_minutes", "0")],
        )
        .await;
    assert_eq!(scheduled.status(), StatusCode::SEE_OTHER);
    let canceled = author
        .post(&format!("/announcements/{id}/cancel"), &[])
        .await;
    assert_eq!(
        canceled.headers()["Location"],
        format!("/announcements/{id}").as_str()
    );
    let ended = herald
        .store()
        .notification(notification(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, NotificationStatus::Canceled);
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(page.contains("before it was sent"), "{page}");
    let again = author.post(&format!("/announcements/{id}/edit"), &[]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let stats: Value = herald.emulator_stats().await;
    assert_eq!(stats["activities_received"], 0);
    herald.stop().await;
}

//! Editing and recalling a sent announcement from its page, over HTTP:
//! the form, the review with what changes, the update and the recall,
//! what each person's chat shows after, the recipients table and CSV, and
//! who may do it.

use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationId};
use herald_testkit::TestHerald;
use herald_testkit::web::location;
use reqwest::StatusCode;

use crate::drafts::user_id;
use crate::{people, sign_in_staff, start};

/// An announcement the author sent to three people, delivered.
async fn sent(
    herald: &TestHerald,
    author: &herald_testkit::web::StaffClient,
) -> (String, Vec<String>) {
    let listed = people(herald, 3).await;
    let id = author
        .create_draft(&[
            ("title", "Town hall on Friday"),
            ("summary", "In the atrium at 10:00."),
            ("csv", &listed.join("\n")),
            ("csv_name", "three.csv"),
        ])
        .await;
    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    herald
        .wait_until_ended(NotificationId(id.parse().unwrap()), Duration::from_secs(60))
        .await;
    let mut users = Vec::new();
    for upn in &listed {
        users.push(user_id(herald, upn).await);
    }
    (id, users)
}

async fn wait_for_change(herald: &TestHerald, id: &str) {
    let id = NotificationId(id.parse().unwrap());
    herald.wait_for_change(id, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn an_author_edits_a_sent_announcement_after_reviewing_the_change() {
    let herald = start().await;
    let staff = sign_in_staff(&herald).await;
    let author = staff.author;
    let (id, users) = sent(&herald, &author).await;

    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(page.contains(r#"id="edit-sent""#) && page.contains(r#"id="recall-form""#));
    assert!(
        page.contains("Recall it from the 3 people"),
        "the confirmation names how many"
    );
    let form = author.page(&format!("/announcements/{id}/change")).await;
    assert!(form.contains("Town hall on Friday") && form.contains(r#"id="sent-audience""#));
    assert!(
        form.contains("three.csv"),
        "the audience is shown, not edited"
    );

    // Nothing changed: said so, nothing started.
    let same = author
        .post(
            &format!("/announcements/{id}/change"),
            &[
                ("title", "Town hall on Friday"),
                ("summary", "In the atrium at 10:00."),
            ],
        )
        .await;
    assert_eq!(same.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(same.text().await.unwrap().contains("Nothing is different"));

    let fields = [
        ("title", "Town hall on Thursday"),
        ("summary", "In the atrium at 10:00."),
    ];
    let review = author
        .post(&format!("/announcements/{id}/change"), &fields)
        .await;
    assert_eq!(review.status(), StatusCode::OK);
    let review = review.text().await.unwrap();
    assert!(review.contains("<dt>Title</dt>"), "{review}");
    assert!(
        review.contains("Town hall on Friday</del>")
            && review.contains("Town hall on Thursday</ins>")
    );
    assert!(
        !review.contains("<dt>Summary</dt>"),
        "unchanged fields are not listed"
    );
    assert!(review.contains(r#"id="card-before""#) && review.contains(r#"id="card-after""#));
    assert!(review.contains("replaced for <strong>3</strong>"));
    // Nothing has changed before the update is confirmed.
    assert_eq!(
        herald.messages(&users[0]).await[0]["version"],
        1,
        "a review changes nothing"
    );

    let mut update = fields.to_vec();
    update.push(("mark_edited", "on"));
    let updated = author
        .post(&format!("/announcements/{id}/update"), &update)
        .await;
    assert_eq!(updated.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&updated),
        format!("/announcements/{id}?changed=edit")
    );
    wait_for_change(&herald, &id).await;
    for user in &users {
        let messages = herald.messages(user).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["version"], 2);
        let card = messages[0]["activity"].to_string();
        assert!(
            card.contains("Town hall on Thursday") && card.contains("Edited"),
            "{card}"
        );
    }
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(page.contains("Edited by"), "{page}");
    assert!(page.contains("done: 3 updated"), "{page}");
    let table = author
        .page(&format!("/announcements/{id}/recipients"))
        .await;
    assert!(table.contains("<th scope=\"col\">Edit or recall</th>"));
    assert_eq!(table.matches("status-updated").count(), 3);
    let csv = author
        .get(&format!("/announcements/{id}/recipients.csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("version,change,change_reason")
    );
    assert_eq!(
        csv.lines().filter(|l| l.contains(",2,updated,")).count(),
        3,
        "{csv}"
    );
    herald.stop().await;
}

#[tokio::test]
async fn a_recall_with_a_notice_from_the_page_replaces_the_card() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let (id, users) = sent(&herald, &author).await;
    let recalled = author
        .post(&format!("/announcements/{id}/recall"), &[("how", "notice")])
        .await;
    assert_eq!(recalled.status(), StatusCode::SEE_OTHER);
    wait_for_change(&herald, &id).await;
    for user in &users {
        let card = herald.messages(user).await[0]["activity"].to_string();
        assert!(
            card.contains("This announcement was withdrawn by"),
            "{card}"
        );
        assert!(!card.contains("atrium"), "{card}");
    }
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(page.contains("Withdrawn with a notice by"));
    assert!(
        !page.contains(r#"id="recall-form""#),
        "it cannot be recalled twice"
    );
    let again = author.get(&format!("/announcements/{id}/change")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let progress = herald.progress(NotificationId(id.parse().unwrap())).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        3,
        "the delivery record stays"
    );
    herald.stop().await;
}

#[tokio::test]
async fn only_the_author_and_admins_change_it_and_only_with_the_form_token() {
    let herald = start().await;
    let staff = sign_in_staff(&herald).await;
    let (id, users) = sent(&herald, &staff.author).await;
    for path in ["change", "update", "recall"] {
        let url = format!("/announcements/{id}/{path}");
        let response = staff
            .other_author
            .post(&url, &[("title", "Hijacked"), ("how", "delete")])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
        let forged = staff
            .author
            .post_raw(&url, &[("title", "Forged"), ("how", "delete")])
            .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{url}");
    }
    assert_eq!(
        staff
            .other_author
            .get(&format!("/announcements/{id}/change"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(herald.messages(&users[0]).await[0]["deleted"], false);
    // An admin may recall anyone's.
    let recalled = staff
        .admin
        .post(&format!("/announcements/{id}/recall"), &[("how", "delete")])
        .await;
    assert_eq!(recalled.status(), StatusCode::SEE_OTHER);
    wait_for_change(&herald, &id).await;
    for user in &users {
        assert_eq!(herald.messages(user).await[0]["deleted"], true);
    }
    let bad = staff
        .admin
        .post(&format!("/announcements/{id}/recall"), &[("how", "shred")])
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    herald.stop().await;
}

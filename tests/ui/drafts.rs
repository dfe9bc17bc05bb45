//! Composing: drafts that keep what was typed, a preview that is the
//! card Teams receives, escaping of everything typed, and lists of people
//! checked before anything is sent.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{people, sign_in_staff, start};

#[tokio::test]
async fn a_refused_save_keeps_what_was_typed_and_stores_nothing() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let response = author
        .post(
            "/drafts",
            &[
                ("title", "  "),
                ("summary", "Keep this summary"),
                ("image_url", "http://contoso.example/a.png"),
                ("button1_title", "Open"),
                ("button1_url", "ftp://contoso.example"),
                ("button2_url", "https://contoso.example/no-title"),
                ("csv", "not-a-person"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    for kept in [
        "Keep this summary",
        "http://contoso.example/a.png",
        "ftp://contoso.example",
        "https://contoso.example/no-title",
        "not-a-person",
    ] {
        assert!(page.contains(kept), "{kept} is kept");
    }
    for (field, words) in [
        ("title-error", "the title is empty"),
        ("image_url-error", "https"),
        ("button1_url-error", "button 1 URL"),
        ("button2_title-error", "button 2 has none"),
        ("csv-error", "lists nobody"),
    ] {
        let at = page
            .find(&format!(r#"id="{field}">"#))
            .unwrap_or_else(|| panic!("{field}"));
        let shown = &page[at..at + 200];
        assert!(shown.contains(words), "{field}: {shown}");
    }
    assert!(
        herald
            .store()
            .announcements(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    herald.stop().await;
}

#[tokio::test]
async fn drafts_are_saved_edited_duplicated_and_deleted() {
    let herald = start().await;
    let signed_in = sign_in_staff(&herald).await;
    let author = &signed_in.author;
    let id = author
        .create_draft(&[
            ("title", "First words"),
            ("summary", "Draft one"),
            ("critical", "on"),
        ])
        .await;
    let page = author.page(&format!("/drafts/{id}?done=saved")).await;
    assert!(page.contains("First words") && page.contains("Saved."));
    assert!(page.contains(r#"id="critical" name="critical" value="on" checked"#));

    let edited = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", "Second words"), ("summary", "Draft two")],
        )
        .await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    let page = author.page(&format!("/drafts/{id}")).await;
    assert!(page.contains("Second words") && !page.contains("First words"));
    assert!(
        !page.contains(r#"value="on" checked"#),
        "critical was unticked"
    );

    let copy = author.post(&format!("/drafts/{id}/duplicate"), &[]).await;
    let copy_path = copy.headers()["Location"].to_str().unwrap().to_owned();
    assert!(copy_path.ends_with("?done=duplicated"));
    let copy_page = author.page(&copy_path).await;
    assert!(copy_page.contains("Second words") && copy_page.contains("This is a copy"));

    let list = author.page("/").await;
    assert_eq!(list.matches("Second words").count(), 2);
    // The other author sees neither; the admin sees both.
    let theirs = signed_in.other_author.page("/").await;
    assert!(!theirs.contains("Second words"));
    let admins = signed_in.admin.page("/").await;
    assert_eq!(admins.matches("Second words").count(), 2);

    let deleted = author.post(&format!("/drafts/{id}/delete"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        author.get(&format!("/drafts/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        herald.store().announcements(None, 10).await.unwrap().len(),
        1
    );
    herald.stop().await;
}

const SCRIPT: &str = "<script>window.hacked=1</script>";
const ATTRIBUTE: &str = r#""><img src=x onerror="window.hacked=1">"#;
const LINK: &str = "[Pay rise](javascript:window.hacked=1)";

/// Every text field holds all three tricks.
fn tricky_fields(upn: &str) -> Vec<(&'static str, String)> {
    let all = format!("{SCRIPT} {ATTRIBUTE} {LINK}");
    vec![
        ("title", format!("T {SCRIPT} {ATTRIBUTE}")),
        ("summary", all.clone()),
        ("author", format!("A {SCRIPT} {ATTRIBUTE}")),
        ("feed_text", format!("F {SCRIPT}")),
        ("button1_title", "B <script>x</script>".to_owned()),
        (
            "button1_url",
            format!("https://contoso.example/{ATTRIBUTE}"),
        ),
        (
            "image_url",
            format!("https://contoso.example/i.png?{ATTRIBUTE}"),
        ),
        ("csv", upn.to_owned()),
        ("csv_name", format!("list {ATTRIBUTE}.csv")),
        ("target", "everyone".to_owned()),
        ("target_label", format!("Everyone {SCRIPT}")),
    ]
}

#[tokio::test]
async fn what_is_typed_comes_out_escaped_in_the_page_the_preview_and_the_card() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let person = people(&herald, 1).await.remove(0);
    let fields = tricky_fields(&person);
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let id = author.create_draft(&borrowed).await;

    for page in [
        author.page(&format!("/drafts/{id}")).await,
        author.page("/").await,
    ] {
        assert!(!page.contains("<script>window"), "no script element");
        assert!(!page.contains("<img src=x"), "no img element");
        assert!(
            page.contains("&#60;script&#62;window.hacked=1&#60;/script&#62;"),
            "{}",
            &page[page.find("hacked").unwrap() - 40..][..120]
        );
    }
    // A refused form shows the tricks back escaped too.
    let mut refused = borrowed.clone();
    refused.retain(|(k, _)| *k != "title");
    let response = author.post("/drafts", &refused).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script>window") && !page.contains("<img src=x"));

    let preview: Value = author_preview(&author, &borrowed).await;
    let card = preview["card"].to_string();
    assert!(!card.contains("javascript:"), "{card}");
    assert!(card.contains("Pay rise"), "the link's words stay");

    // The announcement as sent: only the audience's person, for speed.
    let id_sent = author
        .create_draft(
            &borrowed
                .iter()
                .copied()
                .filter(|(k, _)| !k.starts_with("target"))
                .collect::<Vec<_>>(),
        )
        .await;
    let sent = author.post(&format!("/drafts/{id_sent}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let user = user_id(&herald, &person).await;
    let message = wait_for_message(&herald, &user).await;
    let text = message.to_string();
    assert!(!text.contains("javascript:"), "{text}");
    assert!(text.contains("Pay rise"));
    herald.stop().await;
}

pub async fn author_preview(
    author: &herald_testkit::web::StaffClient,
    fields: &[(&str, &str)],
) -> Value {
    let response = author.post_script("/ui/preview", fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn user_id(herald: &herald_testkit::TestHerald, upn: &str) -> String {
    herald
        .directory_users()
        .await
        .iter()
        .find(|u| u["userPrincipalName"] == upn)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The first message a person received, waiting up to 30 s.
pub async fn wait_for_message(herald: &herald_testkit::TestHerald, user: &str) -> Value {
    for _ in 0..300 {
        if let Some(message) = herald.messages(user).await.first() {
            return message.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no message reached {user}");
}

#[tokio::test]
async fn the_preview_is_the_card_teams_receives() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let person = people(&herald, 1).await.remove(0);
    let fields = [
        ("title", "Office move"),
        (
            "summary",
            "We move on **Monday**.\n\n- Pack your desk\n- [Floor plan](https://contoso.example/plan)",
        ),
        ("image_url", "https://contoso.example/move.png"),
        ("author", "Facilities"),
        ("button1_title", "Details"),
        ("button1_url", "https://contoso.example/move"),
        ("csv", person.as_str()),
        ("csv_name", "movers.csv"),
    ];
    let preview = author_preview(&author, &fields).await;
    let id = author.create_draft(&fields).await;
    let confirm = author.get(&format!("/drafts/{id}/send")).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let page = confirm.text().await.unwrap();
    assert!(
        page.contains("movers.csv (1 people)") && page.contains("<strong>1</strong> person"),
        "{page}"
    );
    author.post(&format!("/drafts/{id}/send"), &[]).await;
    let message = wait_for_message(&herald, &user_id(&herald, &person).await).await;
    let received = &message["activity"]["attachments"][0]["content"];
    assert!(received.is_object(), "{message}");
    assert_eq!(received, &preview["card"], "one card builder for both");
    herald.stop().await;
}

#[tokio::test]
async fn a_list_with_unknown_people_is_reported_before_anything_is_sent() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let known = people(&herald, 2).await;
    let csv = format!(
        "userPrincipalName\n{}\nnobody.here@contoso.example\n{}\n",
        known[0], known[1]
    );
    let report: Value = author
        .post_script(
            "/ui/audience/people",
            &[("csv_name", "team.csv"), ("csv", csv.as_str())],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["unknown"],
        serde_json::json!(["nobody.here@contoso.example"])
    );
    assert_eq!(report["found"].as_array().unwrap().len(), 2);
    let refused = author
        .post(
            "/drafts",
            &[
                ("title", "To a list"),
                ("csv", &csv),
                ("csv_name", "team.csv"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("1 of 3 rows match nobody") || page.contains("match nobody"),
        "{page}"
    );
    assert!(page.contains("nobody.here@contoso.example"));
    assert!(
        herald
            .store()
            .announcements(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(herald.emulator_stats().await["activities_received"], 0);
    herald.stop().await;
}

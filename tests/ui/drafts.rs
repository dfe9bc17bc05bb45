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
const LINK: &str = "[Pay rise](https://contoso.example/pay?<b>x</b>)";
const BAD_LINK: &str = "[Pay rise](javascript:window.hacked=1)";

/// Every text field holds the tricks; the summary's link goes to https
/// (a `javascript:` link is refused at save: see
/// `a_link_teams_would_not_open_is_refused_beside_the_summary`).
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
    assert!(
        card.contains("[Pay rise](https://contoso.example/pay?<b>x</b>)"),
        "{card}"
    );

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
    assert!(
        text.contains("[Pay rise](https://contoso.example/pay?<b>x</b>)"),
        "{text}"
    );
    herald.stop().await;
}

/// The text of the element with this id, up to its first closing tag.
fn element_text<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &page[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</").unwrap();
    &rest[start..end]
}

#[tokio::test]
async fn a_link_teams_would_not_open_is_refused_beside_the_summary() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    for (summary, target) in [
        (
            "See [the plan](http://contoso.example/plan).",
            "http://contoso.example/plan",
        ),
        (BAD_LINK, "javascript:window.hacked=1"),
    ] {
        let fields = [("title", "Office move"), ("summary", summary)];
        let preview = author_preview(&author, &fields).await;
        let problem = preview["errors"]["summary"].as_str().unwrap_or_default();
        assert!(
            problem.contains(&format!("{target:?}")) && problem.contains("https://"),
            "the preview names the link: {preview}"
        );
        assert!(preview["card"].is_null(), "{preview}");

        let refused = author.post("/drafts", &fields).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = refused.text().await.unwrap();
        let beside = element_text(&page, "summary-error");
        assert!(
            beside.contains("links to") && beside.contains("https://"),
            "{beside}"
        );
        assert!(
            page.contains(r##"<a href="#summary">Summary</a>"##),
            "{page}"
        );
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
async fn the_banner_says_whether_the_draft_was_saved() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;

    // A new draft refused: nothing stored, and the problems link to fields.
    let refused = author
        .post(
            "/drafts",
            &[
                ("title", " "),
                ("image_url", "http://x.example/a.png"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        element_text(&page, "form-errors-heading").starts_with("Nothing was saved:"),
        "{page}"
    );
    let title_at = page
        .find(r##"<a href="#title">Title</a>"##)
        .expect("a link to the title");
    let image_at = page
        .find(r##"<a href="#image_url">Image URL</a>"##)
        .expect("a link to the image");
    assert!(title_at < image_at, "in the order of the form");
    assert!(
        herald
            .store()
            .announcements(None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Saved, then no audience to review: the banner says it was saved.
    let saved = author
        .post("/drafts", &[("title", "No one yet"), ("action", "send")])
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let review = author.get(&herald_testkit::web::location(&saved)).await;
    assert_eq!(review.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = review.text().await.unwrap();
    let heading = element_text(&page, "form-errors-heading");
    assert!(
        heading.starts_with("The draft is saved, but it cannot be sent yet"),
        "{heading}"
    );
    assert!(!page.contains("Nothing was saved"), "{page}");
    assert!(
        page.contains(r##"<a href="#audience-search">Audience</a>: Pick at least one"##),
        "{page}"
    );
    let stored = herald.store().announcements(None, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    let id = stored[0].id;

    // Editing it, refused: the changes were not saved, the draft stays.
    let refused = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", ""), ("action", "save")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        element_text(&page, "form-errors-heading").starts_with("Your changes were not saved:"),
        "{page}"
    );
    // Editing it, saved, then no audience: saved again.
    let saved = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", "Still no one"), ("action", "send")],
        )
        .await;
    let page = author.page(&herald_testkit::web::location(&saved)).await;
    assert!(
        element_text(&page, "form-errors-heading").starts_with("The draft is saved"),
        "{page}"
    );
    assert!(page.contains("Still no one"));

    // A test with invalid fields: nothing saved and no test sent.
    let refused = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", ""), ("action", "test")],
        )
        .await;
    let page = refused.text().await.unwrap();
    assert!(
        element_text(&page, "form-errors-heading")
            .starts_with("Your changes were not saved and no test was sent:"),
        "{page}"
    );
    // A test needs no audience: saved and sent.
    let tested = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", "Test me"), ("action", "test")],
        )
        .await;
    assert_eq!(tested.status(), StatusCode::SEE_OTHER);
    assert!(herald_testkit::web::location(&tested).ends_with("?done=tested"));
    herald.stop().await;
}

#[tokio::test]
async fn a_binary_file_is_not_read_as_a_list() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    // A picture's first bytes as a browser decodes them: U+FFFD for each
    // byte that is not UTF-8, and NULs.
    let picture = "\u{fffd}PNG\r\n\u{1a}\n\0\0\0\rIHDR\0\0\u{2}\0";
    let answer = author
        .post_script(
            "/ui/audience/people",
            &[("csv_name", "photo.png"), ("csv", picture)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("photo.png is not a text CSV file") && error.contains("CSV UTF-8"),
        "{error}"
    );
    assert!(
        !error.contains('\u{fffd}'),
        "no garbled characters: {error}"
    );
    let refused = author
        .post(
            "/drafts",
            &[
                ("title", "To a picture"),
                ("csv_name", "photo.png"),
                ("csv", picture),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        element_text(&page, "csv-error").contains("is not a text CSV file"),
        "{page}"
    );
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
        page.contains("movers.csv (1 person)") && page.contains("<strong>1</strong> person"),
        "{page}"
    );
    assert!(
        !page.contains("counted for each"),
        "one target counts nobody twice: {page}"
    );
    // The review page carries the very card, for its preview.
    let carried = page
        .split(r#"data-card=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the card in the review page");
    let carried: Value = serde_json::from_str(
        &carried
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&"),
    )
    .unwrap();
    assert_eq!(carried, preview["card"]);
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

#[tokio::test]
async fn a_summary_too_long_says_how_long_with_separators() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let summary = "a".repeat(29_999);
    let response = author
        .post("/drafts", &[("title", "Long"), ("summary", &summary)])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("the summary is 29,999 characters long; at most 20,000 are allowed"),
        "{}",
        &page[page.find(r#"id="summary-error""#).unwrap_or(0)..][..300]
    );
    herald.stop().await;
}

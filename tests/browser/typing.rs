//! What people type, in the browser: markup typed into any field never
//! becomes markup in the page or the preview, and the compose page works
//! from the keyboard alone.

use fantoccini::key::Key;
use serde_json::json;

use crate::harness::{
    Browser, click, press, script, text, type_into, wait_for, wait_for_path, wait_for_text,
    wait_until,
};
use crate::site::{
    assert_console_clean, assert_nothing_ran, choose_with_keys, new_announcement, open, people,
    plain_group, press_action, preview_shows, results_open, save_and_review, sign_in, start,
};

const SCRIPT: &str = "<script>window.hacked=1</script>";
const ATTRIBUTE: &str = r#""><img src=x onerror="window.hacked=1">"#;
const LINK: &str = "[x](javascript:window.hacked=1)";

/// The compose page's text fields that end up in the card or the page,
/// with a short tag each, so a test can tell its text apart.
const TEXT_FIELDS: &[(&str, &str)] = &[
    ("#title", "ti"),
    ("#summary", "su"),
    ("#author", "au"),
    ("#feed_text", "fe"),
    ("#button1_title", "b1"),
    ("#button2_title", "b2"),
    // Typed last: once the preview shows it, it shows all of them.
    ("#button3_title", "b3"),
];

/// Link fields: each trick after an https address of this machine where
/// nothing listens, so the form stays valid and nothing leaves it.
const URL_FIELDS: &[&str] = &["#image_url", "#button1_url", "#button2_url", "#button3_url"];

#[tokio::test]
async fn markup_typed_into_any_field_stays_text() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;

    // A `javascript:` link is refused at save, beside the summary: see
    // `a_link_teams_would_not_open_is_refused_as_it_is_typed`.
    for (round, trick) in [SCRIPT, ATTRIBUTE].into_iter().enumerate() {
        let context = |stage: &str| format!("{trick:?} {stage}");
        for field in URL_FIELDS {
            type_into(
                &browser,
                field,
                &format!("https://127.0.0.1:9/{round}?{trick}"),
            )
            .await;
        }
        for (field, tag) in TEXT_FIELDS {
            type_into(&browser, field, &format!("{tag}{round} {trick}")).await;
        }
        // The picker's search box takes it too.
        type_into(&browser, "#audience-search", trick).await;
        wait_until(
            &browser,
            "document.getElementById('audience-status').textContent !== ''",
            "answering the search",
        )
        .await;

        // The preview has rendered every field.
        let shown = preview_shows(&browser, &format!("b3{round} ")).await;
        assert!(
            shown.contains(&format!("ti{round} ")) && shown.contains(&format!("su{round} ")),
            "{shown}"
        );
        assert!(shown.contains(trick), "shown as typed: {shown}");
        assert_nothing_ran(&browser, &context("in the preview")).await;

        // Saved, and the page drawn again from what was stored.
        press_action(&browser, "save").await;
        wait_for_path(&browser, "the saved draft", |p| p.ends_with("?done=saved")).await;
        wait_for_text(&browser, ".notice", "Saved.").await;
        let title = wait_for(&browser, "#title")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(title, Some(format!("ti{round} {trick}")), "kept as typed");
        preview_shows(&browser, &format!("b3{round} ")).await;
        assert_nothing_ran(&browser, &context("after saving")).await;

        open(&browser, &herald, "/").await;
        let list = wait_for_text(&browser, "table.list", &format!("ti{round} ")).await;
        assert!(list.contains(trick), "the list shows it as text: {list}");
        assert_nothing_ran(&browser, &context("in the announcements list")).await;
        browser.back().await.unwrap();
        wait_for(&browser, "form#compose").await;
    }

    // A list of people holding markup: refused, and shown back as text.
    type_into(&browser, "#csv", &format!("{ATTRIBUTE}\n{SCRIPT}")).await;
    press_action(&browser, "save").await;
    wait_for_text(&browser, "#csv-error", "<script>window.hacked=1</script>").await;
    assert_nothing_ran(&browser, "a refused list").await;

    // The review page shows the title as text too.
    let person = people(&herald, 0, 1).await.remove(0);
    type_into(&browser, "#csv", &person).await;
    save_and_review(&browser).await;
    assert!(text(&browser, "h1").await.contains(ATTRIBUTE));
    assert_nothing_ran(&browser, "the review page").await;

    assert_console_clean(
        &browser,
        &herald,
        "typing markup",
        // The images of the preview, at an address where nothing listens,
        // and the refused save.
        &["127.0.0.1:9/", "status of 422"],
    )
    .await;
    browser.close().await;
    herald.stop().await;
}

/// The id of the element with the focus.
async fn focused_id(browser: &Browser) -> String {
    script(browser, "return document.activeElement.id;", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_link_teams_would_not_open_is_refused_as_it_is_typed() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    type_into(&browser, "#title", "Office move").await;
    preview_shows(&browser, "Office move").await;

    for (typed, target) in [
        (
            "See [the plan](http://contoso.example/plan).",
            "http://contoso.example/plan",
        ),
        (LINK, "javascript:window.hacked=1"),
    ] {
        type_into(&browser, "#summary", typed).await;
        // Beside the summary and in the preview, as it is typed.
        let beside = wait_for_text(&browser, "#summary-error", target).await;
        assert!(beside.contains("https://"), "{beside}");
        wait_for_text(&browser, "#preview-status", target).await;
        let invalid = script(
            &browser,
            "return document.getElementById('summary').getAttribute('aria-invalid');",
            vec![],
        )
        .await;
        assert_eq!(invalid, json!("true"));
        assert_nothing_ran(&browser, typed).await;
    }

    // Saving is refused, with the problem beside the summary, listed at
    // the top with a link to it, and the focus on that list.
    press_action(&browser, "save").await;
    wait_for_text(&browser, "#form-errors", "Nothing was saved").await;
    wait_for_text(&browser, "#summary-error", "javascript:window.hacked=1").await;
    wait_until(
        &browser,
        "document.activeElement === document.getElementById('form-errors')",
        "moving the focus to the problems",
    )
    .await;
    click(&browser, r##"#form-errors a[href="#summary"]"##).await;
    assert_eq!(focused_id(&browser).await, "summary");
    assert_nothing_ran(&browser, "the refused save").await;
    assert!(
        herald
            .store()
            .announcements(None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Fixed, the error goes and the card shows the link.
    type_into(
        &browser,
        "#summary",
        "See [the plan](https://contoso.example/plan).",
    )
    .await;
    preview_shows(&browser, "See the plan.").await;
    wait_until(
        &browser,
        "document.getElementById('summary-error').textContent === \"\" && \
         document.getElementById('summary').getAttribute('aria-invalid') === 'false'",
        "clearing the summary's error",
    )
    .await;
    assert_console_clean(&browser, &herald, "a refused link", &["status of 422"]).await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn saving_without_an_audience_says_the_draft_was_saved() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    type_into(&browser, "#title", "To nobody yet").await;
    press_action(&browser, "send").await;

    let banner = wait_for_text(&browser, "#form-errors", "The draft is saved").await;
    assert!(!banner.contains("Nothing was saved"), "{banner}");
    assert!(banner.contains("Pick at least one team"), "{banner}");
    assert_eq!(text(&browser, "h1").await, "Edit announcement");
    // The banner has the focus, wherever the page was.
    wait_until(
        &browser,
        "document.activeElement === document.getElementById('form-errors')",
        "moving the focus to the problems",
    )
    .await;
    assert_eq!(
        herald.store().announcements(None, 10).await.unwrap().len(),
        1
    );
    // Its link leads to the picker.
    click(&browser, r##"#form-errors a[href="#audience-search"]"##).await;
    assert_eq!(focused_id(&browser).await, "audience-search");
    assert_console_clean(&browser, &herald, "no audience", &["status of 422"]).await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn a_binary_file_picked_as_the_list_is_named_as_such() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    let folder =
        std::env::temp_dir().join(format!("herald-binary-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder).unwrap();
    let picture = folder.join("people.csv");
    // A PNG's signature and header, under a list's name.
    std::fs::write(
        &picture,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x00\x00\x00\x01\x80\x08\x06\x00\x00\x00\xe4\xc8",
    )
    .unwrap();
    wait_for(&browser, "#csv-file")
        .await
        .send_keys(&picture.display().to_string())
        .await
        .unwrap();
    let report = wait_for_text(&browser, "#csv-report", "is not a text CSV file").await;
    assert!(
        report.starts_with("people.csv is not a text CSV file") && report.contains("CSV UTF-8"),
        "{report}"
    );
    assert!(
        !report.contains('\u{fffd}'),
        "no garbled characters: {report}"
    );
    let kept = script(
        &browser,
        "return document.getElementById('csv').value;",
        vec![],
    )
    .await;
    assert_eq!(kept, json!(""), "nothing of it is taken as people");
    std::fs::remove_dir_all(&folder).unwrap();
    assert_console_clean(&browser, &herald, "a binary list", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// What has the focus: its id, or else its accessible label.
async fn focused(browser: &Browser) -> String {
    script(
        browser,
        "const e = document.activeElement; return e.id || e.getAttribute('aria-label') || e.tagName;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// The element with the focus is on screen and not covered by anything
/// (such as the compose form's sticky buttons).
async fn assert_focus_in_sight(browser: &Browser, stop: &str) {
    let hit = script(
        browser,
        "const e = document.activeElement;
         const r = e.getBoundingClientRect();
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
         return hit === null ? 'nothing' : (e.contains(hit) ? 'itself' : hit.outerHTML.slice(0, 120));",
        vec![],
    )
    .await;
    assert_eq!(hit, json!("itself"), "the focus on {stop} is out of sight");
}

#[tokio::test]
async fn the_audience_is_picked_and_removed_from_the_keyboard() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    let group = plain_group(&herald).await;
    let name = group["displayName"].as_str().unwrap();

    // Tab from the top of the page to the picker.
    let mut stops = Vec::new();
    while focused(&browser).await != "audience-search" {
        assert!(
            stops.len() < 60,
            "Tab never reached the audience search; it went {stops:?}"
        );
        press(&browser, &Key::Tab.to_string()).await;
        let stop = focused(&browser).await;
        assert_focus_in_sight(&browser, &stop).await;
        stops.push(stop);
    }
    assert!(
        stops.iter().any(|s| s == "title"),
        "Tab passes the title on its way: {stops:?}"
    );

    // Type, arrow down to the group, Enter.
    let typed = name.split(' ').next().unwrap()[..4].to_lowercase();
    choose_with_keys(&browser, &typed, name).await;
    assert_eq!(focused(&browser).await, "audience-search");
    wait_until(
        &browser,
        "document.getElementById('audience-results').hidden",
        "closing the matches after a pick",
    )
    .await;
    // Enter picked and did not submit the form.
    assert_eq!(
        wait_for_path(&browser, "the compose page", |_| true).await,
        "/drafts/new"
    );

    // Back one stop is the pick's Remove button; Enter removes it.
    press(&browser, &format!("{}{}", Key::Shift, Key::Tab)).await;
    assert_eq!(focused(&browser).await, format!("Remove {name}"));
    press(&browser, &Key::Enter.to_string()).await;
    wait_until(
        &browser,
        "document.querySelectorAll('#picked li').length === 0",
        "without the pick",
    )
    .await;
    assert_eq!(
        focused(&browser).await,
        "audience-search",
        "the focus goes back to the search, not to the page's top"
    );
    let live = script(
        &browser,
        "return document.getElementById('audience-status').textContent;",
        vec![],
    )
    .await;
    assert_eq!(live, json!(format!("{name} removed.")));

    assert_console_clean(&browser, &herald, "the keyboard", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// The picker's matches as shown: each option's label and detail.
async fn shown_matches(browser: &Browser) -> Vec<(String, String)> {
    let found = script(
        browser,
        "return Array.from(document.querySelectorAll('#audience-results [role=option]'))
           .map(o => [o.firstChild.textContent, o.querySelector('small').textContent]);",
        vec![],
    )
    .await;
    serde_json::from_value(found).unwrap()
}

/// Waits until the picker offers `label`; its detail line.
async fn detail_of(browser: &Browser, label: &str) -> String {
    let find = format!(
        "Array.from(document.querySelectorAll('#audience-results [role=option]'))
           .find(o => o.firstChild.textContent === {})",
        json!(label)
    );
    wait_until(browser, &format!("{find} !== undefined"), label).await;
    script(
        browser,
        &format!("return {find}.querySelector('small').textContent;"),
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

#[tokio::test]
async fn the_picker_finds_channels_by_name_and_counts_members() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    let directory = herald.emulator_get("/directory").await;
    let teams: Vec<&serde_json::Value> = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| !g["team"].is_null())
        .collect();
    assert!(teams.len() >= 2, "the directory has teams");

    // "gen": no team or group is named so, but every team has a General
    // channel.
    click(&browser, "#audience-search").await;
    press(&browser, "gen").await;
    results_open(&browser).await;
    let shown = shown_matches(&browser).await;
    for team in &teams {
        let label = format!(
            "{} (General channel)",
            team["displayName"].as_str().unwrap()
        );
        assert!(
            shown.iter().any(|(l, _)| *l == label),
            "{label} in {shown:?}"
        );
    }
    // Another channel, by the start of its name, and picked.
    let team = teams[0];
    let channel = team["team"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["displayName"] != "General")
        .expect("a team with a second channel");
    let name = channel["displayName"].as_str().unwrap();
    let label = format!("{} › {name}", team["displayName"].as_str().unwrap());
    type_into(&browser, "#audience-search", &name[..4].to_lowercase()).await;
    detail_of(&browser, &label).await;
    choose_with_keys(&browser, "", &label).await;
    let picked: Vec<String> = serde_json::from_value(
        script(
            &browser,
            "return Array.from(document.querySelectorAll('#picked input[name=target]')).map(i => i.value);",
            vec![],
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        picked,
        [format!(
            "channel:{}/{}",
            team["id"].as_str().unwrap(),
            channel["id"].as_str().unwrap()
        )]
    );

    // Groups and teams say how many people they have.
    let group = plain_group(&herald).await;
    let group_name = group["displayName"].as_str().unwrap();
    let members = group["memberUserIds"].as_array().unwrap().len();
    type_into(&browser, "#audience-search", &group_name.to_lowercase()).await;
    let detail = detail_of(&browser, group_name).await;
    assert!(
        detail.ends_with(&format!(" · {members} people")),
        "{detail}"
    );
    let team_name = team["displayName"].as_str().unwrap();
    let team_members = team["memberUserIds"].as_array().unwrap().len();
    type_into(&browser, "#audience-search", &team_name.to_lowercase()).await;
    let detail = detail_of(&browser, &format!("{team_name} (each member)")).await;
    assert!(
        detail.ends_with(&format!(" · {team_members} people")),
        "{detail}"
    );

    assert_console_clean(&browser, &herald, "the picker", &[]).await;
    browser.close().await;
    herald.stop().await;
}

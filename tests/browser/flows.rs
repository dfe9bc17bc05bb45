//! An author's day in Chromium: signing in through the account picker,
//! composing with the live preview, picking a group, uploading a list,
//! reviewing, sending, scheduling, and canceling a send that is running.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, emulator_config};

use crate::harness::{
    Browser, DEFAULT_WAIT, click, screenshot, script, text, type_into, wait_for, wait_for_path,
    wait_for_text, wait_until,
};
use crate::site::{
    CsvFile, assert_console_clean, assert_theme, choose_with_keys, id_in, messages_with,
    new_announcement, notification, open, people, picked_targets, plain_group, preview_shows,
    results_open, save_and_review, sign_in, start, upload_csv, use_theme, user_id,
};

const UNKNOWN: &str = "nobody.here@contoso.example";

/// Sets the schedule dialog's date and time to the first whole minute at
/// least 8 s ahead, in the browser's own time zone, and returns that
/// instant. A `datetime-local` field holds whole minutes, and Chromium's
/// date fields take typed digits segment by segment in the order of the
/// machine's locale, so the value is set as a date picker would set it.
async fn schedule_soon(browser: &Browser) -> time::OffsetDateTime {
    let due = script(
        browser,
        r#"
        const at = document.getElementById('schedule-at');
        const due = new Date(Math.ceil((Date.now() + 8000) / 60000) * 60000);
        const pad = (n) => String(n).padStart(2, '0');
        at.value = due.getFullYear() + '-' + pad(due.getMonth() + 1) + '-' + pad(due.getDate()) +
          'T' + pad(due.getHours()) + ':' + pad(due.getMinutes());
        at.dispatchEvent(new Event('input', { bubbles: true }));
        at.dispatchEvent(new Event('change', { bubbles: true }));
        return due.getTime();
        "#,
        vec![],
    )
    .await
    .as_i64()
    .expect("the due time in milliseconds");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(due) * 1_000_000).unwrap()
}

#[tokio::test]
async fn an_author_signs_in_composes_sends_and_schedules() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;

    // Signing in: Herald's page, Microsoft's (the emulator's) account
    // picker, the author's button, and back.
    open(&browser, &herald, "/").await;
    wait_for_path(&browser, "the sign-in page", |p| p.starts_with("/sign-in")).await;
    wait_for_text(&browser, "#sign-in", "Sign in with Microsoft").await;
    screenshot(&browser, "sign-in").await;
    sign_in(&browser, &herald, &staff[1].0).await;
    wait_for_text(&browser, "h1", "Announcements").await;
    assert_eq!(text(&browser, ".who .badge").await, "Author");

    // A schedule first, so that its wait runs while the rest goes on.
    let scheduled_title = "Friday drinks move to the roof";
    let scheduled_people = people(&herald, 10, 2).await;
    new_announcement(&browser).await;
    type_into(&browser, "#title", scheduled_title).await;
    type_into(&browser, "#csv", &scheduled_people.join("\n")).await;
    let scheduled_id = save_and_review(&browser).await;
    wait_for_text(&browser, "#estimate", "About 2 people").await;
    click(&browser, "#open-schedule").await;
    wait_until(
        &browser,
        "document.getElementById('schedule-dialog').open && \
         document.activeElement === document.getElementById('schedule-at')",
        "showing the schedule dialog with the focus in its date field",
    )
    .await;
    screenshot(&browser, "schedule-dialog").await;
    let due = schedule_soon(&browser).await;
    click(&browser, "#schedule-confirm").await;
    let path = wait_for_path(&browser, "the announcement's page", |p| {
        p.starts_with("/announcements/")
    })
    .await;
    assert_eq!(id_in(&path), scheduled_id);
    wait_for_text(&browser, "#status", "Scheduled for").await;
    let stored = herald
        .store()
        .notification(notification(&scheduled_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, NotificationStatus::Scheduled);
    assert_eq!(stored.scheduled_at, Some(due), "the time picked, in UTC");

    // Composing: the preview follows what is typed.
    new_announcement(&browser).await;
    type_into(&browser, "#title", "Office move").await;
    preview_shows(&browser, "Office move").await;
    type_into(
        &browser,
        "#summary",
        "We move on **Monday**. Pack your desk.",
    )
    .await;
    let shown = preview_shows(&browser, "We move on Monday. Pack your desk.").await;
    assert!(
        !shown.contains("**"),
        "the preview renders Markdown: {shown}"
    );
    let title = "Desk move";
    type_into(&browser, "#title", title).await;
    let shown = preview_shows(&browser, title).await;
    assert!(!shown.contains("Office move"), "{shown}");
    type_into(&browser, "#button1_title", "Floor plan").await;
    type_into(&browser, "#button1_url", "https://contoso.example/plan").await;
    preview_shows(&browser, "Floor plan").await;

    // A group, found by part of its name and picked with the keyboard.
    let group = plain_group(&herald).await;
    let name = group["displayName"].as_str().unwrap();
    let first_word = name.split(' ').next().unwrap();
    let typed = format!("{} gro", first_word[..4].to_lowercase());
    click(&browser, "#audience-search").await;
    crate::harness::press(&browser, &typed).await;
    results_open(&browser).await;
    screenshot(&browser, "audience-picker").await;
    choose_with_keys(&browser, "", name).await;
    assert_eq!(
        picked_targets(&browser).await,
        [format!("group:{}", group["id"].as_str().unwrap())]
    );
    // The card's reason line follows the audience.
    preview_shows(&browser, "you are a member of a group it was sent to").await;

    // A list of people with one that is nobody.
    let listed = people(&herald, 0, 3).await;
    let mut rows = listed.clone();
    rows.insert(1, UNKNOWN.to_owned());
    let file = CsvFile::new("people.csv", &rows);
    let report = upload_csv(&browser, &file, UNKNOWN).await;
    assert!(
        report.contains("3 people found in people.csv") && report.contains("1 row matches nobody"),
        "{report}"
    );
    let kept = wait_for(&browser, "#csv")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(listed.join("\n").as_str()));
    // A group and a list: the card gives the general reason.
    preview_shows(&browser, "you are in its audience").await;
    script(&browser, "window.scrollTo(0, 0);", vec![]).await;
    screenshot(&browser, "compose-preview").await;

    // The Dark tab shows the card on Teams' dark theme; Herald's own dark
    // theme is a pick away, without losing what was typed.
    wait_for(&browser, "#theme")
        .await
        .select_by_value("dark")
        .await
        .unwrap();
    assert_theme(&browser, "dark").await;
    click(&browser, "#tab-dark").await;
    wait_until(
        &browser,
        "!document.getElementById('preview-dark').hidden && \
         document.getElementById('preview-light').hidden && \
         document.getElementById('tab-dark').getAttribute('aria-selected') === 'true'",
        "showing the dark preview",
    )
    .await;
    wait_for_text(&browser, "#preview-dark", title).await;
    script(&browser, "window.scrollTo(0, 0);", vec![]).await;
    screenshot(&browser, "compose-preview-dark").await;
    wait_for(&browser, "#theme")
        .await
        .select_by_value("light")
        .await
        .unwrap();
    assert_theme(&browser, "light").await;

    // Review: the audience and how many people it reaches.
    let id = save_and_review(&browser).await;
    assert!(text(&browser, "h1").await.contains(title));
    let audience = text(&browser, ".audience-list").await;
    assert!(
        audience.contains(name) && audience.contains("people.csv (3 people)"),
        "{audience}"
    );
    let members: Vec<String> = group["memberUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let estimate = text(&browser, "#estimate").await;
    assert!(
        estimate.contains(&format!("About {} people", members.len() + listed.len())),
        "{estimate}"
    );

    // Send: everyone in the group and on the list gets it once.
    click(&browser, "#send-now").await;
    wait_for_path(&browser, "the announcement's page", |p| {
        p == format!("/announcements/{id}")
    })
    .await;
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(60))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    let mut everyone: HashSet<String> = members.into_iter().collect();
    for upn in &listed {
        everyone.insert(user_id(&herald, upn).await);
    }
    for user in &everyone {
        assert_eq!(messages_with(&herald, user, title).await, 1, "{user}");
    }
    // The page follows the send by itself.
    wait_for_text(&browser, "#status", "Sent").await;
    assert_eq!(
        text(&browser, "#count-delivered").await,
        everyone.len().to_string()
    );
    screenshot(&browser, "announcement-status").await;

    // The schedule goes out at its time, once.
    let progress = herald
        .wait_until_ended(notification(&scheduled_id), Duration::from_secs(100))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert!(progress.notification.send_started_at.unwrap() >= due);
    for upn in &scheduled_people {
        let user = user_id(&herald, upn).await;
        assert_eq!(messages_with(&herald, &user, scheduled_title).await, 1);
    }
    let all = herald.store().announcements(None, 10).await.unwrap();
    assert_eq!(all.len(), 2, "the schedule made no second notification");

    // The list shows both.
    click(&browser, r#"nav a[href="/"]"#).await;
    wait_for_text(&browser, "table.list", scheduled_title).await;
    let list = wait_for_text(&browser, "table.list", title).await;
    let sent = script(
        &browser,
        "return document.querySelectorAll('table.list tbody .status-sent').length;",
        vec![],
    )
    .await;
    assert_eq!(sent, 2, "{list}");
    screenshot(&browser, "announcements").await;

    assert_console_clean(&browser, &herald, "composing and sending", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// The colour of the card's separator line in a preview pane, as drawn.
async fn separator_colour(browser: &Browser, pane: &str) -> String {
    // Separators that only space elements apart draw no line; their
    // border colour is the text's, so only drawn lines count.
    let lines = format!(
        "Array.from(document.querySelectorAll('#{pane} .ac-horizontal-separator'))
           .map(e => getComputedStyle(e))
           .filter(s => s.borderBottomStyle !== 'none' && parseFloat(s.borderBottomWidth) > 0)"
    );
    wait_until(browser, &format!("{lines}.length > 0"), "a separator line").await;
    script(
        browser,
        &format!("return {lines}[0].borderBottomColor;"),
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

/// Whether the preview shows the tab `name` (`light` or `dark`) alone.
fn shows_tab(name: &str) -> String {
    let other = if name == "dark" { "light" } else { "dark" };
    format!(
        "document.getElementById('tab-{name}').getAttribute('aria-selected') === 'true' && \
         !document.getElementById('preview-{name}').hidden && \
         document.getElementById('preview-{other}').hidden"
    )
}

#[tokio::test]
async fn the_review_page_shows_the_card_in_the_page_theme() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    use_theme(&browser, "dark").await;

    // The compose page opens its preview on the Dark tab, and the card's
    // separator is a dark theme's line, not a white one.
    new_announcement(&browser).await;
    wait_until(&browser, &shows_tab("dark"), "opening on the Dark tab").await;
    type_into(&browser, "#title", "Lift maintenance").await;
    type_into(&browser, "#summary", "The east lift stops on **Tuesday**.").await;
    let person = people(&herald, 0, 1).await;
    type_into(&browser, "#csv", &person[0]).await;
    wait_for_text(&browser, "#preview-dark", "Lift maintenance").await;
    let line = separator_colour(&browser, "preview-dark").await;
    assert!(
        dark_colour(&line),
        "the dark card's separator is {line}, not a dark theme's line"
    );
    // The preview follows the page's theme when it changes.
    wait_for(&browser, "#theme")
        .await
        .select_by_value("light")
        .await
        .unwrap();
    assert_theme(&browser, "light").await;
    wait_until(&browser, &shows_tab("light"), "following the light theme").await;
    wait_for(&browser, "#theme")
        .await
        .select_by_value("dark")
        .await
        .unwrap();
    assert_theme(&browser, "dark").await;
    wait_until(&browser, &shows_tab("dark"), "following the dark theme").await;

    // The review page: the card itself, in the page's theme, one person
    // said as one, and no note about counting people twice.
    save_and_review(&browser).await;
    wait_until(&browser, &shows_tab("dark"), "opening on the Dark tab").await;
    let card = wait_for_text(&browser, "#preview-dark", "Lift maintenance").await;
    assert!(card.contains("The east lift stops on Tuesday."), "{card}");
    assert!(
        dark_colour(&separator_colour(&browser, "preview-dark").await),
        "the review page's dark card"
    );
    let estimate = text(&browser, "#estimate").await;
    assert!(estimate.starts_with("About 1 person."), "{estimate}");
    assert!(
        text(&browser, ".audience-list")
            .await
            .contains("(1 person)"),
        "the list's label"
    );
    let page = text(&browser, "main").await;
    assert!(!page.contains("counted for each"), "{page}");
    assert!(!page.contains("1 people"), "{page}");
    click(&browser, "#tab-light").await;
    wait_for_text(&browser, "#preview-light", "Lift maintenance").await;
    screenshot(&browser, "review-send").await;

    assert_console_clean(&browser, &herald, "the review page", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// `rgb(r, g, b)` with every channel under the middle: a line for a dark
/// background.
fn dark_colour(css: &str) -> bool {
    let channels: Vec<u32> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    channels.len() == 3 && channels.iter().all(|&c| c < 128)
}

#[tokio::test]
async fn a_running_send_is_canceled_from_its_page() {
    let mut config = emulator_config(300);
    config.behaviour.global_rps = 10;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 10.0).await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;

    new_announcement(&browser).await;
    type_into(&browser, "#title", "Slow and long").await;
    let listed = people(&herald, 0, 200).await;
    let file = CsvFile::new("everyone-here.csv", &listed);
    upload_csv(&browser, &file, "200 people found").await;
    let id = save_and_review(&browser).await;
    wait_for_text(&browser, "#estimate", "About 200 people").await;
    click(&browser, "#send-now").await;
    wait_for_path(&browser, "the announcement's page", |p| {
        p == format!("/announcements/{id}")
    })
    .await;
    wait_for_text(&browser, "#cancel", "Cancel send").await;
    // The page follows the send in place: the count grows, no reload.
    script(&browser, "window.stillThisPage = true;", vec![]).await;
    let before: u64 = text(&browser, "#total").await.parse().unwrap();
    herald
        .wait_for(notification(&id), Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 5
        })
        .await;
    wait_until(
        &browser,
        &format!(
            "window.stillThisPage === true && \
             Number((document.getElementById('count-delivered') || {{}}).textContent) > {before}"
        ),
        "counting deliveries as they happen",
    )
    .await;
    // Cards are arriving: the badge says so, whatever is still resolving.
    wait_for_text(&browser, "#status", "Sending").await;

    // Cancel, and say yes when asked.
    click(&browser, "#cancel").await;
    let asked = alert_text(&browser).await;
    assert!(asked.contains("Stop sending?"), "{asked}");
    browser.accept_alert().await.unwrap();
    wait_for_text(&browser, "#status", "Canceled").await;
    let progress = herald
        .wait_until_ended(notification(&id), Duration::from_secs(10))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Canceled);
    assert!(
        progress.count(DeliveryStatus::Canceled) > 100,
        "{progress:?}"
    );
    // The page says what happened and who did it; the bar shows who got it.
    let name = herald
        .directory_users()
        .await
        .iter()
        .find(|u| u["userPrincipalName"] == staff[1].0)
        .unwrap()["displayName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        progress.notification.canceled_by.as_deref(),
        Some(name.as_str())
    );
    // Posts already on the wire when it was canceled may still land as
    // delivered: the page follows until it shows what the database holds.
    let deadline = Instant::now() + DEFAULT_WAIT;
    let (progress, sentence) = loop {
        let progress = herald.progress(notification(&id)).await;
        let said = format!(
            "by {name}: {} got it, {} did not.",
            progress.count(DeliveryStatus::Delivered),
            progress.count(DeliveryStatus::Canceled)
        );
        let shown = text(&browser, "#ended").await;
        if shown.ends_with(&said) {
            break (progress, shown);
        }
        assert!(
            Instant::now() < deadline,
            "the page says {shown:?}, not {said:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(sentence.starts_with("Canceled at "), "{sentence}");
    let delivered = progress.count(DeliveryStatus::Delivered);
    let bar = script(
        &browser,
        "const bar = document.getElementById('progress-bar');
         return [bar.value, bar.getAttribute('aria-valuetext'),
                 document.getElementById('done-text').hidden];",
        vec![],
    )
    .await;
    let percent = delivered * 100 / progress.total();
    assert_eq!(
        bar,
        serde_json::json!([
            percent,
            format!(
                "{percent} % delivered: {delivered} of {} recipients got it",
                progress.total()
            ),
            true
        ])
    );
    assert!(
        browser
            .find(fantoccini::Locator::Css("#cancel"))
            .await
            .is_err(),
        "nothing left to cancel"
    );
    open(&browser, &herald, "/").await;
    wait_for_text(&browser, "table.list", "Canceled").await;

    assert_console_clean(&browser, &herald, "canceling", &[]).await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn a_scheduled_announcement_shows_its_card_and_is_edited_off_the_schedule() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;

    let title = "Canteen closes early on Friday";
    let listed = people(&herald, 0, 2).await;
    new_announcement(&browser).await;
    type_into(&browser, "#title", title).await;
    type_into(&browser, "#summary", "Lunch ends at **13:00**.").await;
    type_into(&browser, "#csv", &listed.join("\n")).await;
    let id = save_and_review(&browser).await;
    click(&browser, "#open-schedule").await;
    // Tomorrow at this time: far enough that it never fires in the test.
    script(
        &browser,
        r#"
        const at = document.getElementById('schedule-at');
        const due = new Date(Date.now() + 86400000);
        const pad = (n) => String(n).padStart(2, '0');
        at.value = due.getFullYear() + '-' + pad(due.getMonth() + 1) + '-' + pad(due.getDate()) +
          'T' + pad(due.getHours()) + ':' + pad(due.getMinutes());
        "#,
        vec![],
    )
    .await;
    click(&browser, "#schedule-confirm").await;
    wait_for_path(&browser, "the announcement's page", |p| {
        p == format!("/announcements/{id}")
    })
    .await;

    // What goes out, to whom and when; no empty report.
    wait_for_text(&browser, "#status", "Scheduled for").await;
    wait_for_text(&browser, "#scheduled-for", "Goes out on").await;
    let audience = text(&browser, "#audience").await;
    assert!(audience.contains("2 people"), "{audience}");
    let card = preview_shows(&browser, title).await;
    assert!(card.contains("Lunch ends at 13:00."), "{card}");
    for empty_report in ["#progress-bar", "#recipients-link", "#chart"] {
        assert!(
            browser
                .find(fantoccini::Locator::Css(empty_report))
                .await
                .is_err(),
            "{empty_report} on a schedule's page"
        );
    }
    crate::harness::assert_accessible(&browser, "a scheduled announcement").await;

    // Edit: asked first, then off the schedule and in the editor.
    click(&browser, "#edit").await;
    let asked = alert_text(&browser).await;
    assert_eq!(
        asked,
        "Editing takes it off the schedule; schedule it again when you are done."
    );
    browser.accept_alert().await.unwrap();
    wait_for_path(&browser, "the editor", |p| {
        p == format!("/drafts/{id}?done=unscheduled")
    })
    .await;
    wait_for_text(&browser, ".notice", "Schedule it again when you are done").await;
    let stored = herald
        .store()
        .notification(notification(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.scheduled_at),
        (NotificationStatus::Draft, None)
    );
    assert_eq!(herald.emulator_stats().await["activities_received"], 0);

    assert_console_clean(&browser, &herald, "a schedule's page", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// The text of the `window.confirm` (or alert) shown, once it shows.
pub async fn alert_text(browser: &Browser) -> String {
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        if let Ok(asked) = browser.get_alert_text().await {
            return asked;
        }
        assert!(Instant::now() < deadline, "no dialog asked anything");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Pages written for the person reading them: times in their own time
//! zone with the zone named, numbers with their locale's separators, and
//! every page usable on a phone (390 px wide, as Teams mobile shows tabs).

use std::time::Duration;

use herald_domain::NotificationStatus;
use herald_testkit::{TestHerald, emulator_config};
use time::{OffsetDateTime, UtcOffset};

use crate::harness::{
    Browser, click, press, screenshot, script, text, type_into, wait_for, wait_for_text,
};
use crate::site::{
    choose_with_keys, id_in, new_announcement, notification, open, people, save_and_review, sign_in,
};

/// India has no summer time, so the expected offset holds all year.
const ZONE: &str = "Asia/Kolkata";
const OFFSET_MINUTES: i16 = 5 * 60 + 30;

fn in_kolkata(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::from_hms(5, 30, 0).unwrap())
}

/// "13:10" for an instant, as the pages write it in India.
fn clock(at: OffsetDateTime) -> String {
    let at = in_kolkata(at);
    format!("{:02}:{:02}", at.hour(), at.minute())
}

#[tokio::test]
async fn times_and_numbers_are_written_for_the_viewer() {
    // More than a thousand people, so the estimate needs a separator.
    let mut config = emulator_config(1_234);
    config.directory.groups = 2;
    config.directory.teams = 1;
    let herald = TestHerald::start(config, |_| {}).await;
    let browser = Browser::start_as(Some(ZONE), Some("de-DE")).await;
    let admin = herald.staff().await.remove(0).0;
    sign_in(&browser, &herald, &admin).await;
    // Chromium's ICU still names India's zone by its old alias.
    let kept = script(
        &browser,
        "return document.documentElement.dataset.zone;",
        vec![],
    )
    .await;
    assert!(
        kept == ZONE || kept == "Asia/Calcutta",
        "the browser's zone is not what the server writes in: {kept}"
    );
    assert_eq!(
        script(&browser, "return new Date().getTimezoneOffset();", vec![]).await,
        -i64::from(OFFSET_MINUTES),
        "the browser runs in India"
    );

    // Everyone: "Etwa 1.2xx" people, grouped the German way.
    new_announcement(&browser).await;
    type_into(&browser, "#title", "Kantine am Freitag geschlossen").await;
    click(&browser, "#audience-search").await;
    choose_with_keys(&browser, "every", "Everyone").await;
    save_and_review(&browser).await;
    let estimate = text(&browser, "#estimate").await;
    let people_shown = estimate
        .split_whitespace()
        .find(|word| word.starts_with("1."))
        .unwrap_or_else(|| panic!("no grouped count of people in {estimate:?}"));
    assert!(
        people_shown.len() == 5 && people_shown[2..].chars().all(|c| c.is_ascii_digit()),
        "{people_shown:?} is not written 1.xxx"
    );

    // A small send, to read its times.
    new_announcement(&browser).await;
    type_into(&browser, "#title", "Three people").await;
    type_into(&browser, "#csv", &people(&herald, 3, 3).await.join("\n")).await;
    save_and_review(&browser).await;
    click(&browser, "#send-now").await;
    let path = crate::harness::wait_for_path(&browser, "the status page", |p| {
        p.starts_with("/announcements/")
    })
    .await;
    let id = notification(&id_in(&path));
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    browser.refresh().await.unwrap();
    wait_for(&browser, "#chart path.line-delivered").await;
    let started = progress.notification.send_started_at.unwrap();
    let facts = text(&browser, "dl.facts").await;
    assert!(
        facts.contains(&clock(started)) && facts.contains("IST"),
        "the start is not shown in India's time ({}) in {facts:?}",
        clock(started)
    );
    assert!(!facts.contains("UTC"), "{facts:?} still speaks UTC");
    // The chart's axis: the live updates rewrite it in the reader's zone too.
    let axis = script(
        &browser,
        "return Array.from(document.querySelectorAll('#chart [data-at]')).map(e => [e.getAttribute('data-at'), e.textContent]);",
        vec![],
    )
    .await;
    for pair in axis.as_array().unwrap() {
        let at = OffsetDateTime::parse(
            pair[0].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(
            pair[1].as_str().unwrap().starts_with(&clock(at)),
            "axis label {pair} is not in India's time"
        );
    }
    assert_eq!(text(&browser, "#chart [data-zone-label]").await, "IST");

    // The recipients' delivery times.
    click(&browser, "#recipients-link").await;
    wait_for(&browser, "#recipients tbody tr").await;
    let table = text(&browser, "#recipients tbody").await;
    assert!(table.contains("IST") && !table.contains("UTC"), "{table:?}");

    // The list of announcements.
    open(&browser, &herald, "/").await;
    wait_for(&browser, "table.list tbody tr").await;
    let list = text(&browser, "table.list tbody").await;
    assert!(list.contains("IST") && !list.contains("UTC"), "{list:?}");

    // Shares with a decimal comma: all three were reached.
    open(&browser, &herald, "/admin/overview").await;
    assert_eq!(wait_for_text(&browser, "#reach", "%").await, "100,0 %");
    browser.close().await;
    herald.stop().await;
}

/// Phone width as Teams mobile shows a tab.
const PHONE: (u32, u32) = (390, 844);

#[tokio::test]
async fn the_header_folds_into_a_menu_on_a_phone() {
    let herald = crate::site::start().await;
    let browser = Browser::start().await;
    let admin = herald.staff().await.remove(0).0;
    sign_in(&browser, &herald, &admin).await;
    browser.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    browser.refresh().await.unwrap();
    wait_for(&browser, "#menu-toggle").await;
    let visible = |css: &'static str| {
        let browser = &browser;
        async move {
            script(
                browser,
                "const e = document.querySelector(arguments[0]); const r = e.getBoundingClientRect();
                 return e.offsetParent !== null && r.right <= window.innerWidth && r.left >= 0;",
                vec![css.into()],
            )
            .await
            .as_bool()
            .unwrap()
        }
    };
    assert!(
        !visible("#sign-out").await,
        "Sign out shows before the menu is opened"
    );
    click(&browser, "#menu-toggle").await;
    assert_eq!(
        script(
            &browser,
            "return document.getElementById('menu-toggle').getAttribute('aria-expanded');",
            vec![]
        )
        .await,
        "true"
    );
    assert!(
        visible("#sign-out").await,
        "Sign out is off screen in the open menu"
    );
    assert!(visible(r#"nav a[href="/admin/staff"]"#).await);
    screenshot(&browser, "phone-menu").await;
    press(&browser, &fantoccini::key::Key::Escape.to_string()).await;
    assert!(!visible("#sign-out").await, "Escape leaves the menu open");
    assert_eq!(
        script(&browser, "return document.activeElement.id;", vec![]).await,
        "menu-toggle",
        "focus goes back to the menu button"
    );
    // The menu leads somewhere.
    click(&browser, "#menu-toggle").await;
    click(&browser, r#"nav a[href="/admin/staff"]"#).await;
    wait_for_text(&browser, "h1", "Signed-in staff").await;
    browser.close().await;
    herald.stop().await;
}

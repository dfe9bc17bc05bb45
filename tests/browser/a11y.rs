//! Every page of the staff UI, in every state a person meets it (the
//! delivery reports too: status, recipients, overview), checked with
//! axe-core in the light, dark and high-contrast themes, at a desktop's
//! width and a phone's (390 px): no serious or critical violation
//! anywhere, and no page wider than a phone's screen.

use std::time::Duration;

use herald_domain::NotificationStatus;

use crate::harness::{
    Browser, assert_accessible, click, press, script, type_into, wait_for, wait_for_path,
    wait_for_text, wait_until,
};
use crate::site::{
    assert_console_clean, assert_theme, id_in, new_announcement, notification, open, people,
    press_action, preview_shows, results_open, save_and_review, sign_in, sign_in_typed, start,
    use_theme,
};

/// The page shown, drawn in `theme`, has no serious accessibility problem
/// at a desktop's width, nor at a phone's (as Teams mobile shows a tab),
/// where nothing may make it scroll sideways either.
pub async fn check(browser: &Browser, theme: &str, page: &str) {
    assert_theme(browser, theme).await;
    assert_accessible(browser, &format!("{page} ({theme} theme)")).await;
    browser.set_window_size(390, 844).await.unwrap();
    wait_until(browser, "window.innerWidth <= 400", "a phone-wide window").await;
    assert_fits(browser, &format!("{page} ({theme} theme)")).await;
    assert_accessible(browser, &format!("{page} ({theme} theme, 390 px)")).await;
    browser.set_window_size(1280, 900).await.unwrap();
    wait_until(
        browser,
        "window.innerWidth >= 1200",
        "a desktop-wide window",
    )
    .await;
}

/// No sideways scrolling: the page is no wider than the window, and the
/// elements that stick out are named when it is.
pub async fn assert_fits(browser: &Browser, page: &str) {
    let found = script(
        browser,
        "const width = window.innerWidth;
         const wide = document.documentElement.scrollWidth;
         const out = Array.from(document.body.querySelectorAll('*'))
           .filter(e => e.getBoundingClientRect().right > width + 0.5 && (e.parentElement === null || e.parentElement.closest('.table-scroll, .card-frame') === null))
           .slice(0, 5)
           .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right));
         return [wide, width, out];",
        vec![],
    )
    .await;
    let (wide, width) = (found[0].as_u64().unwrap(), found[1].as_u64().unwrap());
    assert!(
        wide <= width,
        "{page} is {wide} px wide in a {width} px window; sticking out: {}",
        found[2]
    );
}

#[tokio::test]
async fn every_page_is_accessible_in_every_theme() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    let (admin, quiet_author) = (&staff[0].0, &staff[2].0);
    let outsider = people(&herald, 20, 1).await.remove(0);
    let listed = people(&herald, 0, 1).await.remove(0);

    for theme in ["light", "dark", "contrast"] {
        open(&browser, &herald, "/sign-in").await;
        wait_for(&browser, "#sign-in").await;
        use_theme(&browser, theme).await;
        check(&browser, theme, "sign-in").await;

        // Signed in, but without a role: their own page, where nothing
        // has reached them yet, and a staff page refused.
        sign_in_typed(&browser, &herald, &outsider).await;
        wait_for_text(&browser, "h1", "Announcements for you").await;
        check(&browser, theme, "announcements for you, none yet").await;
        open(&browser, &herald, "/drafts/new").await;
        wait_for_text(&browser, "h1", "You don't have access").await;
        check(&browser, theme, "no-role page").await;

        // An author who has composed nothing yet.
        sign_in(&browser, &herald, quiet_author).await;
        wait_for(&browser, ".empty").await;
        check(&browser, theme, "announcements, empty").await;

        // The admin: the staff page, then composing.
        sign_in(&browser, &herald, admin).await;
        click(&browser, r#"nav a[href="/admin/staff"]"#).await;
        wait_for_text(&browser, "h1", "Signed-in staff").await;
        check(&browser, theme, "admin staff page").await;

        new_announcement(&browser).await;
        wait_for_text(&browser, "#preview-status", "The preview appears").await;
        check(&browser, theme, "compose, empty").await;

        press_action(&browser, "save").await;
        wait_for(&browser, "#form-errors").await;
        wait_for_text(&browser, "#title-error", "empty").await;
        check(&browser, theme, "compose with errors").await;

        type_into(&browser, "#title", "Canteen closed on Friday").await;
        type_into(&browser, "#button1_title", "Menu").await;
        type_into(&browser, "#button1_url", "https://contoso.example/menu").await;
        // Typed last, so the preview showing it shows everything.
        type_into(
            &browser,
            "#summary",
            "Lunch is in the **atrium**.\n\n- Soup\n- [Menu](https://contoso.example/menu)",
        )
        .await;
        preview_shows(&browser, "atrium").await;
        check(&browser, theme, "compose with preview").await;

        click(&browser, "#audience-search").await;
        press(&browser, "gro").await;
        results_open(&browser).await;
        check(&browser, theme, "compose with the picker's matches open").await;
        press(&browser, &fantoccini::key::Key::Escape.to_string()).await;

        type_into(&browser, "#csv", &listed).await;
        save_and_review(&browser).await;
        check(&browser, theme, "confirm page").await;

        click(&browser, "#open-schedule").await;
        wait_until(
            &browser,
            "document.getElementById('schedule-dialog').open",
            "showing the schedule dialog",
        )
        .await;
        check(&browser, theme, "schedule dialog").await;

        // An hour ahead, as the dialog suggests.
        click(&browser, "#schedule-confirm").await;
        wait_for_path(&browser, "the announcement's page", |p| {
            p.starts_with("/announcements/")
        })
        .await;
        wait_for_text(&browser, "#status", "Scheduled for").await;
        check(&browser, theme, "announcement status, scheduled").await;

        // A copy of it, sent now.
        click(&browser, r#"form[action$="/duplicate"] button"#).await;
        wait_for_path(&browser, "the copy", |p| p.ends_with("?done=duplicated")).await;
        save_and_review(&browser).await;
        click(&browser, "#send-now").await;
        let path = wait_for_path(&browser, "the announcement's page", |p| {
            p.starts_with("/announcements/")
        })
        .await;
        let progress = herald
            .wait_until_ended(notification(&id_in(&path)), Duration::from_secs(30))
            .await;
        assert_eq!(progress.notification.status, NotificationStatus::Sent);
        browser.refresh().await.unwrap();
        wait_for_text(&browser, "#status", "Sent").await;
        wait_for(&browser, "#chart path.line-delivered").await;
        check(&browser, theme, "announcement status, sent").await;

        // Editing what went out: the form, the review, the page after.
        click(&browser, "#edit-sent").await;
        wait_for(&browser, "#sent-audience").await;
        check(&browser, theme, "edit of a sent announcement").await;
        type_into(&browser, "#title", "Canteen closed on Thursday").await;
        click(&browser, "#review-update").await;
        wait_until(
            &browser,
            "document.getElementById('compare') !== null && \
             document.getElementById('compare').getAttribute('data-preview') === 'ready'",
            "both cards drawn",
        )
        .await;
        check(&browser, theme, "review of an edit").await;
        click(&browser, "#update-everyone").await;
        wait_for(&browser, "#change-bar").await;
        check(&browser, theme, "announcement status, edited").await;

        // Its per-recipient table, by a status chip, and a filter that
        // matches no one.
        click(&browser, "#recipients-link").await;
        wait_for(&browser, "#recipients tbody tr").await;
        check(&browser, theme, "recipients").await;
        click(&browser, r#"ul.chips a[href$="status=delivered"]"#).await;
        wait_for(&browser, r#"ul.chips a[aria-current="true"]"#).await;
        wait_for(&browser, "#recipients tbody tr").await;
        check(&browser, theme, "recipients, filtered by a chip").await;
        let id = id_in(&path);
        open(
            &browser,
            &herald,
            &format!("/announcements/{id}/recipients?status=blocked&q=nobody"),
        )
        .await;
        wait_for_text(&browser, ".empty h2", "No recipient matches").await;
        check(&browser, theme, "recipients, none match").await;

        click(&browser, r#"nav a[href="/admin/overview"]"#).await;
        wait_for(&browser, "#days-chart").await;
        check(&browser, theme, "admin overview").await;

        click(&browser, r#"nav a[href="/"]"#).await;
        wait_for(&browser, "table.list tbody tr").await;
        check(&browser, theme, "announcements, with rows").await;

        open(
            &browser,
            &herald,
            "/announcements/00000000-0000-0000-0000-000000000000",
        )
        .await;
        wait_for_text(&browser, "h1", "Not found").await;
        check(&browser, theme, "error page").await;
    }

    assert_console_clean(
        &browser,
        &herald,
        "the pages",
        // The refused save, the no-role page and the error page.
        &["status of 422", "status of 403", "status of 404"],
    )
    .await;
    browser.close().await;
    herald.stop().await;
}

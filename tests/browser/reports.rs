//! Delivery reports in Chromium: a 5,000-recipient send followed live to
//! the end on its status page, read receipts and acknowledgements arriving
//! while the page is open, the per-recipient table filtered to the people
//! who blocked Herald, the CSV export against the database, and the admin
//! overview after two sends.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::{
    Browser, assert_accessible, click, screenshot, script, text, type_into, wait_for,
    wait_for_path, wait_for_text, wait_until, wait_until_within,
};
use crate::site::{assert_console_clean, open, sign_in, use_theme};

/// The big send's audience, and the pace the emulator allows it (Herald
/// keeps to the same): 5,000 deliveries take about 17 s.
const BIG_AUDIENCE: usize = 5_000;
const BIG_RATE: u32 = 300;

/// The CSV export's first line.
const CSV_HEADER: &str = "name,upn,kind,status,reason,error_code,attempts,delivered_at,read_at,acknowledged_at,version,change,change_reason";

/// The status page's progress as shown: bar value, `#percent`, `#read`.
const SHOWN: &str = "(() => { \
    const bar = document.getElementById('progress-bar'); \
    const read = document.getElementById('read'); \
    return { \
      still: window.stillThisPage === true, \
      value: bar ? bar.value : null, \
      percent: (document.getElementById('percent') || {}).textContent, \
      read: read ? Number(read.textContent.replace(/\\D/g, '')) : null, \
    }; })()";

#[tokio::test]
async fn a_big_send_is_followed_live_to_the_end_without_a_reload() {
    let mut config = emulator_config(BIG_AUDIENCE + 3);
    config.behaviour.global_rps = BIG_RATE;
    // Directory look-ups are not what this measures.
    config.behaviour.graph_limits = false;
    let herald = TestHerald::start(config, |s| {
        s.send.rate_per_second = f64::from(BIG_RATE);
    })
    .await;
    // Some people read soon after delivery, so the chart's read line
    // climbs while the send runs (a few: receipts are work for Herald too).
    herald
        .configure_emulator(json!({"reads": {
            "enabled": true, "never_share": 0.8, "median_delay_ms": 1500, "spread": 0.5
        }}))
        .await;
    let staff = herald.staff().await;
    let staff_ids: HashSet<&str> = staff.iter().map(|(_, id)| id.as_str()).collect();
    // Herald knows everyone's chat already, as after a first send.
    let everyone = herald_testkit::seed_known_conversations(
        herald.store(),
        &herald.emulator.urls,
        BIG_AUDIENCE + 3,
    )
    .await
    .unwrap();
    let people: Vec<String> = everyone
        .into_iter()
        .filter(|id| !staff_ids.contains(id.as_str()))
        .collect();
    assert_eq!(people.len(), BIG_AUDIENCE);

    let browser = Browser::start().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    let started = Instant::now();
    let id = herald
        .send_to(&content("Everyone: the new expense tool"), &people)
        .await
        .unwrap();
    open(&browser, &herald, &format!("/announcements/{id}")).await;
    wait_for(&browser, "#progress-bar").await;
    script(&browser, "window.stillThisPage = true;", vec![]).await;
    let first = script(&browser, &format!("return {SHOWN};"), vec![]).await;
    assert!(
        first["value"].as_f64().unwrap() < 100.0,
        "the page opened after the send had ended, so it shows nothing live: {first}"
    );

    // Mid-send: the bar partly filled, a rate, time left, reads coming in.
    wait_until_within(
        &browser,
        "window.stillThisPage === true && \
         document.getElementById('progress-bar').value >= 25 && \
         document.getElementById('progress-bar').value <= 85 && \
         Number(document.getElementById('read').textContent.replace(/\\D/g, '')) > 0 && \
         document.getElementById('time-left').textContent.includes('left') && \
         parseFloat(document.getElementById('rate').textContent) > 0 && \
         document.querySelector('#chart path.line-read') !== null",
        "showing the send half-way, with its rate, the time left and some reads",
        Duration::from_secs(60),
    )
    .await;
    script(&browser, "window.scrollTo(0, 0);", vec![]).await;
    screenshot(&browser, "status-mid-send").await;

    // The end, on the same page: 100 % only once every recipient is done.
    wait_until_within(
        &browser,
        "window.stillThisPage === true && \
         document.getElementById('progress-bar').value === 100 && \
         document.getElementById('percent').textContent.trim() === '100 %'",
        "showing the send at 100 %, live",
        Duration::from_secs(90),
    )
    .await;
    eprintln!(
        "{BIG_AUDIENCE} recipients at 100 % on the page after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let progress = herald.wait_until_ended(id, Duration::from_secs(10)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        BIG_AUDIENCE as i64
    );
    // Written for the browser's en-US: 5,000.
    let all = "5,000".to_owned();
    assert_eq!(BIG_AUDIENCE, 5_000);
    assert_eq!(text(&browser, "#finished").await, all);
    assert_eq!(text(&browser, "#total").await, all);
    assert_eq!(text(&browser, "#delivered").await, all);
    assert_eq!(text(&browser, "#count-delivered").await, all);
    wait_for_text(&browser, "#status", "Sent").await;
    let bar = script(
        &browser,
        "const bar = document.getElementById('progress-bar'); \
         return [bar.max, bar.getAttribute('aria-valuetext')];",
        vec![],
    )
    .await;
    assert_eq!(
        bar,
        json!([100, format!("100 %: {all} of {all} recipients done")])
    );
    let last = script(&browser, &format!("return {SHOWN};"), vec![]).await;
    assert_eq!(last["still"], true, "the page was reloaded: {last}");
    // Done: no rate, nothing left, and no acknowledgement key, since none
    // was asked.
    let finished = script(
        &browser,
        "return [document.getElementById('pace').hidden,
                 document.getElementById('time-left').textContent.trim(),
                 document.querySelector('.legend .key-acknowledged') === null,
                 document.querySelector('#chart path.line-acknowledged') === null];",
        vec![],
    )
    .await;
    assert_eq!(finished, json!([true, "", true, true]));

    assert_console_clean(&browser, &herald, "the big send's status page", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// The page shown has no serious accessibility problem in any theme; it
/// ends in the light one.
async fn accessible_in_every_theme(browser: &Browser, page: &str) {
    for theme in ["dark", "contrast", "light"] {
        use_theme(browser, theme).await;
        assert_accessible(browser, &format!("{page} ({theme} theme)")).await;
    }
}

/// What the emulator's directory says becomes of a person (as
/// tests/pipeline/delivery.rs reads it).
fn expected(user: &Value) -> DeliveryStatus {
    if user["userType"] == "Guest" || user["accountEnabled"] == false {
        DeliveryStatus::Skipped
    } else if user["departing"] == true {
        DeliveryStatus::Gone
    } else if user["blockedBot"] == true {
        DeliveryStatus::Blocked
    } else {
        DeliveryStatus::Delivered
    }
}

fn upn(user: &Value) -> String {
    user["userPrincipalName"].as_str().unwrap().to_owned()
}

fn user_id(user: &Value) -> &str {
    user["id"].as_str().unwrap()
}

/// `POST /_emulator/users/{id}/{action}` with `body`: the person reads
/// their chat, or presses a card's button.
async fn emulator_post(herald: &TestHerald, user: &str, action: &str, body: Value) -> Value {
    let url = format!("{}/users/{user}/{action}", herald.emulator.urls.control);
    let mut request = herald.http.post(url);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{action} by {user}");
    response.json().await.unwrap()
}

/// The rows of the per-recipient table shown, cell texts by column.
async fn table_rows(browser: &Browser) -> Vec<Vec<String>> {
    let rows = script(
        browser,
        "return Array.from(document.querySelectorAll('#recipients tbody tr'))
           .map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim()));",
        vec![],
    )
    .await;
    serde_json::from_value(rows).unwrap()
}

/// Waits until the recipients page for `query` has loaded.
async fn recipients_page(browser: &Browser, query: &str) {
    wait_for_path(
        browser,
        &format!("the recipients filtered by {query}"),
        |p| p.contains("/recipients") && p.contains(query),
    )
    .await;
    wait_until(
        browser,
        "document.readyState === 'complete' && \
         document.querySelector('#recipients, .panel.empty') !== null",
        "showing the recipients",
    )
    .await;
}

/// A download fetched from within the page, as its link would get it:
/// the same session, the bytes as sent (a byte order mark kept).
struct Download {
    status: u64,
    content_type: String,
    disposition: String,
    text: String,
}

async fn download(browser: &Browser, path: &str) -> Download {
    let answer = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { credentials: 'same-origin' })
               .then((r) => r.arrayBuffer().then((body) => done({
                 status: r.status,
                 type: r.headers.get('content-type'),
                 disposition: r.headers.get('content-disposition'),
                 text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(body),
               })))
               .catch((error) => done({ error: String(error) }));",
            vec![json!(path)],
        )
        .await
        .unwrap_or_else(|e| panic!("cannot fetch {path} in the page: {e}"));
    assert!(answer.get("error").is_none(), "fetching {path}: {answer}");
    Download {
        status: answer["status"].as_u64().unwrap(),
        content_type: answer["type"].as_str().unwrap_or_default().to_owned(),
        disposition: answer["disposition"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        text: answer["text"].as_str().unwrap().to_owned(),
    }
}

/// The records of a CSV text, the header row too.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// A recipient's row, as the database holds it.
#[derive(Debug, PartialEq)]
struct Stored {
    name: String,
    kind: String,
    status: String,
    error_code: String,
    attempts: i32,
    delivered_at: Option<OffsetDateTime>,
    read_at: Option<OffsetDateTime>,
    acknowledged: bool,
}

/// Every recipient of an announcement straight from the tables, by UPN.
async fn stored_rows(herald: &TestHerald, id: NotificationId) -> BTreeMap<String, Stored> {
    let mut db = sqlx::PgConnection::connect(herald.settings.database.url.expose_secret())
        .await
        .unwrap();
    let rows = sqlx::query(
        "select r.user_principal_name, r.display_name, r.kind, d.status, d.error_code, \
                d.attempts, d.delivered_at, d.read_at, \
                exists (select 1 from acknowledgements a where a.notification_id = d.notification_id \
                        and a.recipient_id = d.recipient_id) as acknowledged \
         from deliveries d join recipients r on r.id = d.recipient_id \
         where d.notification_id = $1",
    )
    .bind(id.0)
    .fetch_all(&mut db)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.get::<String, _>("user_principal_name"),
                Stored {
                    name: row
                        .get::<Option<String>, _>("display_name")
                        .unwrap_or_default(),
                    kind: row.get("kind"),
                    status: row.get("status"),
                    error_code: row
                        .get::<Option<String>, _>("error_code")
                        .unwrap_or_default(),
                    attempts: row.get("attempts"),
                    delivered_at: row.get("delivered_at"),
                    read_at: row.get("read_at"),
                    acknowledged: row.get("acknowledged"),
                },
            )
        })
        .collect()
}

fn stamp(cell: &str, what: &str) -> Option<OffsetDateTime> {
    (!cell.is_empty()).then(|| {
        OffsetDateTime::parse(cell, &Rfc3339)
            .unwrap_or_else(|e| panic!("{what} {cell:?} is not an RFC 3339 time: {e}"))
    })
}

#[tokio::test]
async fn a_report_shows_reads_blocked_people_the_csv_and_the_overview() {
    let mut config = emulator_config(123);
    config.directory.blocked_fraction = 0.12;
    config.directory.departing_fraction = 0.04;
    config.directory.disabled_fraction = 0.04;
    let herald = TestHerald::start(config, |_| {}).await;
    let staff = herald.staff().await;
    let users: Vec<Value> = herald.directory_users().await.split_off(3);
    let by_status = |status: DeliveryStatus| -> BTreeSet<String> {
        users
            .iter()
            .filter(|u| expected(u) == status)
            .map(upn)
            .collect()
    };
    let blocked = by_status(DeliveryStatus::Blocked);
    let delivered = by_status(DeliveryStatus::Delivered);
    assert!(
        !blocked.is_empty() && delivered.len() > 50,
        "the directory has people who blocked Herald and more than a page of others"
    );

    let browser = Browser::start().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    let mut asked = content("Quarterly all-hands moves to Thursday");
    asked.acknowledgement_required = true;
    let id = herald
        .send_to(&asked, &users.iter().map(upn).collect::<Vec<_>>())
        .await
        .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        delivered.len() as i64
    );
    assert_eq!(
        progress.count(DeliveryStatus::Blocked),
        blocked.len() as i64
    );

    // Reads and acknowledgements show up on the open page as they come.
    open(&browser, &herald, &format!("/announcements/{id}")).await;
    wait_for_text(&browser, "#status", "Sent").await;
    script(&browser, "window.stillThisPage = true;", vec![]).await;
    assert_eq!(text(&browser, "#read").await, "0");
    assert_eq!(text(&browser, "#acknowledged").await, "0");
    let readers: Vec<&Value> = users
        .iter()
        .filter(|u| expected(u) == DeliveryStatus::Delivered)
        .take(6)
        .collect();
    for reader in &readers {
        let answer = emulator_post(&herald, user_id(reader), "read", Value::Null).await;
        assert_eq!(answer["delivered"], true, "{answer}");
    }
    // Three readers press Acknowledge, and two who never sent a receipt:
    // pressing is reading, so they count as read too.
    let pressers: Vec<&Value> = readers[..3]
        .iter()
        .copied()
        .chain(
            users
                .iter()
                .filter(|u| expected(u) == DeliveryStatus::Delivered)
                .skip(6)
                .take(2),
        )
        .collect();
    for reader in &pressers {
        let card = herald.messages(user_id(reader)).await;
        let activity = card.last().unwrap()["id"].as_str().unwrap().to_owned();
        let answer = emulator_post(
            &herald,
            user_id(reader),
            "press",
            json!({"activityId": activity, "verb": "acknowledge",
                   "data": {"notificationId": id.to_string()}}),
        )
        .await;
        assert_eq!(answer["answer"]["statusCode"], 200, "{answer}");
    }
    wait_until_within(
        &browser,
        "window.stillThisPage === true && \
         document.getElementById('read').textContent === '8' && \
         document.getElementById('acknowledged').textContent === '5'",
        "showing 8 reads and 5 acknowledgements, live",
        Duration::from_secs(20),
    )
    .await;
    // The chart's read line climbs off the floor (y 192 is the zero line),
    // and the chart says so in words.
    let chart = script(
        &browser,
        "const line = document.querySelector('#chart path.line-read');
         const points = line ? line.getAttribute('d').match(/-?[0-9.]+,-?[0-9.]+/g) : [];
         return {
           line: line !== null,
           top: points.length ? Math.min(...points.map((p) => Number(p.split(',')[1]))) : null,
           desc: (document.querySelector('#chart desc') || {}).textContent,
         };",
        vec![],
    )
    .await;
    assert_eq!(chart["line"], true, "{chart}");
    assert!(chart["top"].as_f64().unwrap() < 192.0, "{chart}");
    assert!(
        chart["desc"].as_str().unwrap().contains(&format!(
            "{} delivered, 8 read, 5 acknowledged, of {} recipients",
            delivered.len(),
            users.len()
        )),
        "{chart}"
    );

    // Each legend key is drawn in its line's colour.
    let colours = script(
        &browser,
        "return ['delivered', 'read', 'acknowledged'].map((k) => [
           getComputedStyle(document.querySelector('.legend .key-' + k), '::before').borderTopColor,
           getComputedStyle(document.querySelector('#chart path.line-' + k)).stroke,
         ]);",
        vec![],
    )
    .await;
    let colours: Vec<(String, String)> = serde_json::from_value(colours).unwrap();
    for (key, line) in &colours {
        assert_eq!(key, line, "{colours:?}");
    }
    let distinct: BTreeSet<&String> = colours.iter().map(|(key, _)| key).collect();
    assert_eq!(distinct.len(), 3, "{colours:?}");

    // The count of every status the send ended with is the database's.
    assert!(progress.counts.len() >= 3, "{:?}", progress.counts);
    for (status, count) in &progress.counts {
        let shown = text(&browser, &format!("#count-{}", status.as_str())).await;
        assert_eq!(shown, count.to_string(), "{status:?}");
    }

    // Every status's badge, the acknowledgement tile and the read line,
    // in every theme (tests/browser/a11y.rs sees deliveries alone).
    accessible_in_every_theme(&browser, "status page with every outcome").await;

    // The table, filtered to blocked from the form: exactly the people
    // the emulator says blocked Herald.
    click(&browser, "#recipients-link").await;
    recipients_page(&browser, "").await;
    wait_for(&browser, "#status")
        .await
        .select_by_value("blocked")
        .await
        .unwrap();
    click(&browser, "#filter").await;
    recipients_page(&browser, "status=blocked").await;
    let rows = table_rows(&browser).await;
    let shown: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(shown, blocked, "the blocked filter");
    assert_eq!(rows.len(), blocked.len(), "each person once");
    assert!(rows.iter().all(|r| r[2] == "blocked" && !r[3].is_empty()));
    // Its CSV link holds the same people.
    let csv_link = wait_for(&browser, "#csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(csv_link.contains("status=blocked"), "{csv_link}");
    let filtered = parse_csv(&download(&browser, &csv_link).await.text);
    let in_csv: BTreeSet<String> = filtered[1..].iter().map(|r| r[1].clone()).collect();
    assert_eq!(in_csv, blocked, "the filtered CSV");

    // The delivered chip, page by page: everyone delivered, once.
    click(&browser, r#"ul.chips a[href$="status=delivered"]"#).await;
    recipients_page(&browser, "status=delivered").await;
    let mut seen = Vec::new();
    loop {
        let rows = table_rows(&browser).await;
        assert!(rows.len() <= 50, "a page holds 50 rows at most");
        assert!(rows.iter().all(|r| r[2] == "delivered"), "{rows:?}");
        seen.extend(rows.into_iter().map(|r| r[1].clone()));
        if browser
            .find(fantoccini::Locator::Css("#next-page"))
            .await
            .is_err()
        {
            break;
        }
        let before = browser.current_url().await.unwrap();
        click(&browser, "#next-page").await;
        wait_until(
            &browser,
            &format!(
                "location.href !== {} && document.readyState === 'complete'",
                json!(before.as_str())
            ),
            "on the next page",
        )
        .await;
    }
    assert_eq!(seen.len(), delivered.len(), "no one twice across pages");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), delivered);

    // The whole CSV, as its link downloads it, against the database.
    open(
        &browser,
        &herald,
        &format!("/announcements/{id}/recipients"),
    )
    .await;
    wait_for(&browser, "#recipients").await;
    let csv = download(&browser, &format!("/announcements/{id}/recipients.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    assert!(
        csv.disposition.starts_with("attachment;") && csv.disposition.contains(".csv"),
        "{}",
        csv.disposition
    );
    // The link itself, clicked as a person would: the browser saves the
    // same bytes under the name the server gave.
    click(&browser, "#csv").await;
    let (name, saved) = browser.downloaded(Duration::from_secs(30)).await;
    assert!(
        name.ends_with(".csv") && csv.disposition.contains(&name),
        "{name} from {}",
        csv.disposition
    );
    let saved = String::from_utf8(saved).expect("the CSV is UTF-8");
    assert_eq!(saved, csv.text, "the saved CSV is what the link serves");
    let body = saved
        .strip_prefix('\u{feff}')
        .expect("the CSV starts with a byte order mark, for Excel");
    assert!(
        body.starts_with(&format!("{CSV_HEADER}\r\n")),
        "{body:.200}"
    );
    let records = parse_csv(body);
    assert_eq!(records[0].join(","), CSV_HEADER);
    let stored = stored_rows(&herald, id).await;
    assert_eq!(records.len() - 1, users.len());
    assert_eq!(stored.len(), users.len());
    let mut in_csv = BTreeSet::new();
    for record in &records[1..] {
        assert_eq!(record.len(), CSV_HEADER.split(',').count(), "{record:?}");
        let upn = &record[1];
        assert!(in_csv.insert(upn.clone()), "{upn} twice in the CSV");
        let row = stored
            .get(upn)
            .unwrap_or_else(|| panic!("{upn} is in the CSV, not among the recipients"));
        let from_csv = Stored {
            name: record[0].clone(),
            kind: record[2].clone(),
            status: record[3].clone(),
            error_code: record[5].clone(),
            attempts: record[6].parse().unwrap(),
            delivered_at: stamp(&record[7], "delivered_at"),
            read_at: stamp(&record[8], "read_at"),
            acknowledged: stamp(&record[9], "acknowledged_at").is_some(),
        };
        assert_eq!(&from_csv, row, "{upn}");
        assert_eq!(
            record[4].is_empty(),
            row.status == "delivered",
            "{record:?}"
        );
    }
    let read: usize = stored.values().filter(|s| s.read_at.is_some()).count();
    assert_eq!(read, 8);
    script(&browser, "window.scrollTo(0, 0);", vec![]).await;
    screenshot(&browser, "recipients").await;

    // A second, smaller send; then the overview of both.
    let few: Vec<String> = delivered.iter().take(10).cloned().collect();
    let second = herald
        .send_to(&content("Car park closed on Saturday"), &few)
        .await
        .unwrap();
    herald
        .wait_until_ended(second, Duration::from_secs(30))
        .await;
    let reader = users.iter().find(|u| upn(u) == few[0]).unwrap();
    emulator_post(&herald, user_id(reader), "read", Value::Null).await;
    herald
        .wait_for(second, Duration::from_secs(10), |p| {
            p.notification.read == 1
        })
        .await;
    click(&browser, r#"nav a[href="/admin/overview"]"#).await;
    wait_for_text(&browser, "h1", "Overview").await;
    let share = |part: usize, whole: usize| format!("{:.1} %", part as f64 * 100.0 / whole as f64);
    let skipped = by_status(DeliveryStatus::Skipped).len();
    let reached = delivered.len() + few.len();
    assert_eq!(text(&browser, "#sends").await, "2");
    assert_eq!(
        text(&browser, "#reach").await,
        share(reached, users.len() - skipped + few.len())
    );
    assert_eq!(text(&browser, "#read-rate").await, share(9, reached));
    assert_eq!(text(&browser, "#ack-rate").await, share(5, delivered.len()));
    assert_eq!(text(&browser, "#blocked").await, blocked.len().to_string());
    assert_eq!(text(&browser, "#opted-out").await, "0");
    assert_eq!(text(&browser, "#send-queue").await, "0");
    assert_eq!(text(&browser, "#prepare-queue").await, "0");
    assert!(text(&browser, "#send-rate").await.ends_with("deliveries/s"));
    let bars = script(
        &browser,
        "return document.querySelectorAll('#days-chart rect').length;",
        vec![],
    )
    .await;
    assert_eq!(bars, 30, "a bar a day");
    screenshot(&browser, "overview").await;
    // Each day's bar is drawn as tall as its share of the busiest day (the
    // plot is 180 units high); a day without deliveries has none.
    let bars = script(
        &browser,
        "return Array.from(document.querySelectorAll('#days-chart rect'))
           .map((bar) => [bar.querySelector('title').textContent, bar.getBBox().height]);",
        vec![],
    )
    .await;
    let bars: Vec<(String, f64)> = serde_json::from_value(bars).unwrap();
    let count = |title: &str| -> usize {
        title
            .rsplit(": ")
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert_eq!(
        bars.iter().map(|(title, _)| count(title)).sum::<usize>(),
        reached
    );
    let busiest = bars.iter().map(|(title, _)| count(title)).max().unwrap();
    for (title, height) in &bars {
        let wanted = count(title) as f64 / busiest as f64 * 180.0;
        assert!(
            (height - wanted).abs() < 0.5,
            "the bar of {title} is drawn {height} units tall, not {wanted:.1}: {bars:?}"
        );
    }

    // Both in the list.
    click(&browser, r#"nav a[href="/"]"#).await;
    let list = wait_for_text(&browser, "#announcements tbody", "Car park closed").await;
    assert!(list.contains("Quarterly all-hands"), "{list}");
    let rows = list_rows(&browser).await;
    assert_eq!(
        rows.iter().filter(|r| r[1] == "Sent").count(),
        2,
        "{rows:?}"
    );

    // Every outcome's badge and reason in the table, in every theme.
    open(
        &browser,
        &herald,
        &format!("/announcements/{id}/recipients"),
    )
    .await;
    wait_for(&browser, "#recipients").await;
    accessible_in_every_theme(&browser, "recipients with every outcome").await;

    // A reminder to those who have not acknowledged, from the status
    // page: how many it goes to, asked first, and said afterwards.
    let waiting = delivered.len() - 5;
    open(&browser, &herald, &format!("/announcements/{id}")).await;
    let button = wait_for_text(
        &browser,
        "#remind",
        "Remind those who have not acknowledged",
    )
    .await;
    assert!(button.contains(&format!("({waiting})")), "{button}");
    click(&browser, "#remind").await;
    let asked = crate::flows::alert_text(&browser).await;
    assert!(asked.contains(&format!("the {waiting} people")), "{asked}");
    browser.accept_alert().await.unwrap();
    wait_for_text(
        &browser,
        "#notice",
        &format!("Reminder sent to {waiting} people."),
    )
    .await;
    let reminder = herald
        .store()
        .announcements(None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.reminder_of == Some(id))
        .expect("a reminder of the announcement");
    let reminded = herald
        .wait_until_ended(reminder.id, Duration::from_secs(60))
        .await;
    assert_eq!(
        reminded.count(DeliveryStatus::Delivered),
        waiting as i64,
        "only those who have not acknowledged"
    );

    assert_console_clean(&browser, &herald, "the reports", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// The announcements list's rows as shown, cell texts by column.
async fn list_rows(browser: &Browser) -> Vec<Vec<String>> {
    let rows = script(
        browser,
        "return Array.from(document.querySelectorAll('#announcements tbody tr'))
           .map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim()));",
        vec![],
    )
    .await;
    serde_json::from_value(rows).unwrap()
}

/// The list's column headings that carry `aria-sort`, with its value.
async fn sorted_headings(browser: &Browser) -> Vec<(String, String)> {
    let headings = script(
        browser,
        "return Array.from(document.querySelectorAll('#announcements th[aria-sort]'))
           .map((th) => [th.textContent.trim(), th.getAttribute('aria-sort')]);",
        vec![],
    )
    .await;
    serde_json::from_value(headings).unwrap()
}

/// Clicks a column's heading, and waits for the list sorted by it.
async fn sort_by(browser: &Browser, column: &str, dir: &str) -> Vec<String> {
    click(browser, &format!("#sort-{column}")).await;
    let wanted = [format!("sort={column}"), format!("dir={dir}")];
    wait_for_path(
        browser,
        &format!("the list sorted by {column}, {dir}"),
        |p| wanted.iter().all(|w| p.contains(w.as_str())),
    )
    .await;
    wait_for(browser, "#announcements").await;
    list_rows(browser)
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[tokio::test]
async fn the_list_shows_each_sends_counts_and_sorts_by_the_column_clicked() {
    let mut config = emulator_config(40);
    config.directory.blocked_fraction = 0.2;
    let herald = TestHerald::start(config, |_| {}).await;
    let staff = herald.staff().await;
    let users: Vec<Value> = herald.directory_users().await.split_off(3);
    let of = |status: DeliveryStatus| -> Vec<String> {
        users
            .iter()
            .filter(|u| expected(u) == status)
            .map(upn)
            .collect()
    };
    let (ok, blocked) = (of(DeliveryStatus::Delivered), of(DeliveryStatus::Blocked));
    assert!(ok.len() >= 7 && !blocked.is_empty(), "{ok:?} {blocked:?}");
    let mut large = ok[1..5].to_vec();
    large.push(blocked[0].clone());
    let sends = [
        ("Alpha small", ok[..1].to_vec()),
        ("Bravo large", large),
        ("Charlie medium", ok[5..7].to_vec()),
    ];
    let mut ids = Vec::new();
    for (title, people) in &sends {
        let id = herald.send_to(&content(title), people).await.unwrap();
        herald.wait_until_ended(id, Duration::from_secs(30)).await;
        ids.push(id);
    }
    // One of Bravo's four who got it reads it: 25 % read.
    let reader = users.iter().find(|u| upn(u) == ok[1]).unwrap();
    emulator_post(&herald, user_id(reader), "read", Value::Null).await;
    herald
        .wait_for(ids[1], Duration::from_secs(10), |p| {
            p.notification.read == 1
        })
        .await;

    let browser = Browser::start().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    open(&browser, &herald, "/").await;
    wait_for(&browser, "#announcements").await;
    let headings = script(
        &browser,
        "return Array.from(document.querySelectorAll('#announcements thead th'))
           .map((th) => th.textContent.trim());",
        vec![],
    )
    .await;
    assert_eq!(
        headings,
        json!([
            "Title",
            "Status",
            "Author",
            "Audience",
            "Sent or scheduled",
            "Recipients",
            "Delivered",
            "Failed",
            "Read",
            "Last change"
        ])
    );
    assert_eq!(
        sorted_headings(&browser).await,
        vec![("Last change".to_owned(), "descending".to_owned())]
    );
    let rows = list_rows(&browser).await;
    let bravo = rows.iter().find(|r| r[0] == "Bravo large").unwrap();
    assert_eq!(bravo[1], "Sent");
    assert!(bravo[3].contains("test.csv"), "the audience: {bravo:?}");
    assert!(bravo[4].ends_with("UTC"), "when it was sent: {bravo:?}");
    assert_eq!(bravo[5..9], ["5", "4", "1", "25 %"], "{bravo:?}");
    let alpha = rows.iter().find(|r| r[0] == "Alpha small").unwrap();
    assert_eq!(alpha[5..9], ["1", "1", "0", "0 %"], "{alpha:?}");
    // The region scrolls on its own, and can be reached by the keyboard.
    let region = script(
        &browser,
        "const region = document.getElementById('announcements').closest('.table-scroll');
         return region && [region.getAttribute('role'), region.tabIndex, region.getAttribute('aria-label')];",
        vec![],
    )
    .await;
    assert_eq!(region, json!(["region", 0, "Announcements table"]));

    let by_count = ["Bravo large", "Charlie medium", "Alpha small"];
    assert_eq!(sort_by(&browser, "recipients", "desc").await, by_count);
    assert_eq!(
        sorted_headings(&browser).await,
        vec![("Recipients".to_owned(), "descending".to_owned())]
    );
    let mut fewest_first = by_count;
    fewest_first.reverse();
    assert_eq!(sort_by(&browser, "recipients", "asc").await, fewest_first);
    assert_eq!(
        sorted_headings(&browser).await,
        vec![("Recipients".to_owned(), "ascending".to_owned())]
    );
    // A status filter keeps the order, and a heading keeps the filter.
    wait_for(&browser, "#status")
        .await
        .select_by_value("sent")
        .await
        .unwrap();
    click(&browser, "#find").await;
    wait_for_path(&browser, "the sent ones, fewest recipients first", |p| {
        p.contains("status=sent") && p.contains("sort=recipients") && p.contains("dir=asc")
    })
    .await;
    wait_for(&browser, "#announcements").await;
    let titles: Vec<String> = list_rows(&browser)
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(titles, fewest_first);
    assert_eq!(
        sort_by(&browser, "read", "desc").await[0],
        "Bravo large",
        "the most read first"
    );
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("status=sent")
    );
    assert_eq!(
        sort_by(&browser, "title", "asc").await,
        ["Alpha small", "Bravo large", "Charlie medium"]
    );
    assert_eq!(sort_by(&browser, "failed", "desc").await[0], "Bravo large");
    accessible_in_every_theme(&browser, "the list sorted by a column").await;
    assert_console_clean(&browser, &herald, "the sorted list", &[]).await;
    browser.close().await;
    herald.stop().await;
}

/// Clicks a pager button and waits for the page it leads to.
async fn turn_page(browser: &Browser, button: &str) -> (String, Vec<Vec<String>>) {
    let before = browser.current_url().await.unwrap();
    click(browser, button).await;
    wait_until(
        browser,
        &format!(
            "location.href !== {} && document.readyState === 'complete' && \
             document.getElementById('shown-rows') !== null",
            json!(before.as_str())
        ),
        &format!("the page {button} leads to"),
    )
    .await;
    (
        text(browser, "#shown-rows").await,
        table_rows(browser).await,
    )
}

async fn has(browser: &Browser, css: &str) -> bool {
    browser.find(fantoccini::Locator::Css(css)).await.is_ok()
}

#[tokio::test]
async fn recipients_page_forward_and_back_count_a_search_and_download_by_title() {
    let herald = TestHerald::start(emulator_config(130), |_| {}).await;
    let staff = herald.staff().await;
    let users: Vec<Value> = herald.directory_users().await.split_off(3);
    let total = users.len();
    assert!(total > 100, "more than two pages");
    let id = herald
        .send_to(
            &content("Quarterly update"),
            &users.iter().map(upn).collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(60)).await;

    let browser = Browser::start().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    open(
        &browser,
        &herald,
        &format!("/announcements/{id}/recipients"),
    )
    .await;
    wait_for(&browser, "#recipients").await;
    let count = text(&browser, "#recipient-count").await;
    assert!(
        count.starts_with(&format!("{total} recipients of")),
        "{count}"
    );
    assert_eq!(
        text(&browser, "#shown-rows").await,
        format!("1-50 of {total}")
    );
    assert!(
        !has(&browser, "#previous-page").await,
        "no page before the first"
    );
    let first = table_rows(&browser).await;
    let (shown, second) = turn_page(&browser, "#next-page").await;
    assert_eq!(shown, format!("51-100 of {total}"));
    let (shown, third) = turn_page(&browser, "#next-page").await;
    assert_eq!(shown, format!("101-{total} of {total}"));
    assert_eq!(third.len(), total - 100);
    assert!(!has(&browser, "#next-page").await, "no page after the last");
    let (shown, back) = turn_page(&browser, "#previous-page").await;
    assert_eq!(shown, format!("51-100 of {total}"));
    assert_eq!(back, second, "the same rows going back");
    let (shown, back) = turn_page(&browser, "#previous-page").await;
    assert_eq!(shown, format!("1-50 of {total}"));
    assert_eq!(back, first);
    assert!(
        !has(&browser, "#previous-page").await,
        "back on the first page"
    );
    let all: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(all.len(), total, "everyone once across the pages");

    // A search says how many of all it matches.
    let word = users[0]["displayName"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_lowercase();
    let matching = users
        .iter()
        .filter(|u| {
            format!("{} {}", u["displayName"].as_str().unwrap(), upn(u))
                .to_lowercase()
                .contains(&word)
        })
        .count();
    assert!(matching < total, "{word} matches some, not all");
    type_into(&browser, "#q", &word).await;
    click(&browser, "#filter").await;
    recipients_page(&browser, &format!("q={word}")).await;
    let count = text(&browser, "#recipient-count").await;
    assert!(
        count.starts_with(&format!("{matching} of {total} recipients of"))
            && count.contains("match"),
        "{count}"
    );
    assert_eq!(table_rows(&browser).await.len(), matching.min(50));
    accessible_in_every_theme(&browser, "recipients, a search").await;

    // The CSV is saved under the announcement's title.
    click(&browser, "#csv").await;
    let (name, saved) = browser.downloaded(Duration::from_secs(30)).await;
    assert_eq!(name, "Quarterly update - recipients.csv");
    let rows = parse_csv(
        String::from_utf8(saved)
            .unwrap()
            .trim_start_matches('\u{feff}'),
    );
    assert_eq!(rows.len() - 1, matching, "the search's rows");
    assert_console_clean(&browser, &herald, "recipients paging", &[]).await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn the_staff_page_shows_someone_signed_in_three_times_once() {
    let herald = TestHerald::start(emulator_config(10), |_| {}).await;
    let staff = herald.staff().await;
    let base = herald.web_base();
    for _ in 0..3 {
        herald_testkit::web::StaffClient::sign_in(&base, &staff[1].0).await;
    }
    let browser = Browser::start().await;
    sign_in(&browser, &herald, &staff[0].0).await;
    click(&browser, r#"nav a[href="/admin/staff"]"#).await;
    wait_for(&browser, "#staff").await;
    let rows = script(
        &browser,
        "return Array.from(document.querySelectorAll('#staff tbody tr'))
           .map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim()));",
        vec![],
    )
    .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
    let theirs: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == staff[1].0).collect();
    assert_eq!(theirs.len(), 1, "one row a person: {rows:?}");
    assert_eq!(theirs[0][3], "3", "their three sessions: {rows:?}");
    assert!(theirs[0][7].contains("Sign out everywhere"), "{rows:?}");
    let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == staff[0].0).collect();
    assert_eq!(mine.len(), 1, "{rows:?}");
    assert_eq!(mine[0][3], "1");
    assert_eq!(rows.len(), 2, "{rows:?}");
    accessible_in_every_theme(&browser, "staff, one row a person").await;
    browser.close().await;
    herald.stop().await;
}

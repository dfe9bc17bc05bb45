//! Delivery reports over HTTP: who may see which report, the announcements
//! list and its filters, the per-recipient table's pages, the CSV export,
//! the live status stream and the admin overview, each checked against
//! the database and the emulator's own view of who got what.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::receipts::{database, notification, send};
use crate::{people, sign_in_staff, start};

/// A Herald whose directory has `users` people, `blocked` of whom (as a
/// share) have blocked the bot.
async fn start_with_blocked(users: usize, blocked: f64) -> TestHerald {
    let mut config = emulator_config(users);
    config.directory.blocked_fraction = blocked;
    config.directory.groups = 2;
    config.directory.teams = 1;
    TestHerald::start(config, |_| {}).await
}

/// The JSON body of a successful API call.
async fn api(client: &StaffClient, path: &str) -> Value {
    let response = client.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The message of a refused API call, after checking it is JSON.
async fn api_error(client: &StaffClient, path: &str, status: StatusCode) -> String {
    let response = client.get(path).await;
    assert_eq!(response.status(), status, "{path}");
    assert_json(&response, path);
    let body = response.text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
    assert!(
        json["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:herald:problem:"),
        "{path}: {json}"
    );
    json["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: {json}"))
        .to_owned()
}

/// Refusals under /api/v1 are RFC 9457 problem documents.
fn assert_json(response: &reqwest::Response, path: &str) {
    let kind = response.headers()["content-type"].to_str().unwrap();
    assert!(
        kind.starts_with("application/problem+json"),
        "{path}: {kind}"
    );
}

/// Follows an API list's `next` links from `first`: every item, in
/// order, and how many each page held.
async fn all_items(client: &StaffClient, first: &str) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut pages = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(at) = path {
        let page = api(client, &at).await;
        let rows = page["items"].as_array().unwrap();
        items.extend(rows.iter().cloned());
        pages.push(rows.len());
        path = page["next"].as_str().map(str::to_owned);
        assert!(pages.len() < 100, "the pages never end");
    }
    (items, pages)
}

fn strings(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

/// HTML text with its character references undone (`&#38;`, `&amp;`...).
fn unescape(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').unwrap();
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => name.strip_prefix('#').unwrap().parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        text.push(decoded);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text
}

/// The "Next page" link of a page, if it has one.
fn next_page(page: &str) -> Option<String> {
    let at = page.find(r#"id="next-page""#)?;
    let tag = &page[page[..at].rfind("<a ")?..at];
    let start = tag.find(r#"href=""#)? + r#"href=""#.len();
    let end = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + end]))
}

/// The body of the table with this id (empty when the page has none).
fn table<'a>(page: &'a str, id: &str) -> &'a str {
    let Some(at) = page.find(&format!(r#"id="{id}""#)) else {
        return "";
    };
    let body = &page[at..];
    &body[..body.find("</table>").unwrap()]
}

/// Follows a page's "Next page" links; each page's text.
async fn all_pages(client: &StaffClient, first: &str) -> Vec<String> {
    let mut pages = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(at) = path {
        let response = client.get(&at).await;
        assert_eq!(response.status(), StatusCode::OK, "{at}");
        let page = response.text().await.unwrap();
        path = next_page(&page);
        pages.push(page);
        assert!(pages.len() < 100, "the pages never end");
    }
    pages
}

/// The emulator's users with these UPNs.
async fn users_among(herald: &TestHerald, upns: &[String]) -> Vec<Value> {
    herald
        .directory_users()
        .await
        .into_iter()
        .filter(|u| upns.iter().any(|p| u["userPrincipalName"] == *p))
        .collect()
}

/// Users the emulator says have blocked the bot, of these UPNs.
async fn blocked_among(herald: &TestHerald, upns: &[String]) -> HashSet<String> {
    users_among(herald, upns)
        .await
        .iter()
        .filter(|u| u["blockedBot"] == true)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect()
}

/// Adds a person to the emulator's directory; their UPN.
async fn add_person(herald: &TestHerald, name: &str) -> String {
    let url = format!("{}/directory/users", herald.emulator.urls.control);
    let response = herald
        .http
        .post(url)
        .json(&json!({"displayName": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["displayName"], name);
    added["userPrincipalName"].as_str().unwrap().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Ok,
    /// Pages send to sign-in; the API answers 401.
    SignIn,
    Forbidden,
    NotFound,
}

/// What a persona got for a path, checking that the API refuses in JSON
/// and that a refusal never shows the announcement's title.
async fn outcome(client: &StaffClient, path: &str, title: &str) -> Want {
    let response = client.get(path).await;
    let status = response.status();
    let location = response
        .headers()
        .get("Location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let api = path.starts_with("/api/");
    let want = match status {
        StatusCode::OK => Want::Ok,
        StatusCode::UNAUTHORIZED if api => Want::SignIn,
        StatusCode::SEE_OTHER if !api && location.starts_with("/sign-in?return_to=") => {
            Want::SignIn
        }
        // Someone with no role is sent from the staff's list to their own
        // page (tests/ui/for_you.rs).
        StatusCode::SEE_OTHER if !api && location == "/for-you" => Want::Forbidden,
        StatusCode::FORBIDDEN => Want::Forbidden,
        StatusCode::NOT_FOUND => Want::NotFound,
        other => panic!("{path}: unexpected {other} ({location})"),
    };
    if want != Want::Ok {
        if api {
            assert_json(&response, path);
        }
        let body = response.text().await.unwrap();
        assert!(!body.contains(title), "{path}: a refusal shows the title");
    }
    // A 200 of the event stream never ends: dropping it hangs up.
    want
}

#[tokio::test]
async fn every_report_route_checks_who_is_asking() {
    let herald = start().await;
    let signed_in = sign_in_staff(&herald).await;
    let base = herald.web_base();
    let listed = people(&herald, 2).await;
    let nobody = StaffClient::signed_out(&base);
    let no_role = StaffClient::sign_in(&base, &listed[1]).await;
    let title = "Owners report only";
    let id = send(&herald, &signed_in.author, title, &listed[..1]).await;

    let own: Vec<String> = [
        "/announcements/{id}",
        "/announcements/{id}/events",
        "/announcements/{id}/recipients",
        "/announcements/{id}/recipients?status=delivered&q=a",
        "/announcements/{id}/recipients.csv",
        "/announcements/{id}/recipients.csv?status=blocked",
        "/api/v1/announcements/{id}",
        "/api/v1/announcements/{id}/recipients",
        "/api/v1/announcements/{id}/recipients?limit=5&status=delivered",
    ]
    .iter()
    .map(|p| p.replace("{id}", &id))
    .collect();
    let open = ["/", "/?q=owner&status=sent", "/api/v1/announcements"];
    let admin_only = ["/admin/overview", "/api/v1/overview"];
    let personas: [(&str, &StaffClient, [Want; 3]); 5] = {
        use Want::*;
        // [the lists, the owner's announcement, the overview]
        [
            ("signed out", &nobody, [SignIn, SignIn, SignIn]),
            ("no role", &no_role, [Forbidden, Forbidden, Forbidden]),
            ("owner", &signed_in.author, [Ok, Ok, Forbidden]),
            (
                "other author",
                &signed_in.other_author,
                [Ok, NotFound, Forbidden],
            ),
            ("admin", &signed_in.admin, [Ok, Ok, Ok]),
        ]
    };
    for (who, client, wants) in personas {
        for path in open {
            assert_eq!(
                outcome(client, path, title).await,
                wants[0],
                "{who}: {path}"
            );
        }
        for path in &own {
            assert_eq!(
                outcome(client, path, title).await,
                wants[1],
                "{who}: {path}"
            );
        }
        for path in admin_only {
            assert_eq!(
                outcome(client, path, title).await,
                wants[2],
                "{who}: {path}"
            );
        }
        // `/announcements` is the list's other name, for those who may see it.
        let response = client.get("/announcements").await;
        if who == "no role" {
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
            continue;
        }
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{who}");
        let location = response.headers()["Location"].to_str().unwrap();
        if who == "signed out" {
            assert!(location.starts_with("/sign-in"), "{location}");
        } else {
            assert_eq!(location, "/", "{who}");
        }
    }
    // Nobody's announcement, or not an id at all: missing, even for the admin.
    for missing in [uuid::Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        for path in &own {
            let path = path.replace(&id, &missing);
            let got = outcome(&signed_in.admin, &path, title).await;
            assert_eq!(got, Want::NotFound, "{path}");
        }
    }
    // The owner's stream really is an event stream.
    let events = signed_in
        .author
        .get(&format!("/announcements/{id}/events"))
        .await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    // Hang up first: Herald's graceful stop waits for open streams.
    drop(events);
    herald.stop().await;
}

fn titles(items: &[Value]) -> HashSet<String> {
    strings(items, "title").into_iter().collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn day(offset: i64) -> String {
    (OffsetDateTime::now_utc().date() + time::Duration::days(offset)).to_string()
}

#[tokio::test]
async fn the_list_shows_ones_own_finds_filters_and_pages() {
    let herald = start().await;
    let signed_in = sign_in_staff(&herald).await;
    let (author, other, admin) = (&signed_in.author, &signed_in.other_author, &signed_in.admin);
    let staff = herald.directory_users().await;
    let other_name = staff[2]["displayName"].as_str().unwrap().to_owned();
    assert_ne!(staff[1]["displayName"], staff[2]["displayName"]);
    author
        .create_draft(&[("title", "Budget Review 2027")])
        .await;
    let listed = people(&herald, 1).await;
    send(&herald, author, "Canteen Reopens", &listed).await;
    other.create_draft(&[("title", "Parking Changes")]).await;

    let mine = set(&["Budget Review 2027", "Canteen Reopens"]);
    let all = set(&["Budget Review 2027", "Canteen Reopens", "Parking Changes"]);
    let (items, _) = all_items(author, "/api/v1/announcements").await;
    assert_eq!(titles(&items), mine, "an author sees their own");
    let page = author.page("/").await;
    assert!(page.contains("Canteen Reopens") && !page.contains("Parking Changes"));
    let (items, _) = all_items(admin, "/api/v1/announcements").await;
    assert_eq!(titles(&items), all, "the admin sees everyone's");
    let page = admin.page("/").await;
    assert!(page.contains("Parking Changes") && page.contains(&other_name));

    let finds: Vec<(String, HashSet<String>)> = vec![
        ("q=budget".into(), set(&["Budget Review 2027"])),
        ("q=REVIEW%202027".into(), set(&["Budget Review 2027"])),
        (
            format!("q={}", other_name.to_uppercase().replace(' ', "%20")),
            set(&["Parking Changes"]),
        ),
        ("q=100%25".into(), set(&[])),
        ("status=sent".into(), set(&["Canteen Reopens"])),
        (
            "status=draft".into(),
            set(&["Budget Review 2027", "Parking Changes"]),
        ),
        ("status=draft&q=parking".into(), set(&["Parking Changes"])),
        (format!("since={}", day(0)), all.clone()),
        (format!("until={}", day(0)), all.clone()),
        (format!("since={}&until={}", day(-3), day(-1)), set(&[])),
        (format!("since={}", day(1)), set(&[])),
    ];
    for (query, want) in finds {
        let (items, _) = all_items(admin, &format!("/api/v1/announcements?{query}")).await;
        assert_eq!(titles(&items), want, "{query}");
        let page = admin.page(&format!("/?{query}")).await;
        let rows = table(&page, "announcements");
        for title in &all {
            assert_eq!(
                rows.contains(title.as_str()),
                want.contains(title),
                "/?{query}: {title}"
            );
        }
    }
    // More than a page: every announcement once, on the pages and the API.
    let mut ids: HashSet<String> =
        strings(&all_items(author, "/api/v1/announcements").await.0, "id")
            .into_iter()
            .collect();
    for n in 0..52 {
        ids.insert(
            author
                .create_draft(&[("title", &format!("Paging {n}"))])
                .await,
        );
    }
    let pages = all_pages(author, "/").await;
    assert_eq!(pages.len(), 2);
    let mut seen = Vec::new();
    for page in &pages {
        let rows = table(page, "announcements");
        let links: Vec<String> = rows
            .split(r#"<td><a href=""#)
            .skip(1)
            .map(|cell| {
                let link = unescape(&cell[..cell.find('"').unwrap()]);
                link.rsplit('/').next().unwrap().to_owned()
            })
            .collect();
        seen.extend(links);
    }
    assert_eq!(seen.len(), 54, "50 then 4");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), ids);
    let (items, pages) = all_items(author, "/api/v1/announcements?limit=7").await;
    assert_eq!(pages, vec![7, 7, 7, 7, 7, 7, 7, 5], "each page as asked");
    assert_eq!(
        strings(&items, "id").into_iter().collect::<HashSet<_>>(),
        ids
    );
    let (items, _) = all_items(author, "/api/v1/announcements?q=paging%204&limit=3").await;
    assert_eq!(
        items.len(),
        11,
        "Paging 4 and 40 to 49, across filtered pages"
    );
    herald.stop().await;
}

#[tokio::test]
async fn bad_filters_are_refused_with_a_message_naming_the_field() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let id = send(&herald, &author, "Filtered", &people(&herald, 1).await).await;
    let recipients = format!("/announcements/{id}/recipients");
    let list = "/announcements".to_owned();
    // (the page, the query, what the message names); the API has the
    // same path under /api/v1.
    let cases = [
        ("/", "status=sentt", "status"),
        ("/", "since=2026-13-01", "since"),
        ("/", "until=yesterday", "until"),
        ("/", "after=not-a-cursor", "page link"),
        ("/", "sort=colour", "sort"),
        ("/", "sort=title&dir=up", "dir"),
        (&recipients as &str, "status=lost", "status"),
        (&recipients, "before=not-a-cursor", "page link"),
        (&recipients, "after=not-a-cursor", "page link"),
        (&recipients, "from=-4", "page link"),
        (&recipients, "after=not-a-cursor", "page link"),
    ];
    for (page, query, field) in cases {
        let api_path = format!("/api/v1{}?{query}", if page == "/" { &list } else { page });
        let message = api_error(&author, &api_path, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(field), "{api_path}: {message}");
        let response = author.get(&format!("{page}?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}?{query}");
        let text = response.text().await.unwrap();
        assert!(unescape(&text).contains(&message), "{page}?{query}: {text}");
    }
    // An unknown column is named, with the ones there are.
    let message = api_error(
        &author,
        "/api/v1/announcements?sort=colour",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        message.contains(r#"sort "colour""#) && message.contains("title, status, sent"),
        "{message}"
    );
    // Programs may ask for 1 to 1000 rows, in digits.
    for limit in ["0", "5000", "-1", "many"] {
        let path = format!("/api/v1{recipients}?limit={limit}");
        let message = api_error(&author, &path, StatusCode::BAD_REQUEST).await;
        assert!(message.contains("limit"), "{path}: {message}");
    }
    herald.stop().await;
}

/// A delivery as the database holds it.
struct Stored {
    status: String,
    attempts: i32,
    delivered_at: Option<OffsetDateTime>,
    read_at: Option<OffsetDateTime>,
}

/// Every delivery of a notification, by the recipient's UPN.
async fn deliveries(herald: &TestHerald, id: &str) -> HashMap<String, Stored> {
    use sqlx::Row;
    let rows = sqlx::query(
        "select r.user_principal_name, d.status, d.attempts, d.delivered_at, d.read_at \
         from deliveries d join recipients r on r.id = d.recipient_id \
         where d.notification_id = $1",
    )
    .bind(notification(id).0)
    .fetch_all(&mut database(herald).await)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let stored = Stored {
                status: row.get("status"),
                attempts: row.get("attempts"),
                delivered_at: row.get("delivered_at"),
                read_at: row.get("read_at"),
            };
            (row.get("user_principal_name"), stored)
        })
        .collect()
}

/// Each item's place in the table: its name in lower case, then its id.
fn order_keys(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap().to_lowercase();
            (name, i["recipient"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn recipients_page_by_name_each_once_and_filter() {
    let herald = start_with_blocked(140, 0.12).await;
    let author = sign_in_staff(&herald).await.author;
    let upns = people(&herald, 130).await;
    // Many people of one name: pages must break ties by a unique key.
    for upn in upns.iter().step_by(2) {
        let url = format!("{}/directory/users/{upn}", herald.emulator.urls.control);
        let renamed = herald
            .http
            .patch(url)
            .json(&json!({"displayName": "Sam Same"}))
            .send()
            .await
            .unwrap();
        assert_eq!(renamed.status(), StatusCode::NO_CONTENT);
    }
    let id = send(&herald, &author, "Keyset pages", &upns).await;
    let base = format!("/api/v1/announcements/{id}/recipients");

    let (items, pages) = all_items(&author, &format!("{base}?limit=50")).await;
    assert_eq!(pages, vec![50, 50, 30], "each page as asked");
    let got: Vec<String> = strings(&items, "upn");
    assert_eq!(
        got.iter().cloned().collect::<HashSet<_>>(),
        upns.iter().cloned().collect::<HashSet<_>>(),
        "every delivery exactly once"
    );
    let keys = order_keys(&items);
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "by name, then id: {keys:?}"
    );

    let blocked = blocked_among(&herald, &upns).await;
    assert!(!blocked.is_empty());
    let (items, _) = all_items(&author, &format!("{base}?status=blocked&limit=2")).await;
    assert_eq!(
        strings(&items, "upn").into_iter().collect::<HashSet<_>>(),
        blocked
    );
    assert_eq!(items.len(), blocked.len());
    assert!(items.iter().all(|i| i["status"] == "blocked"));

    let person = &upns[1];
    let part = person[..person.find('@').unwrap() + 1].to_uppercase();
    let (items, _) = all_items(&author, &format!("{base}?q={part}")).await;
    assert_eq!(strings(&items, "upn"), vec![person.clone()], "{part}");
    let (items, _) = all_items(&author, &format!("{base}?q=sam%20same&limit=20")).await;
    assert_eq!(items.len(), 65);
    // Someone renamed after the send (as the next audience lookup would
    // record it): a search orders by names as they are now, and its pages
    // still hold each match once, in order.
    let renamed = sqlx::query(
        "update recipients set display_name = 'Sam Samezzz' where lower(user_principal_name) = lower($1)",
    )
    .bind(&upns[64])
    .execute(&mut database(&herald).await)
    .await
    .unwrap();
    assert_eq!(renamed.rows_affected(), 1);
    let (items, _) = all_items(&author, &format!("{base}?q=sam%20same&limit=20")).await;
    let keys = order_keys(&items);
    assert_eq!(keys.len(), 65);
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert_eq!(keys.last().unwrap().0, "sam samezzz");
    for literal in ["%25", "_"] {
        let (items, _) = all_items(&author, &format!("{base}?q={literal}")).await;
        assert!(items.is_empty(), "{literal} is no wildcard");
    }
    // The page people read: 50 rows a page, the same people.
    let pages = all_pages(&author, &format!("/announcements/{id}/recipients")).await;
    let rows: Vec<usize> = pages
        .iter()
        .map(|p| table(p, "recipients").matches("<tr>").count() - 1)
        .collect();
    assert_eq!(rows, vec![50, 50, 30]);
    let shown: HashSet<&String> = upns
        .iter()
        .filter(|u| pages.iter().any(|p| p.contains(&format!("<td>{u}</td>"))))
        .collect();
    assert_eq!(shown.len(), 130);
    herald.stop().await;
}

#[tokio::test]
async fn the_csv_has_every_delivery_as_the_database_holds_it() {
    let herald = start_with_blocked(40, 0.3).await;
    let author = sign_in_staff(&herald).await.author;
    let odd_name = "Zoë \"Zed\" Ångström, Jr.";
    let odd = add_person(&herald, odd_name).await;
    let formula = add_person(&herald, "=HYPERLINK(\"http://evil.example\")").await;
    let mut upns = people(&herald, 30).await;
    upns.extend([odd.clone(), formula.clone()]);
    let id = send(&herald, &author, "Export me", &upns).await;

    let response = author
        .get(&format!("/announcements/{id}/recipients.csv"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "Excel needs the BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with(
        "name,upn,kind,status,reason,error_code,attempts,delivered_at,read_at,acknowledged_at,\
         version,change,change_reason\r\n"
    ));
    assert_eq!(text.matches("\r\n").count(), upns.len() + 1, "a line each");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "CRLF"
    );

    let stored = deliveries(&herald, &id).await;
    let records = parse_csv(text);
    assert_eq!(records.len(), upns.len());
    for record in records.values() {
        let upn = &record["upn"];
        let row = &stored[upn];
        assert_eq!(&record["kind"], "person");
        assert_eq!(record["status"], row.status, "{upn}");
        assert_eq!(record["attempts"], row.attempts.to_string(), "{upn}");
        assert_eq!(stamp(&record["delivered_at"]), row.delivered_at, "{upn}");
        assert_eq!(stamp(&record["read_at"]), row.read_at, "{upn}");
        assert_eq!(
            row.status == "delivered",
            row.delivered_at.is_some(),
            "{upn}"
        );
    }
    assert_eq!(records[&odd]["name"], odd_name, "round-trips exactly");
    assert_eq!(
        records[&formula]["name"], "'=HYPERLINK(\"http://evil.example\")",
        "never run as a formula"
    );

    let blocked = blocked_among(&herald, &upns).await;
    assert!(!blocked.is_empty());
    let filtered = author
        .get(&format!(
            "/announcements/{id}/recipients.csv?status=blocked"
        ))
        .await
        .bytes()
        .await
        .unwrap();
    let records = parse_csv(std::str::from_utf8(&filtered[3..]).unwrap());
    assert_eq!(records.keys().cloned().collect::<HashSet<_>>(), blocked);
    for record in records.values() {
        assert_eq!(record["status"], "blocked");
        assert!(record["reason"].starts_with("Blocked Herald"), "{record:?}");
    }
    herald.stop().await;
}

/// CSV records by UPN, each a map from column to cell.
fn parse_csv(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let mut records = HashMap::new();
    for record in reader.records() {
        let cells: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(record.unwrap().iter().map(str::to_owned))
            .collect();
        assert!(
            records.insert(cells["upn"].clone(), cells).is_none(),
            "one line each"
        );
    }
    records
}

fn stamp(cell: &str) -> Option<OffsetDateTime> {
    (!cell.is_empty()).then(|| OffsetDateTime::parse(cell, &Rfc3339).unwrap())
}

/// Server-sent events read as they come.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(client: &StaffClient, id: &str) -> Self {
        let response = client.get(&format!("/announcements/{id}/events")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next `progress` event's data, waiting at most `within`.
    async fn next(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let lines: Vec<&str> = block.lines().collect();
                if lines.contains(&"event: progress") {
                    let data = lines.iter().find_map(|l| l.strip_prefix("data: ")).unwrap();
                    return serde_json::from_str(data).unwrap();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("no progress event in time")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Progress events until one satisfies `done`.
    async fn until(&mut self, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await;
            if done(&event) {
                return event;
            }
        }
    }
}

/// A send of `people` people at 10 a second, slow enough to watch: the
/// Herald, its author and the announcement's id.
async fn slow_send(people_count: usize, title: &str) -> (TestHerald, StaffClient, String) {
    let mut config = emulator_config(people_count * 3 / 2);
    config.behaviour.global_rps = 10;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 10.0).await;
    let author = sign_in_staff(&herald).await.author;
    let upns = people(&herald, people_count).await;
    let id = author
        .create_draft(&[("title", title), ("csv", &upns.join("\n"))])
        .await;
    author.post(&format!("/drafts/{id}/send"), &[]).await;
    (herald, author, id)
}

#[tokio::test]
async fn the_status_stream_follows_a_send_to_its_end() {
    let (herald, author, id) = slow_send(40, "Watched live").await;
    let mut events = Events::open(&author, &id).await;
    let first = events.next(Duration::from_secs(5)).await;
    assert_eq!(first["id"], id.as_str());
    assert!(first["chart"].as_str().unwrap().contains("<svg"));
    let started = first["finished"].as_i64().unwrap();
    assert!(started < 40, "10 a second take 4 s: {first}");
    let later = events
        .until(Duration::from_secs(20), |e| {
            e["finished"].as_i64().unwrap() > started
        })
        .await;
    assert_eq!(later["done"], false, "{later}");
    let last = events
        .until(Duration::from_secs(30), |e| e["done"] == true)
        .await;
    assert_eq!(
        (
            &last["total"],
            &last["finished"],
            &last["percent"],
            &last["delivered"]
        ),
        (&json!(40), &json!(40), &json!(100), &json!(40))
    );
    assert_eq!(last["status"], "sent");
    // A finished send has no rate and nothing left: not "0.0/s".
    assert_eq!(
        (&last["rate"], &last["rate_text"], &last["time_left"]),
        (&Value::Null, &Value::Null, &Value::Null),
        "{last}"
    );
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(
        page.contains(r#"<span id="pace" hidden>"#) && !page.contains("0.0/s"),
        "{page}"
    );
    // Nothing asked for an acknowledgement: no such line, nor its key.
    assert!(
        !last["chart"].as_str().unwrap().contains("acknowledg")
            && !page.contains("key-acknowledged"),
        "{page}"
    );

    // A new watcher gets the same figures as the API at once.
    let mut again = Events::open(&author, &id).await;
    let now = again.next(Duration::from_secs(3)).await;
    let report = api(&author, &format!("/api/v1/announcements/{id}")).await["progress"].clone();
    for field in [
        "total",
        "finished",
        "delivered",
        "read",
        "status",
        "counts",
        "done",
    ] {
        assert_eq!(now[field], report[field], "{field}");
    }
    // Hang up first: Herald's graceful stop waits for open streams.
    drop((events, again));
    herald.stop().await;
}

/// The status page reuses what the watchers' poller read in the last
/// second; a cancel made here must show on the next load all the same.
#[tokio::test]
async fn a_status_page_beside_watchers_shows_a_cancel_at_once() {
    let (herald, author, id) = slow_send(200, "Watched, then canceled").await;
    let mut events = Events::open(&author, &id).await;
    events
        .until(Duration::from_secs(20), |e| e["status"] == "sending")
        .await;
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(
        page.contains("Cancel send"),
        "sending, so it can be canceled"
    );
    // What the poller read is someone's report all the same.
    let other = sign_in_staff(&herald).await.other_author;
    let refused = other.get(&format!("/announcements/{id}")).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    let canceled = author
        .post(&format!("/announcements/{id}/cancel"), &[])
        .await;
    assert_eq!(canceled.status(), StatusCode::SEE_OTHER);
    let page = author.page(&format!("/announcements/{id}")).await;
    assert!(
        !page.contains("Cancel send") && page.contains("Canceled"),
        "the page after the cancel shows it: {page}"
    );
    // It says what happened, who did it, and the bar shows the delivered.
    let name = herald
        .progress(notification(&id))
        .await
        .notification
        .canceled_by
        .unwrap();
    assert!(
        !name.is_empty() && page.contains(&format!("by {name}: ")) && page.contains(" got it, "),
        "{page}"
    );
    assert!(page.contains(r#"<span id="done-text" hidden>"#), "{page}");
    // Posts already on the wire may still land as delivered: the event's
    // own figures must agree with its sentence and its bar.
    let event = events
        .until(Duration::from_secs(10), |e| e["status"] == "canceled")
        .await;
    let canceled = event["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "canceled")
        .map_or(0, |c| c["count"].as_i64().unwrap());
    let delivered = event["delivered"].as_i64().unwrap();
    let said = format!("by {name}: {delivered} got it, {canceled} did not.");
    assert!(
        event["ended"].as_str().unwrap().ends_with(&said),
        "{said}: {event}"
    );
    assert_eq!(
        event["percent"],
        delivered * 100 / event["total"].as_i64().unwrap(),
        "{event}"
    );
    drop(events);
    herald.stop().await;
}

#[tokio::test]
async fn an_open_status_page_does_not_hold_up_stopping() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let id = send(
        &herald,
        &author,
        "Watched at a restart",
        &people(&herald, 1).await,
    )
    .await;
    let mut events = Events::open(&author, &id).await;
    events.next(Duration::from_secs(5)).await;
    // A browser keeps the page open through a rolling restart; SIGTERM
    // must not wait out the stream (orchestrators kill after 30 s).
    let stopping = std::time::Instant::now();
    herald.stop().await;
    let took = stopping.elapsed();
    drop(events);
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
}

#[tokio::test]
async fn the_overview_counts_sends_and_people_who_blocked_herald() {
    let herald = start_with_blocked(40, 0.3).await;
    let signed_in = sign_in_staff(&herald).await;
    let upns = people(&herald, 25).await;
    let blocked = blocked_among(&herald, &upns).await;
    let everyone_blocked = blocked_among(
        &herald,
        &strings(&herald.directory_users().await, "userPrincipalName"),
    )
    .await;
    assert!(
        !blocked.is_empty() && everyone_blocked.len() > blocked.len(),
        "some not sent to"
    );
    let id = send(&herald, &signed_in.author, "Counted", &upns).await;
    let stored = deliveries(&herald, &id).await;
    // Two people who got it write "stop" to the bot; one of them "start"
    // again, so one has opted out.
    let reached: Vec<String> = users_among(&herald, &upns)
        .await
        .iter()
        .filter(|u| u["blockedBot"] != true)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .take(2)
        .collect();
    for person in &reached {
        herald.say(person, "stop").await;
    }
    herald.say(&reached[1], "start").await;

    let overview = api(&signed_in.admin, "/api/v1/overview").await;
    let period = &overview["period"];
    assert_eq!(overview["days"], 30);
    assert_eq!(period["sends"], 1);
    assert_eq!(period["blocked"], blocked.len(), "{overview}");
    assert_eq!(period["opted_out"], 1, "{overview}");
    assert_eq!(period["targeted"], upns.len());
    let delivered = stored.values().filter(|d| d.status == "delivered").count();
    assert_eq!(period["delivered"], delivered);
    assert_eq!(delivered + blocked.len(), upns.len());
    assert!(overview["now"]["send_queue"].is_u64(), "{overview}");
    assert!(overview["now"]["rate"].is_number(), "{overview}");
    let page = signed_in.admin.page("/admin/overview").await;
    assert!(
        page.contains(&format!(r#"id="blocked">{}<"#, blocked.len())),
        "{page}"
    );
    assert!(page.contains(r#"id="sends">1<"#), "{page}");
    assert!(page.contains(r#"id="opted-out">1<"#), "{page}");
    herald.stop().await;
}

/// While a send goes on, the overview's "right now" shows the people
/// still waiting in the send queue and the rate they go out at.
#[tokio::test]
async fn the_overview_shows_the_queue_and_the_rate_during_a_send() {
    let mut config = emulator_config(90);
    config.behaviour.global_rps = 10;
    // A send-worker holding 10 messages leaves the rest ready in the queue,
    // where the broker counts them.
    let herald = TestHerald::start(config, |s| {
        s.send.rate_per_second = 10.0;
        s.send.prefetch = 10;
    })
    .await;
    let signed_in = sign_in_staff(&herald).await;
    // Everyone's chat is known, so all 80 are queued at once rather than
    // as their installs come back.
    let ids = herald_testkit::seed_known_conversations(herald.store(), &herald.emulator.urls, 83)
        .await
        .unwrap();
    let id = signed_in
        .author
        .create_draft(&[("title", "Queued"), ("csv", &ids[3..].join("\n"))])
        .await;
    signed_in
        .author
        .post(&format!("/drafts/{id}/send"), &[])
        .await;
    herald
        .wait_for(notification(&id), Duration::from_secs(30), |p| {
            p.total() - p.unfinished() >= 30
        })
        .await;

    let now = api(&signed_in.admin, "/api/v1/overview").await["now"].clone();
    let waiting = now["send_queue"].as_u64().unwrap();
    let rate = now["rate"].as_f64().unwrap();
    assert!((1..=60).contains(&waiting), "{now}");
    // 10 a second at most, over the last 10 whole seconds (the one under
    // way is not counted, and a loaded machine may have sent slower).
    assert!(rate > 0.0 && rate <= 11.0, "{now}");
    let page = signed_in.admin.page("/admin/overview").await;
    let shown = between(&page, r#"id="send-queue">"#, "<");
    let shown: u64 = shown.parse().unwrap_or_else(|_| panic!("{shown:?}"));
    assert!(shown > 0 && shown <= waiting, "{shown} after {waiting}");

    herald
        .wait_until_ended(notification(&id), Duration::from_secs(30))
        .await;
    let now = api(&signed_in.admin, "/api/v1/overview").await["now"].clone();
    assert_eq!(now["send_queue"], 0, "{now}");
    herald.stop().await;
}

/// The text between `start` and the next `end` in `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {page}"))
        + start.len();
    let to = page[from..].find(end).unwrap() + from;
    &page[from..to]
}

#[tokio::test]
async fn recipient_names_are_shown_as_text() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let script = "<script>alert(1)</script>";
    let upn = add_person(&herald, script).await;
    let id = send(&herald, &author, "Escaped names", &[upn]).await;
    for path in [
        format!("/announcements/{id}/recipients"),
        format!("/announcements/{id}/recipients?q=%3Cscript%3E"),
    ] {
        let page = author.page(&path).await;
        assert!(
            !page.contains(script) && !page.contains("<script>"),
            "{path}: {page}"
        );
        let rows = table(&page, "recipients");
        assert!(rows.contains("alert(1)"), "{path}: the person is listed");
        assert!(
            unescape(rows).contains(&format!("<td>{script}</td>")),
            "{path}: {rows}"
        );
    }
    herald.stop().await;
}

/// Waits until no notification is still being prepared or sent.
async fn until_all_sent(herald: &TestHerald) {
    let mut db = database(herald).await;
    for _ in 0..300 {
        let busy: i64 = sqlx::query_scalar(
            "select count(*) from notifications where status in ('preparing', 'sending')",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sends never ended");
}

/// Posts the draft's form with "Save and send me a test".
async fn send_a_test(author: &StaffClient, id: &str, title: &str, csv: &str) {
    let tested = author
        .post(
            &format!("/drafts/{id}"),
            &[("title", title), ("csv", csv), ("action", "test")],
        )
        .await;
    assert_eq!(tested.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn tests_stay_out_of_lists_figures_and_the_api_and_show_on_their_draft() {
    let herald = start().await;
    let signed_in = sign_in_staff(&herald).await;
    let (author, admin) = (&signed_in.author, &signed_in.admin);
    let listed = people(&herald, 3).await;
    send(&herald, author, "Canteen Reopens", &listed).await;
    let csv = listed[..1].join("\n");
    let draft = author
        .create_draft(&[("title", "Quarterly results"), ("csv", &csv)])
        .await;
    send_a_test(author, &draft, "Quarterly results", &csv).await;
    send_a_test(author, &draft, "Quarterly results", &csv).await;
    until_all_sent(&herald).await;
    let mut db = database(&herald).await;
    let stored: i64 = sqlx::query_scalar("select count(*) from notifications")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, 4, "the announcement, the draft and two tests");

    let want = set(&["Canteen Reopens", "Quarterly results"]);
    for client in [author, admin] {
        let (items, _) = all_items(client, "/api/v1/announcements").await;
        assert_eq!(titles(&items), want, "tests are not announcements");
        let page = client.page("/").await;
        assert!(!table(&page, "announcements").contains("[Test]"), "{page}");
    }
    let overview = api(admin, "/api/v1/overview").await;
    let period = &overview["period"];
    assert_eq!(period["sends"], 1, "{overview}");
    assert_eq!(period["targeted"], listed.len(), "{overview}");
    assert_eq!(period["delivered"], listed.len(), "{overview}");
    let per_day: i64 = period["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| day[1].as_i64().unwrap())
        .sum();
    assert_eq!(per_day, listed.len() as i64, "{overview}");
    let page = admin.page("/admin/overview").await;
    assert!(page.contains(r#"id="sends">1<"#), "{page}");

    // The draft's own page says what was tested, and links the last one.
    let page = unescape(&author.page(&format!("/drafts/{draft}")).await);
    let tests = between(&page, r#"id="tests-sent""#, "</p>");
    assert!(tests.contains("Tests sent: 2, the last at "), "{tests}");
    assert!(tests.contains(" to you"), "{tests}");
    let last = tests.split(r#"href="/announcements/"#).nth(1).unwrap();
    let last = &last[..last.find('"').unwrap()];
    let report = api(author, &format!("/api/v1/announcements/{last}")).await;
    assert_eq!(report["title"], "[Test] Quarterly results", "{report}");
    // Someone else's draft page shows no test.
    let other = signed_in
        .other_author
        .create_draft(&[("title", "Untested")])
        .await;
    let page = signed_in
        .other_author
        .page(&format!("/drafts/{other}"))
        .await;
    assert!(!page.contains("tests-sent"), "{page}");
    herald.stop().await;
}

/// An announcement's sort key as the API gives it, for one column.
fn sort_key(item: &Value, column: &str) -> (i64, String) {
    match column {
        "title" => (0, item["title"].as_str().unwrap().to_lowercase()),
        "recipients" | "delivered" | "failed" => {
            (item["counts"][column].as_i64().unwrap(), String::new())
        }
        other => panic!("no key for {other}"),
    }
}

#[tokio::test]
async fn each_sort_pages_through_every_announcement_once_in_its_order() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let listed = people(&herald, 3).await;
    let mut ids = HashSet::new();
    for (n, title) in ["Zeta", "alpha", "Mu"].iter().enumerate() {
        ids.insert(send(&herald, &author, title, &listed[..=n]).await);
    }
    for n in 0..15 {
        // Ties among the counts: the pages go on by id.
        let title = format!("Draft {}", (b'a' + (n * 7 % 15) as u8) as char);
        ids.insert(author.create_draft(&[("title", &title)]).await);
    }
    for (column, dir) in [
        ("title", "asc"),
        ("title", "desc"),
        ("recipients", "desc"),
        ("recipients", "asc"),
        ("delivered", "desc"),
        ("failed", "asc"),
        ("sent", "desc"),
        ("read", "desc"),
        ("status", "asc"),
        ("changed", "asc"),
    ] {
        let first = format!("/api/v1/announcements?sort={column}&dir={dir}&limit=4");
        let (items, pages) = all_items(&author, &first).await;
        assert_eq!(pages, vec![4, 4, 4, 4, 2], "{first}");
        let seen: Vec<String> = strings(&items, "id");
        assert_eq!(seen.len(), ids.len(), "{first}: each once");
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), ids, "{first}");
        if matches!(column, "title" | "recipients" | "delivered" | "failed") {
            let keys: Vec<(i64, String)> = items.iter().map(|i| sort_key(i, column)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if dir == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{first}");
        }
    }
    let (items, _) = all_items(&author, "/api/v1/announcements?sort=recipients&limit=5").await;
    assert_eq!(
        strings(&items[..3], "title"),
        ["Mu", "alpha", "Zeta"],
        "most recipients first"
    );
    assert_eq!(items[0]["counts"]["recipients"], 3);
    assert_eq!(items[0]["counts"]["delivered"], 3);
    // The page's headings link to each order, the filters kept.
    let page = unescape(&author.page("/?status=sent&sort=recipients&dir=asc").await);
    let heading = between(&page, r#"aria-sort="ascending""#, "</th>");
    assert!(heading.contains("Recipients"), "{heading}");
    assert!(
        heading.contains("/?status=sent&sort=recipients&dir=desc"),
        "a second click turns the order round: {heading}"
    );
    herald.stop().await;
}

//! "Announcements for you", every signed-in person's own page, over HTTP:
//! announcements sent through the real pipeline to a few people, then
//! each person sees exactly what reached them, newest first, as it is
//! now (edited, never recalled), finds one by its words, acknowledges it
//! through the bot's own bookkeeping, and picks what Herald sends them
//! (the flag `stop` and `start` set). And nobody sees or acknowledges
//! anyone else's, nor reaches a staff page without a role.

use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationId, RecipientId};
use herald_testkit::TestHerald;
use herald_testkit::web::{StaffClient, csrf_in, location, plain_client};
use reqwest::StatusCode;

use crate::receipts::notification;
use crate::{people, sign_in_staff, start};

/// Composes and sends an announcement from the UI, as `author`, to these
/// people, and waits until every one of them has a final status.
async fn send(
    herald: &TestHerald,
    author: &StaffClient,
    fields: &[(&str, &str)],
    to: &[&String],
) -> String {
    let csv = to.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n");
    let mut fields = fields.to_vec();
    fields.push(("csv", &csv));
    let id = author.create_draft(&fields).await;
    let sent = author.post(&format!("/drafts/{id}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    herald
        .wait_until_ended(notification(&id), Duration::from_secs(60))
        .await;
    id
}

/// Takes an announcement back from everyone (`delete` or `notice`).
async fn recall(herald: &TestHerald, author: &StaffClient, id: &str, how: &str) {
    let recalled = author
        .post(&format!("/announcements/{id}/recall"), &[("how", how)])
        .await;
    assert_eq!(recalled.status(), StatusCode::SEE_OTHER);
    herald
        .wait_for_change(notification(id), Duration::from_secs(30))
        .await;
}

/// A person signed in, with the CSRF token of their own page (with no
/// role, Herald's start page sends them there).
async fn person(herald: &TestHerald, upn: &str) -> StaffClient {
    let mut client = StaffClient::sign_in(&herald.web_base(), upn).await;
    client.csrf = csrf_in(&client.page("/for-you").await).expect("a CSRF token on their page");
    client
}

/// The announcements a page lists, by id, in its order.
fn listed(page: &str) -> Vec<String> {
    let marker = r#"<li class="panel" id="announcement-"#;
    page.match_indices(marker)
        .map(|(at, _)| page[at + marker.len()..at + marker.len() + 36].to_owned())
        .collect()
}

async fn object_id(herald: &TestHerald, upn: &str) -> uuid::Uuid {
    herald.user_id(upn).await.parse().unwrap()
}

async fn opted_out(herald: &TestHerald, id: uuid::Uuid) -> bool {
    herald.store().people(&[RecipientId(id)]).await.unwrap()[0].opted_out
}

async fn acknowledged_by(herald: &TestHerald, id: &str) -> Vec<uuid::Uuid> {
    herald
        .store()
        .acknowledged_by(notification(id))
        .await
        .unwrap()
}

fn search(q: &str) -> String {
    let words: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    format!("/for-you?q={words}")
}

#[tokio::test]
async fn a_person_finds_what_reached_them_acknowledges_it_and_picks_what_comes() {
    let herald = start().await;
    let author = sign_in_staff(&herald).await.author;
    let listed_people = people(&herald, 3).await;
    let (a, b, c) = (&listed_people[0], &listed_people[1], &listed_people[2]);
    let canteen = send(
        &herald,
        &author,
        &[("title", "Canteen reopens"), ("summary", "Soup is back.")],
        &[a, b],
    )
    .await;
    let drill = send(
        &herald,
        &author,
        &[
            ("title", "Fire drill on Tuesday"),
            ("summary", "Meet at the car park."),
            ("acknowledgement", "on"),
        ],
        &[a],
    )
    .await;
    let parking = send(&herald, &author, &[("title", "Parking rules")], &[b]).await;
    let town = send(
        &herald,
        &author,
        &[
            ("title", "Town hall on Friday"),
            ("summary", "In the atrium."),
        ],
        &[a, c],
    )
    .await;
    let edited = author
        .post(
            &format!("/announcements/{town}/update"),
            &[
                ("title", "Town hall moved to Thursday"),
                ("summary", "In the atrium."),
                ("mark_edited", "on"),
            ],
        )
        .await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    herald
        .wait_for_change(notification(&town), Duration::from_secs(30))
        .await;
    let mistake = send(
        &herald,
        &author,
        &[("title", "Salary news, by mistake")],
        &[a],
    )
    .await;
    recall(&herald, &author, &mistake, "delete").await;

    // Exactly A's, newest delivery first, each as it is now.
    let reader = person(&herald, a).await;
    let page = reader.page("/for-you").await;
    assert_eq!(
        listed(&page),
        [town.clone(), drill.clone(), canteen.clone()],
        "{page}"
    );
    assert!(page.contains("<title>Announcements for you · Herald</title>"));
    assert!(page.contains("Town hall moved to Thursday") && !page.contains("Town hall on Friday"));
    assert!(page.contains(" · Edited <time datetime="), "{page}");
    assert!(!page.contains("Salary news") && !page.contains("Parking rules"));
    assert!(!page.contains(&parking) && !page.contains(&mistake));
    // The cards are the ones sent, without the card's own button: the
    // page has its own, only where one is asked for.
    assert_eq!(page.matches("data-card-json=").count(), 3);
    assert!(!page.contains("Action.Execute"), "no button in the cards");
    assert!(page.contains(&format!(r#"action="/for-you/{drill}/acknowledge""#)));
    assert!(!page.contains(&format!("/for-you/{canteen}/acknowledge")));
    assert!(!page.contains(&format!("/for-you/{town}/acknowledge")));

    // Searching the words of titles and summaries, in any case.
    for (words, found) in [
        ("drill", vec![drill.clone()]),
        ("CAR park", vec![drill.clone()]),
        ("thursday", vec![town.clone()]),
        ("soup", vec![canteen.clone()]),
        ("friday", vec![]),
        ("salary", vec![]),
        ("parking", vec![]),
    ] {
        let page = reader.page(&search(words)).await;
        assert_eq!(listed(&page), found, "{words}");
        assert_eq!(page.contains("No announcement matches"), found.is_empty());
    }

    // Acknowledging: recorded as a press of the card's button is, once.
    assert!(acknowledged_by(&herald, &drill).await.is_empty());
    let pressed = reader
        .post(&format!("/for-you/{drill}/acknowledge"), &[])
        .await;
    assert_eq!(pressed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&pressed),
        format!("/for-you?done=acknowledged&id={drill}#announcement-{drill}")
    );
    let after = reader.page(&location(&pressed)).await;
    assert!(
        after.contains("your acknowledgement was recorded"),
        "{after}"
    );
    assert!(after.contains("You acknowledged this on <time"));
    assert!(!after.contains(&format!(r#"action="/for-you/{drill}/acknowledge""#)));
    let a_id = object_id(&herald, a).await;
    assert_eq!(acknowledged_by(&herald, &drill).await, [a_id]);
    let record = herald.progress(notification(&drill)).await.notification;
    assert_eq!(
        (record.acknowledged, record.read),
        (1, 1),
        "counted and read"
    );
    let report = author.page(&format!("/announcements/{drill}")).await;
    assert!(
        report.contains(r#"<dd id="acknowledged">1</dd>"#),
        "{report}"
    );
    let again = reader
        .post(&format!("/for-you/{drill}/acknowledge"), &[])
        .await;
    assert_eq!(
        location(&again),
        format!("/for-you?done=already&id={drill}#announcement-{drill}")
    );
    let record = herald.progress(notification(&drill)).await.notification;
    assert_eq!(record.acknowledged, 1, "pressing again changes nothing");
    assert!(
        reader
            .page(&location(&again))
            .await
            .contains("You had already acknowledged it")
    );

    // Only critical announcements, then every one again: the flag the
    // bot's stop and start set, which the pipeline reads.
    assert!(page.contains(r#"id="receive-all" name="receive" value="all" checked"#));
    let saved = reader
        .post("/for-you/settings", &[("receive", "critical")])
        .await;
    assert_eq!(location(&saved), "/for-you?done=critical#settings");
    assert!(opted_out(&herald, a_id).await);
    let page = reader.page(&location(&saved)).await;
    assert!(page.contains(r#"value="critical" checked"#));
    assert!(page.contains("only critical announcements from now on"));
    let cake = send(
        &herald,
        &author,
        &[("title", "Cake in the kitchen")],
        &[a, b],
    )
    .await;
    let progress = herald.progress(notification(&cake)).await;
    assert_eq!(
        (
            progress.count(DeliveryStatus::Skipped),
            progress.count(DeliveryStatus::Delivered)
        ),
        (1, 1),
        "A is skipped now"
    );
    let saved = reader
        .post("/for-you/settings", &[("receive", "all")])
        .await;
    assert_eq!(location(&saved), "/for-you?done=all#settings");
    assert!(!opted_out(&herald, a_id).await);
    // Replying stop to the bot is the same setting, shown here.
    herald.say(&a_id.to_string(), "stop").await;
    assert!(opted_out(&herald, a_id).await);
    let page = reader.page("/for-you").await;
    assert!(page.contains(r#"value="critical" checked"#));
    assert!(page.contains("Replying <strong>stop</strong> or <strong>start</strong>"));
    herald.stop().await;
}

#[tokio::test]
async fn each_person_sees_and_acknowledges_only_their_own() {
    let herald = start().await;
    let staff = sign_in_staff(&herald).await;
    let author = &staff.author;
    let listed_people = people(&herald, 3).await;
    let (a, b, never) = (&listed_people[0], &listed_people[1], &listed_people[2]);
    let ask = ("acknowledgement", "on");
    let mine = send(&herald, author, &[("title", "Badge renewal"), ask], &[a]).await;
    let theirs = send(&herald, author, &[("title", "Locker keys"), ask], &[b]).await;
    let withdrawn = send(&herald, author, &[("title", "Office move"), ask], &[a]).await;
    recall(&herald, author, &withdrawn, "notice").await;

    let reader = person(&herald, a).await;
    let other = person(&herald, b).await;
    let page = reader.page("/for-you").await;
    assert_eq!(listed(&page), std::slice::from_ref(&mine));
    assert!(!page.contains("Locker keys") && !page.contains("Office move"));
    assert_eq!(
        listed(&other.page("/for-you").await),
        std::slice::from_ref(&theirs)
    );

    // Someone else's, a withdrawn one, nobody's, not an id: missing, and
    // nothing is recorded.
    let nobodys = uuid::Uuid::new_v4().to_string();
    for id in [&theirs, &withdrawn, &nobodys, &"not-an-id".to_owned()] {
        let pressed = reader
            .post(&format!("/for-you/{id}/acknowledge"), &[])
            .await;
        assert_eq!(pressed.status(), StatusCode::NOT_FOUND, "{id}");
        let refusal = pressed.text().await.unwrap();
        assert!(!refusal.contains("Locker keys"), "{id}");
    }
    assert!(acknowledged_by(&herald, &theirs).await.is_empty());
    assert!(acknowledged_by(&herald, &withdrawn).await.is_empty());

    // Without the form's token (or with another person's), nothing.
    let path = format!("/for-you/{mine}/acknowledge");
    for fields in [vec![], vec![("csrf", other.csrf.as_str())]] {
        let forged = reader.post_raw(&path, &fields).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let forged = reader
            .post_raw(
                "/for-you/settings",
                &[&fields[..], &[("receive", "critical")]].concat(),
            )
            .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }
    assert!(acknowledged_by(&herald, &mine).await.is_empty());
    let a_id = object_id(&herald, a).await;
    assert!(!opted_out(&herald, a_id).await);
    let odd = reader
        .post("/for-you/settings", &[("receive", "never")])
        .await;
    assert_eq!(odd.status(), StatusCode::BAD_REQUEST);

    // Without a role: Herald's start page is theirs, every staff page refuses.
    let home = reader.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/for-you");
    let staff_routes = [
        ("GET", "/announcements".to_owned()),
        ("GET", "/drafts/new".to_owned()),
        ("POST", "/drafts".to_owned()),
        ("POST", "/ui/preview".to_owned()),
        ("GET", format!("/announcements/{mine}")),
        ("GET", format!("/announcements/{mine}/recipients")),
        ("GET", format!("/announcements/{mine}/recipients.csv")),
        ("POST", format!("/announcements/{mine}/recall")),
        ("GET", "/admin/overview".to_owned()),
        ("GET", "/admin/staff".to_owned()),
        ("GET", "/admin/api-keys".to_owned()),
        ("GET", "/admin/teams-app".to_owned()),
        ("GET", "/api/v1/announcements".to_owned()),
        ("GET", format!("/api/v1/announcements/{mine}")),
        ("GET", "/api/v1/overview".to_owned()),
    ];
    for (method, path) in &staff_routes {
        let response = match *method {
            "GET" => reader.get(path).await,
            _ => {
                reader
                    .post(path, &[("title", "Hijacked"), ("how", "delete")])
                    .await
            }
        };
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(!response.text().await.unwrap().contains("Badge renewal"));
    }
    let page = reader.page("/for-you").await;
    assert!(page.contains(r#"<a href="/for-you" aria-current="page">For you</a>"#));
    assert!(
        !page.contains(r#"<a href="/" aria-current"#) && !page.contains(r#"href="/drafts/new""#),
        "their only link is their own page"
    );

    // Staff have the page too, with their own deliveries: a test of a
    // draft reaches its author.
    let draft = author
        .create_draft(&[("title", "Quarterly results"), ("csv", a)])
        .await;
    let tested = author
        .post(
            &format!("/drafts/{draft}"),
            &[
                ("title", "Quarterly results"),
                ("csv", a),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(tested.status(), StatusCode::SEE_OTHER);
    let test = herald
        .store()
        .tests_of(NotificationId(draft.parse().unwrap()))
        .await
        .unwrap()[0]
        .id;
    herald
        .wait_until_ended(NotificationId(test), Duration::from_secs(60))
        .await;
    let authors_page = author.page("/for-you").await;
    assert_eq!(listed(&authors_page), [test.to_string()]);
    assert!(authors_page.contains("[Test] Quarterly results"));
    assert!(
        authors_page.contains(r#"<a href="/drafts/new""#),
        "staff keep their links"
    );
    assert!(listed(&staff.admin.page("/for-you").await).is_empty());
    assert!(!reader.page("/for-you").await.contains("Quarterly results"));

    // Someone Herald never reached: nothing yet, and nowhere to keep a setting.
    let newcomer = person(&herald, never).await;
    let page = newcomer.page("/for-you").await;
    assert!(
        page.contains("Herald has not sent you any announcement yet"),
        "{page}"
    );
    assert!(page.contains(r#"id="no-setting""#) && !page.contains(r#"id="settings-form""#));
    let refused = newcomer
        .post("/for-you/settings", &[("receive", "critical")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("nowhere to keep this setting")
    );

    // Signed out: sign in first. A program's key opens no person's page.
    let signed_out = StaffClient::signed_out(&herald.web_base())
        .get("/for-you")
        .await;
    assert_eq!(location(&signed_out), "/sign-in?return_to=%2Ffor-you");
    let key = herald_testkit::api::make_key(&staff.admin, "Reader", "read").await;
    for (method, path) in [("GET", "/for-you".to_owned()), ("POST", path.clone())] {
        let request = match method {
            "GET" => plain_client().get(reader.url(&path)),
            _ => plain_client().post(reader.url(&path)),
        };
        let response = request.bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{method} {path}");
        assert!(
            location(&response).starts_with("/sign-in"),
            "{method} {path}"
        );
    }
    assert!(acknowledged_by(&herald, &mine).await.is_empty());
    herald.stop().await;
}

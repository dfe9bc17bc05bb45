use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

fn retry_after(response: &reqwest::Response) -> f64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_conversation_takes_seven_sends_a_second_and_then_429() {
    let mut config = config(30);
    config.behaviour.global_rps = 0;
    let t = TestEmulator::with(config).await;
    let user = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == true)
        .await;
    let chat = user["chatId"].as_str().unwrap();
    for i in 0..7 {
        assert_eq!(
            t.send_activity(chat, &message(&format!("m{i}")))
                .await
                .status(),
            201,
            "send {i}"
        );
    }
    let throttled = t.send_activity(chat, &message("one too many")).await;
    assert_eq!(throttled.status(), 429);
    let wait = retry_after(&throttled);
    assert!(wait > 0.0 && wait <= 1.0, "Retry-After {wait}");
    let (_, body) = status_and_json(throttled).await;
    assert_eq!(body["error"]["code"], "Throttled");

    // Honouring Retry-After is enough to be let in again.
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert_eq!(
        t.send_activity(chat, &message("after waiting"))
            .await
            .status(),
        201
    );
    assert_eq!(t.stats().await["throttled"], 1);
}

async fn installed_chats(t: &TestEmulator) -> Vec<String> {
    t.directory().await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| is_plain_member(u) && u["hasApp"] == true)
        .map(|u| u["chatId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_tenant_limit_refuses_only_what_is_over_it() {
    let mut config = config(400);
    config.directory.installed_fraction = 1.0;
    config.directory.blocked_fraction = 0.0;
    config.directory.departing_fraction = 0.0;
    config.behaviour.global_rps = 20;
    let t = TestEmulator::with(config).await;
    let chats = installed_chats(&t).await;
    let token = t.token(BOT_SCOPE).await;
    let send = |chat: String| {
        let http = t.http.clone();
        let url = format!("{}v3/conversations/{chat}/activities", t.urls().service_url);
        let token = token.clone();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&message("burst"))
                .send()
                .await
                .unwrap()
        }
    };

    // A burst of 25 at once: exactly 20 pass inside one second.
    let burst: Vec<_> = chats.iter().take(25).cloned().map(send).collect();
    let started = Instant::now();
    let responses = futures_join_all(burst).await;
    let accepted = responses.iter().filter(|r| r.status() == 201).count();
    let throttled: Vec<&reqwest::Response> =
        responses.iter().filter(|r| r.status() == 429).collect();
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(accepted, 20);
        assert_eq!(throttled.len(), 5);
        // The peak counts what was asked, refused requests too.
        assert_eq!(t.stats().await["connector_peak_per_second"], 25);
    }
    assert!(throttled.iter().all(|r| retry_after(r) <= 1.0));

    // Paced at 16/s (80 % of the limit) for two seconds: never refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.http
        .post(format!("{}/stats/reset", t.urls().control))
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    for (i, chat) in chats.iter().skip(25).take(32).enumerate() {
        let due = start + Duration::from_millis(62 * i as u64 + 62);
        tokio::time::sleep_until(due.into()).await;
        assert_eq!(send(chat.clone()).await.status(), 201, "paced send {i}");
    }
    let stats = t.stats().await;
    assert_eq!(stats["throttled"], 0);
    // 62 ms apart: about 16 in any one second (late timers bunch a few),
    // under the limit of 20.
    let peak = stats["connector_peak_per_second"].as_u64().unwrap();
    assert!((12..20).contains(&peak), "{stats}");
}

async fn futures_join_all(
    futures: Vec<impl std::future::Future<Output = reqwest::Response> + Send + 'static>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn graph_installs_are_limited_to_thirty_a_second() {
    let mut config = config(200);
    config.directory.installed_fraction = 0.0;
    let t = TestEmulator::with(config).await;
    let (_, catalog) = t
        .graph_get(&format!(
            "/appCatalogs/teamsApps?$filter=externalId eq '{}'",
            t.urls().manifest_id
        ))
        .await;
    let app = catalog["value"][0]["id"].as_str().unwrap().to_owned();
    let users: Vec<String> = t.directory().await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .take(40)
        .collect();
    let token = t.token(GRAPH_SCOPE).await;
    let body = json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app}")});
    // Thirty-one requests in one $batch-free burst, sequentially so that all
    // land inside one second on any machine.
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut last: Option<reqwest::Response> = None;
    for user in users.iter().take(31) {
        let response = t
            .http
            .post(format!(
                "{}/v1.0/users/{user}/teamwork/installedApps",
                t.urls().graph
            ))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 30);
        let last = last.unwrap();
        assert_eq!(last.status(), 429);
        assert!(retry_after(&last) > 0.0);
        let (_, body): (u16, Value) = status_and_json(last).await;
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["message"], "Please retry again later.");
    }
}

#[tokio::test]
async fn directory_reads_spend_a_cost_budget() {
    // 3,500 units per 10 s for a small tenant; a users page costs 1 with $select.
    let t = TestEmulator::start(20).await;
    let token = t.token(GRAPH_SCOPE).await;
    let url = format!(
        "{}/v1.0/groups/00000000-0000-0000-0000-000000000000/transitiveMembers",
        t.urls().graph
    );
    let mut first_429 = None;
    let started = Instant::now();
    for i in 0..2_000 {
        let response = t.http.get(&url).bearer_auth(&token).send().await.unwrap();
        if response.status() == 429 {
            first_429 = Some(i);
            break;
        }
    }
    // transitiveMembers costs 5 units: 700 reads empty the bucket, plus what
    // it refilled (350 units a second) while they ran.
    let refilled = (started.elapsed().as_secs_f64() * 70.0).ceil() as usize;
    let first = first_429.expect("the budget runs out");
    assert!(
        (700..=700 + refilled + 1).contains(&first),
        "first 429 at {first}, refill allowance {refilled}"
    );
}

#[tokio::test]
async fn counting_users_spends_what_listing_them_does() {
    // 3,500 units per 10 s for a small tenant; /users/$count costs 2, as
    // GET users does.
    let t = TestEmulator::start(20).await;
    let token = t.token(GRAPH_SCOPE).await;
    let url = format!("{}/v1.0/users/$count", t.urls().graph);
    let mut first_429 = None;
    let started = Instant::now();
    for i in 0..3_000 {
        let response = t
            .http
            .get(&url)
            .bearer_auth(&token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert!(retry_after(&response) > 0.0);
            first_429 = Some(i);
            break;
        }
    }
    // 1,750 counts empty the bucket, plus what it refilled (350 units, 175
    // counts, a second) while they ran.
    let refilled = (started.elapsed().as_secs_f64() * 175.0).ceil() as usize;
    let first = first_429.expect("the budget runs out");
    assert!(
        (1_750..=1_750 + refilled + 1).contains(&first),
        "first 429 at {first}, refill allowance {refilled}"
    );
}

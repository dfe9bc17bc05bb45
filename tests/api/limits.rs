//! The rate per key or application: past it, 429 with Retry-After, and
//! other programs go on.

use crate::{admin, problem, program, start_with};

#[tokio::test]
async fn a_program_over_its_rate_is_told_when_to_come_back() {
    let herald = start_with(|settings| settings.web.api_requests_per_minute = 5).await;
    let admin = admin(&herald).await;
    let busy = program(&herald, &admin, "Busy job", "read").await;
    let calm = program(&herald, &admin, "Calm job", "read").await;
    for _ in 0..5 {
        assert_eq!(busy.get("/api/v1/announcements").await.status(), 200);
    }
    let refused = busy.get("/api/v1/announcements").await;
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&wait), "Retry-After {wait}");
    let body = problem(refused, 429, "rate-limited").await;
    assert!(
        body["detail"].as_str().unwrap().contains("Retry-After"),
        "{body}"
    );
    assert_eq!(calm.get("/api/v1/announcements").await.status(), 200);
    // People in a browser are not counted against programs' rates.
    for _ in 0..8 {
        assert_eq!(admin.get("/api/v1/announcements").await.status(), 200);
    }
    herald.stop().await;
}

//! The OpenAPI document Herald serves describes what it answers: every
//! route it lists exists, and real answers (successes and problems) are
//! valid against the schemas it gives for them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin, announcement, people, program, start};

/// Validates answers against the served document's schemas.
struct Checker {
    doc: Value,
    schemas: boon::Schemas,
    compiler: boon::Compiler,
}

const DOC: &str = "urn:herald:openapi";

impl Checker {
    fn new(doc: Value) -> Self {
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.add_resource(DOC, doc.clone()).unwrap();
        Self {
            doc,
            schemas: boon::Schemas::new(),
            compiler,
        }
    }

    /// Checks `body`, the answer to `method path` (the path as the
    /// document writes it) with `status`, against its schema there.
    fn check(&mut self, method: &str, path: &str, status: u16, content_type: &str, body: &Value) {
        let response = &self.doc["paths"][path][method]["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list"
        );
        let schema = &response["content"][content_type]["schema"];
        let reference = schema["$ref"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("{method} {path} {status}: no schema for {content_type}: {response}")
            })
            .to_owned();
        if let Err(error) = self.validate(&reference, body) {
            panic!("{method} {path} {status} does not match {reference}: {error}\n{body}");
        }
    }

    fn validate(&mut self, reference: &str, body: &Value) -> Result<(), String> {
        let location = format!("{DOC}{reference}");
        let index = self.compiler.compile(&location, &mut self.schemas).unwrap();
        self.schemas
            .validate(body, index)
            .map_err(|error| format!("{error:#}"))
    }
}

async fn answer(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

#[tokio::test]
async fn answers_match_the_served_openapi_document() {
    let herald = start().await;
    let served = reqwest::get(format!("{}/api/v1/openapi.json", herald.web_base()))
        .await
        .unwrap();
    assert_eq!(
        served.status(),
        StatusCode::OK,
        "anyone may read the description"
    );
    let doc: Value = served.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut checker = Checker::new(doc.clone());
    // The checker can fail: an answer of the wrong shape is caught.
    let wrong = json!({"id": 5, "title": "x"});
    assert!(
        checker
            .validate("#/components/schemas/Report", &wrong)
            .is_err()
    );

    let admin = admin(&herald).await;
    let hr = program(&herald, &admin, "HR", "send").await;
    let reader = program(&herald, &admin, "Reader", "read").await;
    let to = people(&herald, 2).await;

    // Every route the document lists is served (a made-up id answers 404
    // "not-found", never "no-such-route").
    let fake = uuid::Uuid::new_v4().to_string();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let url = path.replace("{id}", &fake);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = hr.request(method.clone(), &url);
            if method != Method::GET && method != Method::DELETE {
                request = request.json(&json!({}));
            }
            let (_, _, body) = answer(request.send().await.unwrap()).await;
            assert_ne!(
                body["type"], "urn:herald:problem:no-such-route",
                "{method} {path}"
            );
        }
    }

    let mut body = announcement("Checked against the document", &to);
    body["send"] = json!(true);
    let (status, kind, created) = answer(hr.post("/api/v1/announcements", &body, None).await).await;
    checker.check("post", "/api/v1/announcements", status, &kind, &created);
    let id = created["id"].as_str().unwrap().to_owned();
    hr.wait_for_status(&id, "sent").await;

    let reads = [
        ("/api/v1/announcements", "/api/v1/announcements".to_owned()),
        (
            "/api/v1/announcements/{id}",
            format!("/api/v1/announcements/{id}"),
        ),
        (
            "/api/v1/announcements/{id}/recipients",
            format!("/api/v1/announcements/{id}/recipients?limit=1"),
        ),
    ];
    for (documented, url) in &reads {
        let (status, kind, body) = answer(hr.get(url).await).await;
        checker.check("get", documented, status, &kind, &body);
    }
    let (status, kind, body) = answer(reader.get("/api/v1/overview").await).await;
    checker.check("get", "/api/v1/overview", status, &kind, &body);

    // Problems are described too.
    let problems = [
        (
            "post",
            "/api/v1/announcements",
            hr.post("/api/v1/announcements", &json!({"title": ""}), None)
                .await,
        ),
        (
            "post",
            "/api/v1/announcements",
            hr.post("/api/v1/announcements", &json!({"title": 1}), None)
                .await,
        ),
        (
            "get",
            "/api/v1/announcements/{id}",
            hr.get(&format!("/api/v1/announcements/{fake}")).await,
        ),
        (
            "post",
            "/api/v1/announcements/{id}/send",
            hr.post(
                &format!("/api/v1/announcements/{id}/send"),
                &json!({}),
                None,
            )
            .await,
        ),
        ("get", "/api/v1/overview", hr.get("/api/v1/overview").await),
        (
            "get",
            "/api/v1/announcements",
            hr.get("/api/v1/announcements?sort=colour").await,
        ),
    ];
    for (method, path, response) in problems {
        let (status, kind, body) = answer(response).await;
        assert!(status >= 400, "{method} {path}: {body}");
        checker.check(method, path, status, &kind, &body);
    }
    herald.stop().await;
}

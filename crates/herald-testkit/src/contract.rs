//! The API's contract, checked on every answer a test's program gets: the
//! OpenAPI document Herald serves says which statuses each route answers
//! and the schema of each JSON body, and an answer outside it fails the
//! test that got it.

use serde_json::Value;

const DOC: &str = "urn:herald:openapi";

pub struct Contract {
    doc: Value,
}

impl Contract {
    /// The document served at `base`.
    pub async fn fetch(base: &str) -> Self {
        let doc: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("Herald serves its OpenAPI document")
            .json()
            .await
            .expect("the OpenAPI document is JSON");
        Self { doc }
    }

    /// What is wrong with an answer, by the document; `None` when it
    /// holds, or when the path is not one of the document's (a test
    /// asking for a route that does not exist).
    pub fn breach(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Option<String> {
        let template = self.template(path)?;
        let operation = &self.doc["paths"][template.as_str()][method.to_lowercase()];
        if !operation.is_object() {
            return None;
        }
        let response = &operation["responses"][status.to_string()];
        if !response.is_object() {
            return Some(format!(
                "{method} {template} answered {status}, which the document does not list"
            ));
        }
        if !content_type.contains("json") {
            return None;
        }
        let Some(reference) = response["content"][content_type]["schema"]["$ref"].as_str() else {
            return Some(format!(
                "{method} {template} {status}: the document has no JSON schema for {content_type}"
            ));
        };
        let body: Value = match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(error) => return Some(format!("{method} {template} {status}: not JSON: {error}")),
        };
        self.validate(reference, &body).err().map(|error| {
            format!("{method} {template} {status} does not match {reference}: {error}\n{body}")
        })
    }

    /// `Err` with why, when `body` does not match the schema `reference`
    /// (`#/components/schemas/...`) names. A compiler per check: boon's is
    /// not `Send`, and programs are shared between tasks.
    pub fn validate(&self, reference: &str, body: &Value) -> Result<(), String> {
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(DOC, self.doc.clone())
            .map_err(|e| format!("the OpenAPI document is not a schema resource: {e}"))?;
        let mut schemas = boon::Schemas::new();
        let index = compiler
            .compile(&format!("{DOC}{reference}"), &mut schemas)
            .map_err(|e| format!("cannot compile {reference}: {e}"))?;
        schemas
            .validate(body, index)
            .map_err(|error| format!("{error:#}"))
    }

    /// The document's path that `path` (without its query) is an instance
    /// of: `{...}` segments match any one segment.
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"].as_object()?.keys().find_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment);
            fits.then(|| template.clone())
        })
    }
}

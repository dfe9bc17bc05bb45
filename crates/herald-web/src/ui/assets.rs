//! The static assets under `web/static`, compiled into the binary and
//! served with a content hash in their URL, so browsers keep them for a
//! year and fetch them again only when a release changes them.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, get, http::header, web};

macro_rules! embed {
    ($($name:literal => $kind:literal),* $(,)?) => {
        &[$(($name, $kind, include_bytes!(concat!("../../../../web/static/", $name)).as_slice())),*]
    };
}

/// Every asset: its path under `web/static`, its content type, its bytes.
const FILES: &[(&str, &str, &[u8])] = embed![
    "app.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "compose.js" => "text/javascript; charset=utf-8",
    "teams.js" => "text/javascript; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "vendor/adaptivecards/adaptivecards.min.js" => "text/javascript; charset=utf-8",
    "vendor/markdown-it/markdown-it.min.js" => "text/javascript; charset=utf-8",
    "vendor/hostconfig/microsoft-teams-light.json" => "application/json",
    "vendor/hostconfig/microsoft-teams-dark.json" => "application/json",
    "vendor/teams-js/MicrosoftTeams.min.js" => "text/javascript; charset=utf-8",
];

struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
    hash: String,
}

/// The assets of this build, hashed once.
pub static ASSETS: LazyLock<Assets> = LazyLock::new(Assets::embedded);

pub struct Assets {
    files: HashMap<&'static str, Asset>,
}

impl Assets {
    fn embedded() -> Self {
        let files = FILES
            .iter()
            .map(|&(name, content_type, bytes)| {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
                let hash = digest.as_ref()[..6]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                (
                    name,
                    Asset {
                        content_type,
                        bytes,
                        hash,
                    },
                )
            })
            .collect();
        Self { files }
    }

    /// The URL of an asset, with its content hash.
    pub fn url(&self, name: &str) -> String {
        match self.files.get(name) {
            Some(asset) => format!("/static/{name}?v={}", asset.hash),
            None => format!("/static/{name}"),
        }
    }
}

#[get("/static/{name:.*}")]
pub async fn serve(name: web::Path<String>, request: HttpRequest) -> HttpResponse {
    let Some(asset) = ASSETS.files.get(name.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("There is no such file.");
    };
    let current = request
        .query_string()
        .strip_prefix("v=")
        .is_some_and(|v| v == asset.hash);
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, format!("\"{}\"", asset.hash)))
        .body(asset.bytes)
}

//! Images authors upload for their cards: `POST /ui/images` takes the
//! bytes of one image (the request's body, as the compose page's script
//! sends a picked or pasted file), checks them, stores them once per
//! content, and answers the image's URL; `GET /images/{id}.{ext}` serves it
//! to anyone, because Teams fetches a card's image without a session.
//!
//! The URL is `{web.public_url}/images/{sha256}.{ext}`: the same bytes
//! always get the same URL, and a URL never comes to mean other bytes, so
//! answers may be cached for good.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use herald_domain::{HostedImage, ImageError, ImageId, MAX_IMAGE_BYTES, check_image};
use herald_store::{Store, StoredImage, Uploader};

use super::Ui;
use super::error::UiError;
use super::session::Author;

/// What the compose page says beside its upload button.
pub const UPLOAD_HINT: &str = "PNG, JPEG or GIF, up to 1 MB and 1024 x 1024 pixels, as Teams shows them. \
     You can also paste an image anywhere on this page. Herald keeps it and fills in its URL.";

/// Where images are kept. PostgreSQL is the one store built so far: an
/// object store would be a second variant, chosen from the settings.
#[derive(Clone)]
pub enum ImageStorage {
    Database(Store),
}

impl ImageStorage {
    async fn save(
        &self,
        id: &ImageId,
        image: &herald_domain::CheckedImage,
        bytes: &[u8],
        uploader: &Uploader,
    ) -> Result<HostedImage, UiError> {
        match self {
            ImageStorage::Database(store) => {
                Ok(store.save_image(id, image, bytes, uploader).await?)
            }
        }
    }

    async fn load(&self, id: &ImageId) -> Result<Option<StoredImage>, UiError> {
        match self {
            ImageStorage::Database(store) => Ok(store.image(id).await?),
        }
    }
}

/// The most of an upload read before answering that it is too large:
/// reading to the end lets the answer say how large it is (and a browser
/// still sending gets the answer, not a reset connection), without reading
/// forever.
const MOST_READ: usize = 64 * 1024 * 1024;

/// `POST /ui/images`: the image's URL, or why it was refused.
pub async fn upload(
    Author(staff): Author,
    ui: web::Data<Ui>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let bytes = read_body(&request, payload).await?;
    let image = check_image(&bytes)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let digest: [u8; 32] = digest
        .as_ref()
        .try_into()
        .map_err(|_| UiError::BadForm("the image could not be hashed".to_owned()))?;
    let id = ImageId::from_sha256(&digest);
    let uploader = Uploader {
        id: staff.id,
        upn: staff.upn,
    };
    let hosted = ui.images.save(&id, &image, &bytes, &uploader).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "url": format!("{}{}", ui.settings.public_url, hosted.path()),
        "kind": image.kind.to_string(),
        "width": image.width,
        "height": image.height,
        "bytes": bytes.len(),
    })))
}

/// The body, kept only while it could still be an image Herald takes.
async fn read_body(request: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, UiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if let Some(bytes) = declared.filter(|&bytes| bytes > MOST_READ) {
        return Err(ImageError::TooLarge { bytes }.into());
    }
    let mut body = Vec::new();
    let mut seen = 0;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            UiError::BadForm("the image did not arrive whole: try again".to_owned())
        })?;
        seen += chunk.len();
        if seen > MOST_READ {
            return Err(ImageError::TooLarge { bytes: seen }.into());
        }
        if seen <= MAX_IMAGE_BYTES {
            body.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge { bytes: seen }.into());
    }
    Ok(body)
}

/// `GET /images/{id}.{ext}`: the image, cached for good, or 404.
pub async fn serve(
    ui: web::Data<Ui>,
    name: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let Some(wanted) = HostedImage::parse_file_name(&name) else {
        return not_found();
    };
    let stored = match ui.images.load(&wanted.id).await {
        Ok(Some(stored)) if stored.kind == wanted.kind => stored,
        Ok(_) => return not_found(),
        Err(error) => {
            tracing::error!(error = %herald_domain::chain(&error), "an image could not be read");
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .content_type("text/plain; charset=utf-8")
                .body("Herald's database is not answering; try again in a moment.");
        }
    };
    let etag = format!("\"{}\"", wanted.id);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut answer = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        return answer.finish();
    }
    answer
        .content_type(stored.kind.content_type())
        .body(stored.bytes)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("There is no such image.")
}

#[cfg(test)]
mod tests {
    use herald_domain::image::MAX_IMAGE_SIDE;

    use super::*;

    #[test]
    fn the_upload_hint_states_the_limits_herald_applies() {
        let megabytes = MAX_IMAGE_BYTES / (1024 * 1024);
        assert!(
            UPLOAD_HINT.contains(&format!("up to {megabytes} MB")),
            "{UPLOAD_HINT}"
        );
        let side = format!("{MAX_IMAGE_SIDE} x {MAX_IMAGE_SIDE} pixels");
        assert!(UPLOAD_HINT.contains(&side), "{UPLOAD_HINT}");
    }
}

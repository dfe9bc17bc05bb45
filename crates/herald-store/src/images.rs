//! Uploaded images, kept by the SHA-256 of their bytes.

use herald_domain::{CheckedImage, HostedImage, ImageId, ImageKind};
use uuid::Uuid;

use crate::{Result, Store, StoreError};

/// An image as served.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub kind: ImageKind,
    pub bytes: Vec<u8>,
}

/// Who uploads an image.
#[derive(Debug, Clone)]
pub struct Uploader {
    pub id: Uuid,
    pub upn: String,
}

fn key(id: &ImageId) -> Result<Vec<u8>> {
    let text = id.as_str();
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(format!("image id {text}: {e}")))
}

impl Store {
    /// Stores an image unless the same bytes are stored already (the
    /// same bytes are always the same kind, so either way its name is
    /// the same).
    pub async fn save_image(
        &self,
        id: &ImageId,
        image: &CheckedImage,
        bytes: &[u8],
        uploader: &Uploader,
    ) -> Result<HostedImage> {
        sqlx::query(
            "insert into images (sha256, kind, bytes, width, height, uploaded_by, uploaded_by_upn) \
             values ($1, $2, $3, $4, $5, $6, $7) on conflict (sha256) do nothing",
        )
        .bind(key(id)?)
        .bind(image.kind.extension())
        .bind(bytes)
        .bind(i32::try_from(image.width).unwrap_or(i32::MAX))
        .bind(i32::try_from(image.height).unwrap_or(i32::MAX))
        .bind(uploader.id)
        .bind(&uploader.upn)
        .execute(&self.pool)
        .await?;
        Ok(HostedImage {
            id: id.clone(),
            kind: image.kind,
        })
    }

    /// The image with this id, if Herald has it.
    pub async fn image(&self, id: &ImageId) -> Result<Option<StoredImage>> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("select kind, bytes from images where sha256 = $1")
                .bind(key(id)?)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(kind, bytes)| {
            let kind = ImageKind::from_extension(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("image kind {kind:?}")))?;
            Ok(StoredImage { kind, bytes })
        })
        .transpose()
    }
}

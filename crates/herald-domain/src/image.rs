//! Images authors upload for a card: which files Herald takes, read from
//! their first bytes (never from a file name or a claimed content type),
//! and the stable name Herald serves each one under.
//!
//! Teams shows PNG, JPEG and GIF images of at most 1024 x 1024 pixels in
//! an Adaptive Card (teams-platform.md, "The card"). Every recipient's
//! Teams downloads the image when the card opens, often thousands of people
//! within minutes of a send, many on phones: a 1024 x 1024 JPEG or a
//! flat-colour PNG fits in well under 1 MB, so 1 MB keeps cards quick to
//! open without refusing any image Teams can show well.

use std::fmt;

/// The largest image Herald takes, in bytes.
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// The largest width and height Teams shows in a card, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 1024;

/// Bytes in the "MB" Herald's messages speak of.
const MEGABYTE: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("The file is empty: pick a PNG, JPEG or GIF image")]
    Empty,
    #[error(
        "{} is not a PNG, JPEG or GIF image, the kinds Teams shows in a card: save it as PNG or JPEG and try again",
        .looks_like.map_or("This file".to_owned(), |kind| format!("This file ({kind})"))
    )]
    NotAnImage { looks_like: Option<&'static str> },
    #[error(
        "This image is {} MB; Herald takes images up to {} MB: make it smaller and try again",
        megabytes(*.bytes),
        megabytes(MAX_IMAGE_BYTES)
    )]
    TooLarge { bytes: usize },
    #[error(
        "This image is {width} x {height} pixels; Teams shows images up to {max} x {max}: make it smaller and try again",
        max = MAX_IMAGE_SIDE
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("This {kind} file is damaged or cut short: save it again and try again")]
    Damaged { kind: ImageKind },
}

/// A size in MB with one decimal, rounded up so that anything over the
/// limit never reads as the limit itself ("1.1 MB", not "1.0 MB").
fn megabytes(bytes: usize) -> String {
    let tenths = (bytes as f64 / MEGABYTE * 10.0).ceil() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}")
    } else {
        format!("{tenths:.1}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
        }
    }

    /// The extension of its URL; also how the store names it.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
        }
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        [ImageKind::Png, ImageKind::Jpeg, ImageKind::Gif]
            .into_iter()
            .find(|kind| kind.extension() == extension)
    }

    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else {
            None
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageKind::Png => "PNG",
            ImageKind::Jpeg => "JPEG",
            ImageKind::Gif => "GIF",
        })
    }
}

/// What a file people often try instead is, so the refusal can name it.
fn looks_like(bytes: &[u8]) -> Option<&'static str> {
    let starts = |prefix: &[u8]| bytes.starts_with(prefix);
    if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("a WebP image")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some("a HEIC image or a video")
    } else if starts(b"BM") {
        Some("a BMP image")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("a TIFF image")
    } else if starts(b"%PDF") {
        Some("a PDF document")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("an SVG drawing or other XML")
    } else {
        None
    }
}

/// An image Herald takes: its kind and size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedImage {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
}

/// Checks an uploaded file: a PNG, JPEG or GIF by its first bytes, at most
/// `MAX_IMAGE_BYTES`, and no wider or taller than Teams shows.
pub fn check_image(bytes: &[u8]) -> Result<CheckedImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge { bytes: bytes.len() });
    }
    let kind = ImageKind::sniff(bytes).ok_or(ImageError::NotAnImage {
        looks_like: looks_like(bytes),
    })?;
    let (width, height) = match kind {
        ImageKind::Png => png_size(bytes),
        ImageKind::Gif => gif_size(bytes),
        ImageKind::Jpeg => jpeg_size(bytes),
    }
    .filter(|&(width, height)| width > 0 && height > 0)
    .ok_or(ImageError::Damaged { kind })?;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageError::TooManyPixels { width, height });
    }
    Ok(CheckedImage {
        kind,
        width,
        height,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// The IHDR chunk comes first: its width and height follow the signature,
/// the chunk length and the chunk type.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    (bytes.get(12..16)? == b"IHDR").then_some(())?;
    Some((be_u32(bytes, 16)?, be_u32(bytes, 20)?))
}

/// The logical screen's width and height, little-endian, after "GIF89a".
fn gif_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let b = bytes.get(6..10)?;
    Some((
        u32::from(u16::from_le_bytes([b[0], b[1]])),
        u32::from(u16::from_le_bytes([b[2], b[3]])),
    ))
}

/// Walks the segments to the first start-of-frame marker (SOF0-SOF15 but
/// DHT, JPG and DAC, which share the range), which holds the frame's size.
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        let standalone = matches!(marker, 0x01 | 0xD0..=0xD7);
        if standalone {
            at += 2;
            continue;
        }
        let length = usize::from(be_u16(bytes, at + 2)?);
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = be_u16(bytes, at + 5)?;
            let width = be_u16(bytes, at + 7)?;
            return Some((u32::from(width), u32::from(height)));
        }
        if marker == 0xD9 || marker == 0xDA || length < 2 {
            return None;
        }
        at += 2 + length;
    }
}

/// An uploaded image's id: the SHA-256 of its bytes in lowercase hex, so
/// the same image uploaded twice is one image with one URL, and a URL can
/// never come to mean other bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageId(String);

impl ImageId {
    pub fn from_sha256(digest: &[u8; 32]) -> Self {
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where Herald serves its images, below its public URL.
pub const HOSTED_IMAGES_PATH: &str = "/images/";

/// An image Herald hosts, as named in its URL: `{id}.{extension}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedImage {
    pub id: ImageId,
    pub kind: ImageKind,
}

impl HostedImage {
    /// Reads the last segment of an image URL; `None` for any other name.
    pub fn parse_file_name(name: &str) -> Option<Self> {
        let (id, extension) = name.split_once('.')?;
        Some(Self {
            id: ImageId::parse(id)?,
            kind: ImageKind::from_extension(extension)?,
        })
    }

    /// Its path on Herald's server; the URL is the public URL and this.
    pub fn path(&self) -> String {
        format!("{HOSTED_IMAGES_PATH}{}.{}", self.id, self.kind.extension())
    }

    /// The image a URL's path names, if it is one of Herald's.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::parse_file_name(path.strip_prefix(HOSTED_IMAGES_PATH)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0]);
        bytes
    }

    /// A JPEG's start, an APP0 segment, then a baseline frame header.
    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        bytes.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        bytes.extend_from_slice(&[0xFF, 0xFF, 0xC0, 0x00, 0x11, 0x08]);
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        bytes
    }

    #[test]
    fn takes_png_jpeg_and_gif_by_their_first_bytes() {
        let image = check_image(&png(640, 480)).unwrap();
        assert_eq!(
            (image.kind, image.width, image.height),
            (ImageKind::Png, 640, 480)
        );
        let image = check_image(&jpeg(1024, 768)).unwrap();
        assert_eq!(
            (image.kind, image.width, image.height),
            (ImageKind::Jpeg, 1024, 768)
        );
        let gif = b"GIF89a\x20\x03\x58\x02\0\0\0;";
        let image = check_image(gif).unwrap();
        assert_eq!(
            (image.kind, image.width, image.height),
            (ImageKind::Gif, 800, 600)
        );
    }

    #[test]
    fn refuses_other_files_and_names_what_they_look_like() {
        let webp = b"RIFF\0\0\0\0WEBPVP8 ";
        let error = check_image(webp).unwrap_err();
        assert_eq!(
            error,
            ImageError::NotAnImage {
                looks_like: Some("a WebP image")
            }
        );
        assert!(
            error
                .to_string()
                .contains("This file (a WebP image) is not a PNG, JPEG or GIF"),
            "{error}"
        );
        let error = check_image(b"hello, world").unwrap_err();
        assert!(
            error.to_string().starts_with("This file is not a PNG"),
            "{error}"
        );
        assert_eq!(check_image(b""), Err(ImageError::Empty));
        let cut = &png(10, 10)[..14];
        assert_eq!(
            check_image(cut),
            Err(ImageError::Damaged {
                kind: ImageKind::Png
            })
        );
    }

    #[test]
    fn refuses_what_is_too_large_saying_by_how_much() {
        let mut big = png(100, 100);
        big.resize(6_500_000, 0);
        let error = check_image(&big).unwrap_err();
        assert_eq!(
            error.to_string(),
            "This image is 6.2 MB; Herald takes images up to 1 MB: make it smaller and try again"
        );
        let mut just_over = png(100, 100);
        just_over.resize(MAX_IMAGE_BYTES + 1, 0);
        assert!(
            check_image(&just_over)
                .unwrap_err()
                .to_string()
                .contains("is 1.1 MB")
        );
        let mut at_limit = png(100, 100);
        at_limit.resize(MAX_IMAGE_BYTES, 0);
        assert!(check_image(&at_limit).is_ok());
        let error = check_image(&jpeg(1920, 1080)).unwrap_err();
        assert_eq!(
            error,
            ImageError::TooManyPixels {
                width: 1920,
                height: 1080
            }
        );
        assert!(
            error
                .to_string()
                .contains("1920 x 1080 pixels; Teams shows images up to 1024 x 1024")
        );
    }

    #[test]
    fn hosted_names_round_trip_and_nothing_else_parses() {
        let image = HostedImage {
            id: ImageId::from_sha256(&[0xab; 32]),
            kind: ImageKind::Jpeg,
        };
        let path = image.path();
        assert_eq!(path, format!("/images/{}.jpg", "ab".repeat(32)));
        assert_eq!(HostedImage::from_path(&path), Some(image));
        for name in [
            "x.png",
            &format!("{}.bmp", "ab".repeat(32)),
            &format!("{}.PNG", "AB".repeat(32)),
            &"ab".repeat(32),
        ] {
            assert_eq!(HostedImage::parse_file_name(name), None, "{name}");
        }
    }
}

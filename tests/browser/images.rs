//! Images in the compose page: picking or pasting an image uploads it,
//! fills in the image URL and shows it in the preview; a refused file says
//! why; an image that cannot be loaded gets a note, and typing elsewhere
//! never asks for an image again.

use herald_testkit::images::png;
use herald_testkit::web::plain_client;
use serde_json::{Value, json};

use crate::harness::{
    Browser, assert_accessible, script, text, type_into, wait_for, wait_for_path, wait_for_text,
    wait_until,
};
use crate::site::{
    assert_console_clean, new_announcement, press_action, preview_shows, sign_in, start,
};

/// A file on disk for the file picker, removed when dropped.
struct PickedFile(std::path::PathBuf);

impl PickedFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let folder = std::env::temp_dir().join(format!(
            "herald-image-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(name);
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }
}

impl Drop for PickedFile {
    fn drop(&mut self) {
        if let Some(folder) = self.0.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

async fn pick(browser: &Browser, file: &PickedFile) {
    wait_for(browser, "#image-file")
        .await
        .send_keys(&file.0.display().to_string())
        .await
        .unwrap();
}

async fn image_url_field(browser: &Browser) -> String {
    script(
        browser,
        "return document.getElementById('image_url').value;",
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

/// Waits until the light preview shows the image at `url`, loaded, of
/// `width` pixels.
async fn preview_shows_image(browser: &Browser, url: &str, width: u32) {
    wait_until(
        browser,
        &format!(
            "Array.from(document.querySelectorAll('#preview-light img')).some(function (i) {{ \
               return i.src === {url:?} && i.complete && i.naturalWidth === {width}; }})"
        ),
        "showing the uploaded image in the preview",
    )
    .await;
}

/// How many times the page has fetched `url` (resource timing entries:
/// each request, cached or not; an image the page already holds in memory
/// makes none).
async fn fetches_of(browser: &Browser, url: &str) -> u64 {
    script(
        browser,
        "const url = arguments[0]; \
         return performance.getEntriesByType('resource').filter((e) => e.name === url).length;",
        vec![json!(url)],
    )
    .await
    .as_u64()
    .unwrap()
}

/// Types `words` into the title one character at a time, waiting for the
/// preview to show each step: every step is a fresh rendering of the card.
async fn retitle_key_by_key(browser: &Browser, start: &str, words: &str) {
    let mut title = start.to_owned();
    for letter in words.chars() {
        title.push(letter);
        wait_for(browser, "#title")
            .await
            .send_keys(&letter.to_string())
            .await
            .unwrap();
        preview_shows(browser, title.trim_end()).await;
    }
}

#[tokio::test]
async fn an_image_picked_or_pasted_is_uploaded_shown_in_the_preview_and_kept() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    type_into(&browser, "#title", "Site visit").await;
    preview_shows(&browser, "Site visit").await;

    // Picking a file: it is uploaded, its URL fills the field, the preview
    // shows it.
    let image = png(120, 60, [0, 120, 212]);
    let file = PickedFile::new("visit.png", &image);
    pick(&browser, &file).await;
    wait_for_text(
        &browser,
        "#image-upload-status",
        "Uploaded visit.png (120 x 60 pixels)",
    )
    .await;
    let url = image_url_field(&browser).await;
    let base = herald.web_base();
    assert!(
        url.starts_with(&format!("{base}/images/")) && url.ends_with(".png"),
        "{url}"
    );
    preview_shows_image(&browser, &url, 120).await;
    assert_accessible(&browser, "the compose page after an upload").await;

    // Typing elsewhere draws the card again, from the image in memory.
    retitle_key_by_key(&browser, "Site visit", " now").await;
    preview_shows_image(&browser, &url, 120).await;
    assert_eq!(
        fetches_of(&browser, &url).await,
        1,
        "the image was fetched once"
    );

    // A file that is no image: refused, saying why; the URL stays.
    let notes = PickedFile::new("notes.png", b"Remember the hard hats");
    pick(&browser, &notes).await;
    let said = wait_for_text(
        &browser,
        "#image-upload-status",
        "notes.png was not uploaded",
    )
    .await;
    assert!(
        said.contains("This file is not a PNG, JPEG or GIF image"),
        "{said}"
    );
    assert_eq!(image_url_field(&browser).await, url);

    // Pasting an image (as a screenshot tool puts one on the clipboard)
    // anywhere on the page uploads it the same way.
    let pasted = png(64, 64, [200, 30, 30]);
    let handled = script(
        &browser,
        "const file = new File([new Uint8Array(arguments[0])], 'image.png', { type: 'image/png' }); \
         const data = new DataTransfer(); data.items.add(file); \
         const paste = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }); \
         document.getElementById('summary').dispatchEvent(paste); \
         return paste.defaultPrevented;",
        vec![Value::from(pasted.clone())],
    )
    .await;
    assert_eq!(handled, json!(true), "the page takes the pasted image");
    wait_for_text(
        &browser,
        "#image-upload-status",
        "Uploaded image.png (64 x 64 pixels)",
    )
    .await;
    let pasted_url = image_url_field(&browser).await;
    assert_ne!(pasted_url, url);
    preview_shows_image(&browser, &pasted_url, 64).await;

    // Saved with the draft; served to anyone, byte for byte.
    press_action(&browser, "save").await;
    wait_for_path(&browser, "the saved draft", |p| p.contains("done=saved")).await;
    assert_eq!(image_url_field(&browser).await, pasted_url);
    preview_shows_image(&browser, &pasted_url, 64).await;
    for (address, bytes) in [(&url, &image), (&pasted_url, &pasted)] {
        let served = plain_client().get(address.as_str()).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["Content-Type"], "image/png");
        assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    assert_console_clean(&browser, &herald, "uploading images", &["status of 415"]).await;
    browser.close().await;
    herald.stop().await;
}

#[tokio::test]
async fn an_image_that_cannot_be_loaded_gets_a_note_and_is_asked_for_once() {
    let herald = start().await;
    let browser = Browser::start().await;
    let staff = herald.staff().await;
    sign_in(&browser, &herald, &staff[1].0).await;
    new_announcement(&browser).await;
    let missing = format!("{}/images/{}.png", herald.web_base(), "0".repeat(64));
    type_into(&browser, "#image_url", &missing).await;
    type_into(&browser, "#title", "Road closed").await;
    preview_shows(&browser, "Road closed").await;
    let note = wait_for_text(&browser, "#preview-image-note", "could not be loaded").await;
    assert_eq!(
        note,
        format!("The image at {missing} could not be loaded: Teams will show the card without it.")
    );
    let images = script(
        &browser,
        "return document.querySelectorAll('#preview-light img').length;",
        vec![],
    )
    .await;
    assert_eq!(
        images,
        json!(0),
        "the preview leaves the image out, as Teams does"
    );

    retitle_key_by_key(&browser, "Road closed", " today").await;
    assert_eq!(
        fetches_of(&browser, &missing).await,
        1,
        "asked for once, not on every keystroke"
    );
    assert!(
        text(&browser, "#preview-image-note")
            .await
            .contains("could not be loaded")
    );

    assert_console_clean(
        &browser,
        &herald,
        "an image that cannot be loaded",
        &["status of 404"],
    )
    .await;
    browser.close().await;
    herald.stop().await;
}

//! `herald teams-app`: writes the Teams app package's three files (the
//! manifest and its two icons) for this installation, to be zipped and
//! uploaded in the Teams admin center.

use std::path::Path;

use anyhow::{Context, bail};
use herald_config::Settings;
use herald_microsoft::TeamsApp;

const COLOR_ICON: &[u8] = include_bytes!("../../../web/teams/color.png");
const OUTLINE_ICON: &[u8] = include_bytes!("../../../web/teams/outline.png");

pub fn write(
    settings: &Settings,
    out: &Path,
    version: &str,
    developer: &str,
) -> anyhow::Result<()> {
    let app = describe(settings, version, developer)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let manifest = serde_json::to_string_pretty(&app.manifest())?;
    for (name, bytes) in [
        ("manifest.json", manifest.as_bytes()),
        ("color.png", COLOR_ICON),
        ("outline.png", OUTLINE_ICON),
    ] {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("Wrote the Teams app package's files to {}.", out.display());
    println!("Zip them (no folder inside), then upload the zip in the Teams admin center:");
    println!(
        "  cd {} && zip herald-teams-app.zip manifest.json color.png outline.png",
        out.display()
    );
    Ok(())
}

fn describe(settings: &Settings, version: &str, developer: &str) -> anyhow::Result<TeamsApp> {
    let ms = &settings.microsoft;
    let Some(app_id) = ms.app_id.clone() else {
        bail!(
            "microsoft.app_id is not set: the manifest names the bot's Entra app (set HERALD_MICROSOFT__APP_ID)"
        );
    };
    let Some(public_url) = settings.web.public_url.as_deref() else {
        bail!(
            "web.public_url is not set: Teams opens Herald's tab there (set HERALD_WEB__PUBLIC_URL=https://...)"
        );
    };
    let public_url: url::Url = public_url
        .parse()
        .with_context(|| format!("web.public_url {public_url:?} is not a URL"))?;
    if public_url.scheme() != "https" {
        bail!("web.public_url must be https: Teams shows tabs only from https addresses");
    }
    if version.split('.').count() != 3 || version.split('.').any(|p| p.parse::<u32>().is_err()) {
        bail!(
            "--version {version:?} must be major.minor.patch, e.g. 1.0.0 (raise it for every upload)"
        );
    }
    Ok(TeamsApp {
        manifest_id: ms.manifest_id.clone().unwrap_or_else(|| app_id.clone()),
        app_id,
        public_url,
        version: version.to_owned(),
        developer: developer.to_owned(),
    })
}

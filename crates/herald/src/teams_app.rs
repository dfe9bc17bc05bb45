//! `herald teams-app`: writes the Teams app package for this installation
//! (the manifest and its two icons): as the zip to upload in the Teams
//! admin center when `--out` ends in `.zip`, else as three files in a
//! folder. Admins can download the same zip from the web UI.

use std::path::Path;

use anyhow::{Context, bail};
use herald_config::Settings;
use herald_microsoft::TeamsApp;

pub fn write(
    settings: &Settings,
    out: &Path,
    version: &str,
    developer: &str,
) -> anyhow::Result<()> {
    let app = describe(settings, version, developer)?;
    let package = app.package()?;
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        std::fs::write(out, &package).with_context(|| format!("writing {}", out.display()))?;
        println!("Wrote the Teams app package to {}.", out.display());
        println!("Upload it in the Teams admin center (Teams apps > Manage apps > Upload).");
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(package))?;
    archive
        .extract(out)
        .with_context(|| format!("writing the package's files to {}", out.display()))?;
    println!("Wrote the Teams app package's files to {}.", out.display());
    println!("Zip them (no folder inside), or run again with --out herald-teams-app.zip.");
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
    let app = TeamsApp {
        manifest_id: ms.manifest_id.clone().unwrap_or_else(|| app_id.clone()),
        app_id,
        public_url,
        version: version.to_owned(),
        developer: developer.to_owned(),
    };
    app.check()?;
    Ok(app)
}

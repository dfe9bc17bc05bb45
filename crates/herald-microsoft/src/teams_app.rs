//! The Teams app manifest (teams-platform.md §9): the bot, the web UI as a
//! personal tab, single sign-on for the tab, and the resource-specific
//! permission without which Teams sends no read receipts (§8).

use std::io::Write;

use serde_json::{Value, json};

/// The manifest schema Herald writes.
pub const MANIFEST_VERSION: &str = "1.25";

const COLOR_ICON: &[u8] = include_bytes!("../../../web/teams/color.png");
const OUTLINE_ICON: &[u8] = include_bytes!("../../../web/teams/outline.png");

/// Why an installation cannot have a Teams app package yet.
#[derive(Debug, thiserror::Error)]
pub enum TeamsAppError {
    #[error(
        "web.public_url {0:?} is not https: Teams shows tabs only from https addresses; set web.public_url (HERALD_WEB__PUBLIC_URL) to the https address Teams reaches Herald at"
    )]
    NotHttps(String),
    #[error(
        "the app's version {0:?} must be major.minor.patch, e.g. 1.0.0 (raise it for every upload)"
    )]
    Version(String),
    #[error("cannot write the package's zip")]
    Zip(#[source] std::io::Error),
}

/// What the manifest needs to know of an installation.
#[derive(Debug, Clone)]
pub struct TeamsApp {
    /// The manifest's own id (Graph's `externalId`).
    pub manifest_id: String,
    /// The Entra app id the bot and the tab sign in with.
    pub app_id: String,
    /// Where people open Herald (https in production).
    pub public_url: url::Url,
    /// The app's version, `major.minor.patch`.
    pub version: String,
    /// Who publishes it in this organisation.
    pub developer: String,
}

impl TeamsApp {
    /// What Teams would refuse in this app, said so that an admin can fix it.
    pub fn check(&self) -> Result<(), TeamsAppError> {
        if self.public_url.scheme() != "https" {
            return Err(TeamsAppError::NotHttps(self.public_url.to_string()));
        }
        let parts: Vec<&str> = self.version.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.parse::<u32>().is_err()) {
            return Err(TeamsAppError::Version(self.version.clone()));
        }
        Ok(())
    }

    /// The package to upload in the Teams admin center: a zip of the
    /// manifest and its two icons, with no folder inside.
    pub fn package(&self) -> Result<Vec<u8>, TeamsAppError> {
        self.check()?;
        let manifest = serde_json::to_vec_pretty(&self.manifest()).unwrap_or_default();
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in [
            ("manifest.json", manifest.as_slice()),
            ("color.png", COLOR_ICON),
            ("outline.png", OUTLINE_ICON),
        ] {
            zip.start_file(name, options)
                .map_err(|e| TeamsAppError::Zip(e.into()))?;
            zip.write_all(bytes).map_err(TeamsAppError::Zip)?;
        }
        let cursor = zip.finish().map_err(|e| TeamsAppError::Zip(e.into()))?;
        Ok(cursor.into_inner())
    }

    pub fn manifest(&self) -> Value {
        let base = self.public_url.as_str().trim_end_matches('/');
        let host = self.public_url.host_str().unwrap_or_default();
        json!({
            "$schema": format!("https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"),
            "manifestVersion": MANIFEST_VERSION,
            "version": self.version,
            "id": self.manifest_id,
            "developer": {
                "name": self.developer,
                "websiteUrl": base,
                "privacyUrl": base,
                "termsOfUseUrl": base,
            },
            "name": {"short": "Herald", "full": "Herald announcements"},
            "description": {
                "short": "Your organisation's announcements, in Teams.",
                "full": "Herald delivers your organisation's announcements to you in a chat and to your teams' channels. \
                         Reply stop to receive only critical announcements, start to receive all again, help to see what it does.",
            },
            "icons": {"color": "color.png", "outline": "outline.png"},
            "accentColor": "#5B5FC7",
            "bots": [{
                "botId": self.app_id,
                "scopes": ["personal", "team"],
                "isNotificationOnly": false,
                "supportsFiles": false,
                "commandLists": [{
                    "scopes": ["personal"],
                    "commands": [
                        {"title": "help", "description": "What Herald is and what you can do"},
                        {"title": "stop", "description": "Receive only critical announcements"},
                        {"title": "start", "description": "Receive every announcement again"},
                    ],
                }],
            }],
            "staticTabs": [{
                "entityId": "herald",
                "name": "Herald",
                // The tab's page signs in with Teams' token (SSO through
                // `webApplicationInfo`); Teams fills in its theme, which
                // the pages follow from the first paint.
                "contentUrl": format!("{base}/teams?theme={{theme}}"),
                "websiteUrl": base,
                "scopes": ["personal"],
            }],
            "validDomains": [host],
            "webApplicationInfo": {
                "id": self.app_id,
                "resource": format!("api://{host}/{}", self.app_id),
            },
            "authorization": {"permissions": {"resourceSpecific": [
                {"name": "ChatMessageReadReceipt.Read.Chat", "type": "Application"},
            ]}},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> TeamsApp {
        TeamsApp {
            manifest_id: "2b3c".to_owned(),
            app_id: "a1b2".to_owned(),
            public_url: "https://herald.contoso.example/".parse().unwrap(),
            version: "1.0.0".to_owned(),
            developer: "Contoso".to_owned(),
        }
    }

    #[test]
    fn the_manifest_asks_for_read_receipts_and_frames_herald_as_a_tab() {
        let manifest = app().manifest();
        assert_eq!(
            manifest["authorization"]["permissions"]["resourceSpecific"][0],
            json!({"name": "ChatMessageReadReceipt.Read.Chat", "type": "Application"})
        );
        assert_eq!(manifest["bots"][0]["botId"], "a1b2");
        assert_eq!(
            manifest["staticTabs"][0]["contentUrl"],
            "https://herald.contoso.example/teams?theme={theme}"
        );
        assert_eq!(manifest["validDomains"][0], "herald.contoso.example");
        assert_eq!(
            manifest["webApplicationInfo"]["resource"],
            "api://herald.contoso.example/a1b2"
        );
    }
}

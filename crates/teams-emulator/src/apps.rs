//! Other applications registered in the emulated tenant: services that
//! call Herald's API with their own identity (the client credentials
//! flow), as an enterprise connects an HR system or an incident tool. Each
//! has been granted some of the app roles Herald's registration declares
//! (`Herald.Send`, `Herald.Read`), or none. Their ids are derived from
//! Herald's app id, so they are the same every run.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClientApp {
    pub name: String,
    /// The application (client) id.
    pub app_id: String,
    /// Not a secret: the emulator prints it for anyone to try the API with.
    pub secret: String,
    /// App roles granted on Herald's registration (admin consent given).
    pub roles: Vec<String>,
    /// The object id of its service principal in the tenant (`oid`).
    pub service_principal_id: String,
}

/// (name, slug, roles) of the seeded applications.
const APPS: [(&str, &str, &[&str]); 3] = [
    ("Contoso HR", "hr", &["Herald.Send"]),
    ("Contoso Reporting", "reporting", &["Herald.Read"]),
    ("Contoso Wiki", "wiki", &[]),
];

pub fn client_apps(herald_app_id: &str) -> Vec<ClientApp> {
    let namespace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, herald_app_id.as_bytes());
    APPS.iter()
        .map(|(name, slug, roles)| ClientApp {
            name: (*name).to_owned(),
            app_id: uuid::Uuid::new_v5(&namespace, slug.as_bytes()).to_string(),
            secret: format!("emulator-{slug}-secret"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            service_principal_id: uuid::Uuid::new_v5(&namespace, format!("{slug}-sp").as_bytes())
                .to_string(),
        })
        .collect()
}

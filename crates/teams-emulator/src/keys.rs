//! Signing keys and the JWTs the emulator issues and checks.
//!
//! The RSA keys are fixed files in `keys/`: they sign only emulator tokens,
//! are public by design, and fixed keys spare every start (and every test) an
//! RSA key generation.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub struct Signer {
    pub kid: &'static str,
    encoding: EncodingKey,
    decoding: DecodingKey,
    components: Components,
}

#[derive(Deserialize)]
struct Components {
    n: String,
    e: String,
}

impl Signer {
    fn load(kid: &'static str, pem: &str, jwk: &str) -> Self {
        // The key files are part of the crate; a broken one is a build defect.
        #[allow(clippy::expect_used)]
        let components: Components = serde_json::from_str(jwk).expect("bundled JWK parses");
        #[allow(clippy::expect_used)]
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("bundled PEM parses");
        #[allow(clippy::expect_used)]
        let decoding = DecodingKey::from_rsa_components(&components.n, &components.e)
            .expect("bundled JWK components parse");
        Self {
            kid,
            encoding,
            decoding,
            components,
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.to_owned());
        header.typ = Some("JWT".to_owned());
        // Signing serialisable claims with a valid RSA key cannot fail.
        #[allow(clippy::expect_used)]
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing")
    }

    pub fn jwk(&self, endorsements: Option<&[&str]>) -> Value {
        let mut key = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": self.components.n, "e": self.components.e,
        });
        if let Some(endorsements) = endorsements {
            key["endorsements"] = json!(endorsements);
        }
        key
    }
}

pub struct Keys {
    pub entra: Signer,
    pub botframework: Signer,
    verified: RwLock<HashMap<String, AccessClaims>>,
}

/// Claims of the access tokens the emulator issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub tid: String,
    pub appid: String,
    pub azp: String,
    pub sub: String,
    pub oid: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Invalid(String),
    WrongAudience,
}

pub const TOKEN_LIFETIME_SECS: u64 = 3600;

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Keys {
    pub fn bundled() -> Self {
        Self {
            entra: Signer::load(
                "herald-emulator-entra-1",
                include_str!("../keys/entra.pem"),
                include_str!("../keys/entra.jwk.json"),
            ),
            botframework: Signer::load(
                "herald-emulator-botframework-1",
                include_str!("../keys/botframework.pem"),
                include_str!("../keys/botframework.jwk.json"),
            ),
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header value for a token the emulator's
    /// Entra issued to `audience`. Verified tokens are remembered, because
    /// an RSA verification per request would make the emulator the
    /// bottleneck of every benchmark.
    pub fn check_bearer(
        &self,
        header: Option<&str>,
        audience: &str,
    ) -> Result<AccessClaims, TokenProblem> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenProblem::Missing)?;
        let cached = self
            .verified
            .read()
            .ok()
            .and_then(|cache| cache.get(token).cloned());
        let claims = match cached {
            Some(claims) => claims,
            None => self.verify(token)?,
        };
        if claims.exp <= now_secs() {
            return Err(TokenProblem::Invalid(
                "Lifetime validation failed, the token is expired.".into(),
            ));
        }
        if claims.aud != audience {
            return Err(TokenProblem::WrongAudience);
        }
        Ok(claims)
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenProblem> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.entra.decoding, &validation)
            .map_err(|e| {
            TokenProblem::Invalid(format!("IDX10511: signature validation failed: {e}"))
        })?;
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(token.to_owned(), data.claims.clone());
        }
        Ok(data.claims)
    }
}

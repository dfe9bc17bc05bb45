//! Signing keys and the JWTs the emulator issues and checks.
//!
//! The RSA keys are fixed files in `keys/`: they sign only emulator tokens,
//! are public by design, and fixed keys spare every start (and every test) an
//! RSA key generation. Entra ID's key can be rotated (`/_emulator/entra/
//! rotate-keys`): the emulator then signs with the other bundled key under
//! a new key id, as Entra does when it rolls its keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub struct Signer {
    pub kid: String,
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
    fn load(kid: String, pem: &str, jwk: &str) -> Self {
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
        header.kid = Some(self.kid.clone());
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

/// Entra's bundled key materials, used in turn as its keys are rotated.
const ENTRA_KEYS: [(&str, &str); 2] = [
    (
        include_str!("../keys/entra.pem"),
        include_str!("../keys/entra.jwk.json"),
    ),
    (
        include_str!("../keys/entra-rotated.pem"),
        include_str!("../keys/entra-rotated.jwk.json"),
    ),
];

/// Entra ID's signing keys: the one it signs with, and the one before the
/// last rotation, still published (as Entra keeps a retired key listed
/// while tokens signed with it may be in use).
struct EntraKeys {
    current: Arc<Signer>,
    previous: Option<Arc<Signer>>,
    rotations: usize,
}

impl EntraKeys {
    fn signer(rotations: usize) -> Arc<Signer> {
        let (pem, jwk) = ENTRA_KEYS[rotations % ENTRA_KEYS.len()];
        Arc::new(Signer::load(
            format!("herald-emulator-entra-{}", rotations + 1),
            pem,
            jwk,
        ))
    }

    fn published(&self) -> impl Iterator<Item = &Arc<Signer>> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

pub struct Keys {
    entra: RwLock<EntraKeys>,
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
            entra: RwLock::new(EntraKeys {
                current: EntraKeys::signer(0),
                previous: None,
                rotations: 0,
            }),
            botframework: Signer::load(
                "herald-emulator-botframework-1".to_owned(),
                include_str!("../keys/botframework.pem"),
                include_str!("../keys/botframework.jwk.json"),
            ),
            verified: RwLock::new(HashMap::new()),
        }
    }

    fn entra(&self) -> std::sync::RwLockReadGuard<'_, EntraKeys> {
        // Every change under the lock is a plain assignment.
        self.entra.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs with Entra ID's current key.
    pub fn entra_sign<T: Serialize>(&self, claims: &T) -> String {
        let signer = self.entra().current.clone();
        signer.sign(claims)
    }

    /// Entra ID's published keys, the current one first.
    pub fn entra_jwks(&self) -> Vec<Value> {
        self.entra().published().map(|s| s.jwk(None)).collect()
    }

    /// Rolls Entra ID's keys: tokens are signed with a new key id from now
    /// on, and the key before it stays published. Returns the new key id.
    pub fn rotate_entra(&self) -> String {
        let mut keys = self.entra.write().unwrap_or_else(|p| p.into_inner());
        keys.rotations += 1;
        let next = EntraKeys::signer(keys.rotations);
        keys.previous = Some(std::mem::replace(&mut keys.current, next));
        keys.current.kid.clone()
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
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenProblem::Invalid(format!("IDX14100: JWT is not well formed: {e}")))?
            .kid;
        let signer = self
            .entra()
            .published()
            .find(|s| Some(&s.kid) == kid.as_ref())
            .cloned()
            .ok_or_else(|| {
                TokenProblem::Invalid(format!(
                    "IDX10503: Signature validation failed. The token's kid {kid:?} is not among the keys."
                ))
            })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &signer.decoding, &validation)
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

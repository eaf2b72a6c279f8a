//! Sign-in with the school's OpenID Connect provider (R9, R16): the
//! authorization code flow with PKCE (RFC 7636), the registry as a
//! confidential client.
//!
//! The registry finds the provider's endpoints and keys by discovery, sends
//! the browser there with a state, a nonce and a PKCE challenge, exchanges
//! the code it gets back for an ID token, and believes that token only after
//! checking its signature against the provider's keys, its issuer, audience,
//! expiry and nonce. The user's name and groups are the token's claims.
//!
//! Only RS256, PS256 and ES256 signatures are taken: never `none`, never a
//! shared-secret HMAC that would let anyone who knows the client secret
//! write tokens.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{Identity, SignInMethod};

/// How long the provider may take to answer one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How far the provider's clock may be off ours.
const CLOCK_SKEW: i64 = 120;
/// The largest answer read from the provider (a key set, a token).
const MAX_ANSWER: u64 = 256 * 1024;
/// The most groups taken from a token.
const MAX_GROUPS: usize = 500;
/// How a token signed with a key the provider's set (as last read) does
/// not list is refused: the provider may have turned its keys over.
pub const UNKNOWN_KEY: &str = "is signed with a key the provider does not list";

/// The school's provider and this registry's registration there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer, exactly as the provider names itself (`https://idp.example/realms/schule`).
    pub issuer: String,
    /// The registry's client id at the provider.
    pub client_id: String,
    /// The registry's client secret. Secret.
    pub client_secret: String,
    /// Where the provider sends the browser back: this registry's
    /// `/oidc/callback`, as registered at the provider.
    pub redirect_uri: String,
    /// The scopes asked for.
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// The claim that holds the user name.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim that holds the user's groups (a list of names).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// What the sign-in button says ("IServ", "Schulportal").
    #[serde(default = "default_label")]
    pub label: String,
    /// The CA that issued the provider's certificate (PEM), if not a public one.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// `openid`, the name (`profile`) and the groups.
pub fn default_scopes() -> String {
    "openid profile groups".into()
}

/// The user name as providers commonly give it.
pub fn default_user_claim() -> String {
    "preferred_username".into()
}

/// Groups as Keycloak, Authentik and many school portals name the claim.
pub fn default_groups_claim() -> String {
    "groups".into()
}

/// The button's text when the admin names none.
pub fn default_label() -> String {
    "OpenID Connect".into()
}

/// Why a sign-in with the provider did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or answered nonsense.
    #[error("the identity provider {issuer} failed: {reason}")]
    Unavailable {
        /// The issuer.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider said no, or what came back is not to be believed.
    #[error("the sign-in with the identity provider was refused: {0}")]
    Refused(String),
    /// The settings are unusable.
    #[error("the identity provider settings are unusable: {0}")]
    Settings(String),
}

/// A provider as discovery describes it, with its keys.
#[derive(Clone, Debug)]
pub struct Provider {
    settings: OidcSettings,
    authorization_endpoint: String,
    token_endpoint: String,
    keys: Vec<Jwk>,
}

/// One key of the provider's key set (RFC 7517), as far as it is used.
#[derive(Clone, Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

impl OidcSettings {
    /// Checks what can be checked without the provider.
    pub fn check(&self) -> Result<(), OidcError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| OidcError::Settings(format!("the issuer '{}': {e}", self.issuer)))?;
        secure_enough(&issuer)
            .map_err(|e| OidcError::Settings(format!("the issuer {}: {e}", self.issuer)))?;
        let redirect = url::Url::parse(&self.redirect_uri).map_err(|e| {
            OidcError::Settings(format!("the redirect address '{}': {e}", self.redirect_uri))
        })?;
        secure_enough(&redirect).map_err(|e| {
            OidcError::Settings(format!("the redirect address {}: {e}", self.redirect_uri))
        })?;
        if !redirect.path().ends_with("/oidc/callback") {
            return Err(OidcError::Settings(format!(
                "the redirect address must be this registry's /oidc/callback, not {}",
                self.redirect_uri
            )));
        }
        if self.client_id.trim().is_empty() || self.client_secret.is_empty() {
            return Err(OidcError::Settings(
                "the client id and the client secret are needed".into(),
            ));
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(OidcError::Settings("the scopes must include openid".into()));
        }
        if self.label.trim().is_empty() || self.label.chars().count() > 40 {
            return Err(OidcError::Settings(
                "the button's label has 1 to 40 characters".into(),
            ));
        }
        if let Some(ca) = &self.ca_pem {
            ureq::tls::Certificate::from_pem(ca.as_bytes())
                .map_err(|e| OidcError::Settings(format!("the provider's CA: {e}")))?;
        }
        Ok(())
    }

    /// The settings without the client secret, to show.
    pub fn redacted(&self) -> Self {
        Self {
            client_secret: "********".into(),
            ..self.clone()
        }
    }

    /// Reads the provider's endpoints and keys (OpenID Connect Discovery).
    /// Blocking: call it off the async threads.
    pub fn discover(&self) -> Result<Provider, OidcError> {
        self.check()?;
        let http = self.http()?;
        let unavailable = |reason: String| OidcError::Unavailable {
            issuer: self.issuer.clone(),
            reason,
        };
        let address = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let metadata: Value = get_json(&http, &address).map_err(unavailable)?;
        let text = |name: &str| {
            metadata
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| unavailable(format!("its discovery document has no {name}")))
        };
        // OpenID Connect Discovery 1.0, 4.3: the issuer must be the one asked.
        if text("issuer")? != self.issuer {
            return Err(unavailable(format!(
                "it calls itself {}, not {}",
                text("issuer")?,
                self.issuer
            )));
        }
        let endpoints = [
            text("authorization_endpoint")?,
            text("token_endpoint")?,
            text("jwks_uri")?,
        ];
        for endpoint in &endpoints {
            let parsed = url::Url::parse(endpoint)
                .map_err(|e| unavailable(format!("its endpoint {endpoint}: {e}")))?;
            secure_enough(&parsed).map_err(|e| unavailable(format!("{endpoint}: {e}")))?;
        }
        let [authorization_endpoint, token_endpoint, jwks_uri] = endpoints;
        let set: Value = get_json(&http, &jwks_uri).map_err(unavailable)?;
        let keys: Vec<Jwk> = set
            .get("keys")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| unavailable(format!("its key set: {e}")))?
            .unwrap_or_default();
        if keys.is_empty() {
            return Err(unavailable("its key set is empty".into()));
        }
        Ok(Provider {
            settings: self.clone(),
            authorization_endpoint,
            token_endpoint,
            keys,
        })
    }

    fn http(&self) -> Result<ureq::Agent, OidcError> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots = match &self.ca_pem {
            Some(ca) => RootCerts::new_with_certs(&[Certificate::from_pem(ca.as_bytes())
                .map_err(|e| OidcError::Settings(format!("the provider's CA: {e}")))?]),
            None => RootCerts::WebPki,
        };
        Ok(ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_global(Some(CALL_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into())
    }
}

impl Provider {
    /// The settings it was found with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Where to send the browser: the provider's authorization endpoint
    /// with this registry's client, `state`, `nonce` and PKCE `challenge`.
    /// With `login`, the provider asks for the password even if the browser
    /// is signed in there already.
    pub fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        challenge: &str,
        login: bool,
    ) -> String {
        let mut url = match url::Url::parse(&self.authorization_endpoint) {
            Ok(url) => url,
            // Checked by discovery.
            Err(_) => return self.authorization_endpoint.clone(),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", &self.settings.scopes)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if login {
            url.query_pairs_mut().append_pair("prompt", "login");
        }
        url.into()
    }

    /// Exchanges `code` (with the PKCE `verifier`) for an ID token, checks
    /// it, and returns who signed in. Blocking.
    pub fn sign_in(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) -> Result<Identity, OidcError> {
        let http = self.settings.http()?;
        let unavailable = |reason: String| OidcError::Unavailable {
            issuer: self.settings.issuer.clone(),
            reason,
        };
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_encode(&self.settings.client_id),
            form_encode(&self.settings.client_secret)
        ));
        let response = http
            .post(&self.token_endpoint)
            .header("Authorization", &format!("Basic {credentials}"))
            .header("Accept", "application/json")
            .send_form([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.settings.redirect_uri),
                ("code_verifier", verifier),
            ])
            .map_err(|e| unavailable(format!("its token endpoint: {e}")))?;
        let status = response.status().as_u16();
        let body: Value = read_json(response).map_err(unavailable)?;
        if status != 200 {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            let description = body
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(OidcError::Refused(format!(
                "the code was not accepted (HTTP {status}: {} {})",
                cut(error),
                cut(description)
            )));
        }
        let token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable("its token answer has no id_token".into()))?;
        let claims = self.verify(token, nonce, now)?;
        identity(&claims, &self.settings)
    }

    /// The claims of `token`, if its signature, issuer, audience, times
    /// and nonce are right.
    fn verify(
        &self,
        token: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) -> Result<Map<String, Value>, OidcError> {
        verify_id_token(
            token,
            &self.keys,
            &self.settings.issuer,
            &self.settings.client_id,
            nonce,
            now,
        )
    }
}

/// Checks an ID token (OpenID Connect Core 1.0, 3.1.3.7) against `keys`.
fn verify_id_token(
    token: &str,
    keys: &[Jwk],
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: OffsetDateTime,
) -> Result<Map<String, Value>, OidcError> {
    let refused = |why: &str| OidcError::Refused(format!("the ID token {why}"));
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("is not a signed JWT"));
    };
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| refused("is not base64url"))
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(header)?).map_err(|_| refused("has a bad header"))?;
    let algorithm = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(refused(UNKNOWN_KEY));
    }
    let signed = format!(
        "{}.{}",
        token.split('.').next().unwrap_or_default(),
        token.split('.').nth(1).unwrap_or_default()
    );
    let signature = decode(signature)?;
    let good = candidates
        .iter()
        .any(|key| key.verifies(algorithm, signed.as_bytes(), &signature));
    if !good {
        return Err(refused(&format!(
            "has no valid signature (algorithm {})",
            cut(algorithm)
        )));
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(payload)?).map_err(|_| refused("has bad claims"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(refused("is from another issuer"));
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(one)) => one == client_id,
        Some(Value::Array(many)) => {
            many.iter().any(|a| a.as_str() == Some(client_id))
                && (many.len() == 1 || azp == Some(client_id))
        }
        _ => false,
    };
    // An authorized party, where named, must be this client too.
    if !audience_ok || azp.is_some_and(|party| party != client_id) {
        return Err(refused("is for another client"));
    }
    let now = now.unix_timestamp();
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    if time("exp").unwrap_or(0).saturating_add(CLOCK_SKEW) < now {
        return Err(refused("has expired"));
    }
    if time("iat").is_some_and(|issued| issued > now.saturating_add(CLOCK_SKEW)) {
        return Err(refused("was issued in the future"));
    }
    if time("nbf").is_some_and(|from| from > now.saturating_add(CLOCK_SKEW)) {
        return Err(refused("is not valid yet"));
    }
    let token_nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !crate::secret::equal(token_nonce, nonce) {
        return Err(refused("belongs to another sign-in (nonce)"));
    }
    Ok(claims)
}

/// Who the claims name: the user claim, and the groups claim (a list, or
/// one name).
fn identity(claims: &Map<String, Value>, settings: &OidcSettings) -> Result<Identity, OidcError> {
    let user = claims
        .get(&settings.user_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty() && u.chars().count() <= 64 && !u.chars().any(char::is_control))
        .ok_or_else(|| {
            OidcError::Refused(format!(
                "the ID token carries no usable user name in the claim '{}'",
                settings.user_claim
            ))
        })?;
    let mut groups: Vec<String> = match claims.get(&settings.groups_claim) {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => vec![],
    };
    groups.retain(|g| !g.is_empty() && g.chars().count() <= 256);
    groups.sort();
    groups.dedup();
    groups.truncate(MAX_GROUPS);
    Ok(Identity {
        user: user.to_owned(),
        groups,
        method: SignInMethod::Oidc,
    })
}

impl Jwk {
    /// Whether this key made `signature` over `message` with `algorithm`.
    fn verifies(&self, algorithm: &str, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as sig;
        let bytes = |part: &Option<String>| {
            part.as_deref().and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p.trim_end_matches('='))
                    .ok()
            })
        };
        match (self.kty.as_str(), algorithm) {
            ("RSA", "RS256" | "PS256") => {
                let (Some(n), Some(e)) = (bytes(&self.n), bytes(&self.e)) else {
                    return false;
                };
                let parameters = if algorithm == "RS256" {
                    &sig::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &sig::RSA_PSS_2048_8192_SHA256
                };
                sig::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(parameters, message, signature)
                    .is_ok()
            }
            ("EC", "ES256") if self.crv.as_deref() == Some("P-256") => {
                let (Some(x), Some(y)) = (bytes(&self.x), bytes(&self.y)) else {
                    return false;
                };
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// HTTPS, or plain HTTP on a loopback address (a provider on the same machine, in tests).
fn secure_enough(url: &url::Url) -> Result<(), String> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(format!(
            "must be an https:// address (http:// only on this machine), not {other}://"
        )),
    }
}

fn get_json(http: &ureq::Agent, address: &str) -> Result<Value, String> {
    let response = http
        .get(address)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| format!("{address}: {e}"))?;
    if response.status() != 200 {
        return Err(format!("{address} answered HTTP {}", response.status()));
    }
    read_json(response)
}

fn read_json(mut response: ureq::http::Response<ureq::Body>) -> Result<Value, String> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_json()
        .map_err(|e| format!("its answer is not JSON: {e}"))
}

/// `application/x-www-form-urlencoded`, as HTTP Basic credentials of a
/// client must be (RFC 6749, 2.3.1).
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// At most 200 characters of a provider's words.
fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    const ISSUER: &str = "https://idp.schule.example";

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: ISSUER.into(),
            client_id: "pult".into(),
            client_secret: "geheim".into(),
            redirect_uri: "https://registry.schule.example/oidc/callback".into(),
            scopes: default_scopes(),
            user_claim: default_user_claim(),
            groups_claim: default_groups_claim(),
            label: "IServ".into(),
            ca_pem: None,
        }
    }

    /// An ES256 key pair, its JWK, and a signer of tokens with it.
    struct Signer {
        pair: ring::signature::EcdsaKeyPair,
        jwk: Jwk,
    }

    impl Signer {
        fn new(kid: &str) -> Self {
            let rng = ring::rand::SystemRandom::new();
            let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let pair =
                ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
            let point = pair.public_key().as_ref();
            let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let jwk = Jwk {
                kty: "EC".into(),
                kid: Some(kid.into()),
                usage: Some("sig".into()),
                n: None,
                e: None,
                crv: Some("P-256".into()),
                x: Some(b64(&point[1..33])),
                y: Some(b64(&point[33..65])),
            };
            Self { pair, jwk }
        }

        fn token(&self, header: Value, claims: Value) -> String {
            let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let signed = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let rng = ring::rand::SystemRandom::new();
            let signature = self.pair.sign(&rng, signed.as_bytes()).unwrap();
            format!("{signed}.{}", b64(signature.as_ref()))
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn claims() -> Value {
        serde_json::json!({
            "iss": ISSUER, "aud": "pult", "sub": "4711", "nonce": "n-1",
            "exp": 1_800_000_300, "iat": 1_800_000_000,
            "preferred_username": "mueller", "groups": ["lehrer", "fachschaft-mathe"],
        })
    }

    fn header() -> Value {
        serde_json::json!({"alg": "ES256", "kid": "k1"})
    }

    fn check(signer: &Signer, token: &str) -> Result<Map<String, Value>, OidcError> {
        verify_id_token(
            token,
            std::slice::from_ref(&signer.jwk),
            ISSUER,
            "pult",
            "n-1",
            now(),
        )
    }

    #[test]
    fn a_good_token_names_the_user_and_groups() {
        let signer = Signer::new("k1");
        let claims = check(&signer, &signer.token(header(), claims())).unwrap();
        let who = identity(&claims, &settings()).unwrap();
        assert_eq!(who.user, "mueller");
        assert_eq!(who.groups, ["fachschaft-mathe", "lehrer"]);
        assert_eq!(who.method, SignInMethod::Oidc);
    }

    #[test]
    fn every_wrong_part_of_a_token_is_refused_with_its_reason() {
        let signer = Signer::new("k1");
        let with = |change: &dyn Fn(&mut Value)| {
            let mut c = claims();
            change(&mut c);
            c
        };
        let cases: Vec<(String, &str)> = vec![
            (
                signer.token(
                    header(),
                    with(&|c| c["iss"] = "https://evil.example".into()),
                ),
                "another issuer",
            ),
            (
                signer.token(header(), with(&|c| c["aud"] = "other-client".into())),
                "another client",
            ),
            (
                signer.token(
                    header(),
                    with(&|c| c["aud"] = serde_json::json!(["pult", "other"])),
                ),
                "another client",
            ),
            (
                signer.token(header(), with(&|c| c["exp"] = 1_799_999_000.into())),
                "expired",
            ),
            (
                signer.token(header(), with(&|c| c["iat"] = 1_800_009_000.into())),
                "future",
            ),
            (
                signer.token(header(), with(&|c| c["nonce"] = "n-2".into())),
                "nonce",
            ),
            (
                signer.token(header(), with(&|c| c["nbf"] = 1_800_009_000.into())),
                "not valid yet",
            ),
            (
                signer.token(header(), with(&|c| c["azp"] = "other-client".into())),
                "another client",
            ),
            (
                signer.token(serde_json::json!({"alg": "ES256", "kid": "k9"}), claims()),
                "does not list",
            ),
            (
                signer.token(serde_json::json!({"alg": "none", "kid": "k1"}), claims()),
                "no valid signature",
            ),
            (
                signer.token(serde_json::json!({"alg": "HS256", "kid": "k1"}), claims()),
                "no valid signature",
            ),
            (
                // Signed by another key under the same kid.
                Signer::new("k1").token(header(), claims()),
                "no valid signature",
            ),
            ("a.b".into(), "not a signed JWT"),
            ("%%%.%%%.%%%".into(), "base64url"),
        ];
        for (token, expected) in cases {
            let error = check(&signer, &token).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        // A changed payload under the old signature.
        let good = signer.token(header(), claims());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            with(&|c| c["groups"] = serde_json::json!(["admins"]))
                .to_string()
                .as_bytes(),
        );
        parts[1] = &forged;
        let error = check(&signer, &parts.join(".")).unwrap_err().to_string();
        assert!(error.contains("no valid signature"), "{error}");
    }

    #[test]
    fn a_token_ending_at_the_end_of_time_is_checked_without_overflow() {
        let signer = Signer::new("k1");
        let mut c = claims();
        c["exp"] = i64::MAX.into();
        assert!(check(&signer, &signer.token(header(), c)).is_ok());
    }

    #[test]
    fn a_token_without_a_user_name_is_refused_and_one_group_may_be_a_string() {
        let s = settings();
        let mut c = claims();
        c.as_object_mut().unwrap().remove("preferred_username");
        let error = identity(c.as_object().unwrap(), &s)
            .unwrap_err()
            .to_string();
        assert!(error.contains("preferred_username"), "{error}");
        let mut c = claims();
        c["groups"] = "lehrer".into();
        assert_eq!(
            identity(c.as_object().unwrap(), &s).unwrap().groups,
            ["lehrer"]
        );
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert!(settings().check().is_ok());
        let bad = |change: fn(&mut OidcSettings), expected: &str| {
            let mut s = settings();
            change(&mut s);
            let error = s.check().unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        };
        bad(|s| s.issuer = "http://idp.example".into(), "https://");
        bad(|s| s.issuer = "idp".into(), "the issuer");
        bad(
            |s| s.redirect_uri = "https://registry/elsewhere".into(),
            "/oidc/callback",
        );
        bad(|s| s.client_secret = String::new(), "client secret");
        bad(|s| s.scopes = "profile".into(), "openid");
        bad(|s| s.ca_pem = Some("nonsense".into()), "CA");
        let mut local = settings();
        local.issuer = "http://127.0.0.1:8080".into();
        assert!(local.check().is_ok(), "plain HTTP on loopback");
        assert!(
            !serde_json::to_string(&settings().redacted())
                .unwrap()
                .contains("geheim")
        );
    }
}

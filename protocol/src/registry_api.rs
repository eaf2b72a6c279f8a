//! The registry server's JSON API: the bodies both ends agree on. The
//! server's OpenAPI document describes the same shapes.

use serde::{Deserialize, Serialize};

use crate::credentials::{DeviceManifest, RoomManifest};
use crate::pki::Fingerprint;

/// The path prefix of every call.
pub const API: &str = "/api/v1";

/// An error: a stable code for programs and a message in words for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, e.g. `token-refused`, `not-authorised`, `sign-in-required`.
    pub code: String,
    /// What was wrong.
    pub message: String,
}

/// `GET /ca`: the school CA.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaBody {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// Its SHA-256 fingerprint.
    pub fingerprint: String,
}

/// `POST /enrol`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The enrolment token as the admin got it.
    pub token: String,
    /// The device's name (its host name, usually).
    pub name: String,
    /// A certificate request for the key the device made.
    pub request_pem: String,
}

/// What an enrolling device receives.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enrolment {
    /// Who the device is.
    pub manifest: DeviceManifest,
    /// The school CA.
    pub ca_pem: String,
    /// The device's certificate.
    pub certificate_pem: String,
    /// Whether it is a teacher PC.
    pub teacher: bool,
}

/// `POST /sign-in`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Tokens after a sign-in or a refresh.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tokens {
    /// For `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Exchanged once for new tokens at `POST /token`.
    pub refresh_token: String,
    /// Who signed in.
    pub user: String,
    /// Whether they are an admin.
    pub admin: bool,
}

/// `GET /sign-in/methods`: how teachers sign in at this registry, for the
/// app's sign-in screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInMethods {
    /// User name and password (local accounts or the school's directory).
    pub password: bool,
    /// The school's OpenID Connect provider, by the name its button shows;
    /// none if there is no provider.
    pub browser: Option<String>,
}

/// Where the app sends the teacher's browser to sign in with the school's
/// identity provider (RFC 8252): with `redirect_uri` (a loopback address of
/// the app's), `state`, and `code_challenge` with method `S256` (RFC 7636).
pub const BROWSER_SIGN_IN_PATH: &str = "/oidc/start";

/// `POST /sign-in/code`: the code the browser brought back to the app's
/// loopback address, exchanged for tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeExchange {
    /// The code from the redirect.
    pub code: String,
    /// The PKCE verifier whose challenge started the sign-in.
    pub code_verifier: String,
    /// The redirect address the sign-in was started with.
    pub redirect_uri: String,
}

/// A PKCE pair (RFC 7636): the verifier stays with whoever started a
/// sign-in, the challenge travels with it.
#[derive(Clone, Debug)]
pub struct Pkce {
    /// 43 characters of base64url from 32 random bytes.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A new random pair.
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        // The operating system's generator failing leaves no cryptography
        // usable; a predictable verifier must never be handed out.
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
            panic!("the operating system's random number generator failed");
        }
        let verifier = base64url(&bytes);
        Self {
            challenge: Self::challenge_of(&verifier),
            verifier,
        }
    }

    /// The S256 challenge of `verifier`.
    pub fn challenge_of(verifier: &str) -> String {
        base64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// Base64url without padding (RFC 4648, section 5), as JOSE and PKCE write it.
pub fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /token` and `POST /sign-out`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// `GET /rooms`: the rooms this teacher PC is for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rooms {
    /// The PC's name.
    pub device: String,
    /// Its rooms: the one it stands in first.
    pub rooms: Vec<String>,
}

/// `POST /room-certificate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomCertificateRequest {
    /// The room; by default the one the PC stands in.
    pub room: Option<String>,
    /// A certificate request for the key the app made.
    pub request_pem: String,
}

/// A room certificate for the key the app made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomCertificateBody {
    /// The room and its devices.
    pub manifest: RoomManifest,
    /// The school CA.
    pub ca_pem: String,
    /// The room certificate.
    pub certificate_pem: String,
}

/// `PUT /devices/{name}/steerable`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteerableRequest {
    /// Whether teachers may reach the device (R10).
    pub steerable: bool,
}

/// `POST /enrolment-tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// A note for the list.
    #[serde(default)]
    pub label: String,
    /// The room new devices go to.
    #[serde(default)]
    pub room: Option<String>,
    /// It enrols teacher PCs.
    #[serde(default)]
    pub teacher: bool,
    /// How many devices may enrol with it.
    pub uses: u32,
    /// Hours it is valid.
    pub hours: u32,
}

/// A new enrolment token; its text is shown once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewToken {
    /// What the installer is given.
    pub token: String,
    /// Its number in the list.
    pub id: i64,
}

/// An enrolment token as an admin copies it into an installer: the secret,
/// a dot, and the fingerprint of the school CA. The fingerprint lets a
/// device that trusts nothing yet check that the registry it reaches is the
/// school's before it sends anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentTokenText {
    /// The secret part; the registry keeps its hash.
    pub secret: String,
    /// The school CA's fingerprint.
    pub ca: Fingerprint,
}

/// Length of an enrolment token's secret in hex digits (128 bits).
pub const ENROLMENT_SECRET_DIGITS: usize = 32;

impl std::fmt::Display for EnrolmentTokenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.secret, self.ca)
    }
}

impl std::str::FromStr for EnrolmentTokenText {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let shape = || {
            format!(
                "an enrolment token is {ENROLMENT_SECRET_DIGITS} hexadecimal digits, a dot and \
                 the CA's fingerprint (64 digits), as the registry printed it; this has {} characters",
                text.chars().count()
            )
        };
        let (secret, ca) = text.split_once('.').ok_or_else(shape)?;
        if secret.len() != ENROLMENT_SECRET_DIGITS || !secret.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(shape());
        }
        Ok(Self {
            secret: secret.to_ascii_lowercase(),
            ca: ca.parse().map_err(|_| shape())?,
        })
    }
}

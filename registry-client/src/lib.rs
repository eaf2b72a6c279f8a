//! pult-registry-client: how agents and teachers' apps talk to the registry
//! server — enrolment, sign-in, tokens, room certificates.
//!
//! It owns trust in the registry: a device that trusts nothing yet checks
//! the school CA against the fingerprint its enrolment token carries before
//! it sends anything; from then on only the school CA is trusted, and a
//! teacher PC shows its own device certificate on every call. Keys are made
//! here and never leave this computer.
//!
//! It must never write files: callers decide where credentials go.
#![warn(missing_docs)]

pub mod browser;

use std::time::Duration;

use pult_protocol::credentials::{DeviceManifest, RoomManifest};
use pult_protocol::pki::{Fingerprint, KeyAndRequest};
use pult_protocol::registry_api::{
    API, CaBody, CodeExchange, EnrolRequest, Enrolment, EnrolmentTokenText, ErrorBody,
    RefreshRequest, RoomCertificateBody, RoomCertificateRequest, Rooms, SignInMethods,
    SignInRequest, Tokens,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to the registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached, or the TLS handshake failed.
    #[error("could not reach the registry at {url}: {detail}")]
    Unreachable {
        /// The registry's address.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The registry answered with an error.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The stable code (`token-refused`, `not-authorised`, …).
        code: String,
        /// What the registry said.
        message: String,
    },
    /// The server at the address is not the school's registry.
    #[error(
        "the server at {url} holds a CA with fingerprint {got}, not {expected} as the token \
         says: it is not this school's registry (or the token is from another school)"
    )]
    WrongRegistry {
        /// The address.
        url: String,
        /// The fingerprint in the token.
        expected: Fingerprint,
        /// The fingerprint the server showed.
        got: String,
    },
    /// An answer could not be read, or a credential was unusable.
    #[error("{0}")]
    Protocol(String),
}

/// A connection to one registry.
#[derive(Clone)]
pub struct RegistryClient {
    base: String,
    agent: ureq::Agent,
}

/// What enrolment gives a device: everything of its bundle.
#[derive(Clone, Debug)]
pub struct EnrolledDevice {
    /// Who the device is.
    pub manifest: DeviceManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// The device certificate, PEM.
    pub certificate_pem: String,
    /// The key made here, PEM. Secret.
    pub key_pem: String,
    /// Whether it is a teacher PC.
    pub teacher: bool,
}

/// A room certificate with the key made here.
#[derive(Clone, Debug)]
pub struct IssuedRoom {
    /// The room and its devices.
    pub manifest: RoomManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// The room certificate, PEM.
    pub certificate_pem: String,
    /// Its key, PEM. Secret.
    pub key_pem: String,
}

/// Enrols this computer as `name` at the registry at `url` with the
/// enrolment `token` (which carries the school CA's fingerprint).
pub fn enrol(url: &str, token: &str, name: &str) -> Result<EnrolledDevice, ClientError> {
    let parsed: EnrolmentTokenText = token.parse().map_err(ClientError::Protocol)?;
    let (client, _) = RegistryClient::discover(url, parsed.ca)?;
    client.enrol(&parsed.to_string(), name)
}

/// This computer's name, as a device name should be: its host name.
pub fn host_name() -> Option<String> {
    #[cfg(windows)]
    let name = std::env::var("COMPUTERNAME").ok();
    #[cfg(not(windows))]
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok();
    name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

impl RegistryClient {
    /// Reaches the registry at `url` trusting nothing yet: fetches its CA,
    /// checks it against `expected` (from an enrolment token), and returns a
    /// client that trusts that CA only, with the CA's PEM.
    pub fn discover(url: &str, expected: Fingerprint) -> Result<(Self, String), ClientError> {
        let base = base(url)?;
        // Unverified on purpose: what comes back is checked against the
        // fingerprint before anything is sent or believed.
        let blind = agent(TlsConfig::builder().disable_verification(true).build());
        let probe = Self {
            base: base.clone(),
            agent: blind,
        };
        let ca: CaBody = probe.get("/ca", None)?;
        let got = Fingerprint::of_pem(&ca.ca_pem)
            .map_err(|e| ClientError::Protocol(format!("the registry's CA is not usable: {e}")))?;
        if got != expected {
            return Err(ClientError::WrongRegistry {
                url: base,
                expected,
                got: got.to_string(),
            });
        }
        let client = Self::new(&base, &ca.ca_pem, None)?;
        Ok((client, ca.ca_pem))
    }

    /// A client trusting the school CA `ca_pem`, showing `identity` (a
    /// teacher PC's certificate and key, PEM) if given.
    pub fn new(
        url: &str,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<Self, ClientError> {
        let bad = |what: &str, e: ureq::Error| ClientError::Protocol(format!("{what}: {e}"));
        let ca = Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| bad("the school CA", e))?;
        let mut tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca]));
        if let Some((certificate, key)) = identity {
            let certificate = Certificate::from_pem(certificate.as_bytes())
                .map_err(|e| bad("this PC's certificate", e))?;
            let key = PrivateKey::from_pem(key.as_bytes()).map_err(|e| bad("this PC's key", e))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&[certificate], key)));
        }
        Ok(Self {
            base: base(url)?,
            agent: agent(tls.build()),
        })
    }

    /// The registry's address.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Enrols this device as `name` with `token`: makes its key, sends a
    /// certificate request, and returns the bundle.
    pub fn enrol(&self, token: &str, name: &str) -> Result<EnrolledDevice, ClientError> {
        let made =
            KeyAndRequest::generate(name).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let enrolment: Enrolment = self.post(
            "/enrol",
            None,
            &EnrolRequest {
                token: token.trim().to_owned(),
                name: name.to_owned(),
                request_pem: made.request_pem,
            },
        )?;
        Ok(EnrolledDevice {
            manifest: enrolment.manifest,
            ca_pem: enrolment.ca_pem,
            certificate_pem: enrolment.certificate_pem,
            key_pem: made.key_pem,
            teacher: enrolment.teacher,
        })
    }

    /// Signs in with a user name and password (local or directory account).
    pub fn sign_in(&self, user: &str, password: &str) -> Result<Tokens, ClientError> {
        self.post(
            "/sign-in",
            None,
            &SignInRequest {
                user: user.to_owned(),
                password: password.to_owned(),
            },
        )
    }

    /// How teachers sign in at this registry.
    pub fn methods(&self) -> Result<SignInMethods, ClientError> {
        self.get("/sign-in/methods", None)
    }

    /// Exchanges the one-time code of a browser sign-in for tokens.
    pub fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Tokens, ClientError> {
        self.post(
            "/sign-in/code",
            None,
            &CodeExchange {
                code: code.to_owned(),
                code_verifier: verifier.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
            },
        )
    }

    /// Exchanges a refresh token (once) for new tokens.
    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, ClientError> {
        self.post(
            "/token",
            None,
            &RefreshRequest {
                refresh_token: refresh_token.to_owned(),
            },
        )
    }

    /// The rooms this teacher PC is for.
    pub fn rooms(&self, access_token: &str) -> Result<Rooms, ClientError> {
        self.get("/rooms", Some(access_token))
    }

    /// A room certificate for `room` (by default the PC's own) with a key made here.
    pub fn room_certificate(
        &self,
        access_token: &str,
        room: Option<&str>,
    ) -> Result<IssuedRoom, ClientError> {
        let made =
            KeyAndRequest::generate("room").map_err(|e| ClientError::Protocol(e.to_string()))?;
        let body: RoomCertificateBody = self.post(
            "/room-certificate",
            Some(access_token),
            &RoomCertificateRequest {
                room: room.map(str::to_owned),
                request_pem: made.request_pem,
            },
        )?;
        Ok(IssuedRoom {
            manifest: body.manifest,
            ca_pem: body.ca_pem,
            certificate_pem: body.certificate_pem,
            key_pem: made.key_pem,
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str, token: Option<&str>) -> Result<T, ClientError> {
        let mut request = self.agent.get(format!("{}{API}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(request.call())
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let mut request = self.agent.post(format!("{}{API}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(request.send_json(body))
    }

    fn answer<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response = response.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            detail: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(|e| {
                ClientError::Protocol(format!("the registry's answer could not be read: {e}"))
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| {
                ClientError::Protocol(format!(
                    "the registry's answer is not what was expected: {e}"
                ))
            });
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(error) => Err(ClientError::Refused {
                status,
                code: error.code,
                message: error.message,
            }),
            Err(_) => Err(ClientError::Refused {
                status,
                code: "http".into(),
                message: format!("the registry answered {status}"),
            }),
        }
    }
}

impl ClientError {
    /// The registry's stable code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn agent(tls: TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into()
}

/// The registry's address without a trailing slash; HTTPS only.
fn base(url: &str) -> Result<String, ClientError> {
    let url = url.trim().trim_end_matches('/');
    if !url.starts_with("https://") {
        return Err(ClientError::Protocol(format!(
            "the registry's address must start with https://, not '{url}'"
        )));
    }
    Ok(url.to_owned())
}

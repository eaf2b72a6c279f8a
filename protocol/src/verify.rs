//! The certificate checks at both ends of a connection.
//!
//! The agent's [`AgentClientVerifier`] admits a console only if its room
//! certificate chains to the school's CA, is in date, and its grant lists this
//! device as steerable (R8, R10). It records *why* it refused, so the agent can
//! log the teacher, the room and the reason for every refused connection.
//!
//! The console trusts an agent whose certificate chains to the same CA and
//! names the device the console meant to reach: rustls' WebPKI server verifier
//! with the CA as the only root and [`crate::DeviceId::server_name`] as the name.
//! Where the room certificate's manifest names the fingerprint of the
//! device's current certificate, [`ConsoleServerVerifier`] also refuses any
//! other: a device enrolled again holds a new certificate, and the old one,
//! though still signed by the CA, no longer speaks for it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};

use crate::DeviceId;
use crate::grant::{Admission, RoomGrant};
use crate::pki::Fingerprint;

/// Why an agent refused a console's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// The certificate does not chain to this school's CA (another school, or forged).
    UnknownCa,
    /// The certificate's validity has ended.
    Expired,
    /// The certificate's validity has not begun (or this computer's clock is wrong).
    NotYetValid,
    /// The certificate is not a room certificate (no or a broken room grant).
    NotARoomCertificate(String),
    /// The certificate is for a room this device is not in (R8).
    OtherRoom,
    /// This device is in the room but an admin marked it not steerable (R10).
    NotSteerable,
    /// Any other defect the certificate check found.
    Invalid(String),
}

impl RefusalReason {
    /// A short stable name for logs: `unknown-ca`, `expired`, `other-room`, ...
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownCa => "unknown-ca",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::NotARoomCertificate(_) => "not-a-room-certificate",
            Self::OtherRoom => "other-room",
            Self::NotSteerable => "not-steerable",
            Self::Invalid(_) => "invalid",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCa => f.write_str("the certificate was not issued by this school's CA"),
            Self::Expired => f.write_str("the certificate has expired"),
            Self::NotYetValid => f.write_str("the certificate is not valid yet"),
            Self::NotARoomCertificate(why) => write!(f, "not a room certificate: {why}"),
            Self::OtherRoom => f.write_str("this device is not in the certificate's room"),
            Self::NotSteerable => f.write_str("this device is marked not steerable"),
            Self::Invalid(why) => write!(f, "invalid certificate: {why}"),
        }
    }
}

/// A refused connection: who presented the certificate, and why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The teacher the certificate names, if it could be read.
    pub user: Option<String>,
    /// The room the certificate names, if it could be read.
    pub room: Option<String>,
    /// Whether the certificate was issued by this school's CA (it chains to
    /// it, apart from its dates). Only then are `user` and `room` the school's
    /// word; otherwise they are merely claimed, since anyone can write any
    /// name into a certificate they made themselves.
    pub chained_to_ca: bool,
    /// Why the connection was refused.
    pub reason: RefusalReason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = "?";
        write!(
            f,
            "refused {}certificate of user '{}' for room '{}': {}",
            if self.chained_to_ca {
                ""
            } else {
                "unverified "
            },
            self.user.as_deref().unwrap_or(unknown),
            self.room.as_deref().unwrap_or(unknown),
            self.reason
        )
    }
}

/// The agent's check of a console's client certificate, for one connection.
#[derive(Debug)]
pub struct AgentClientVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    device: DeviceId,
    refusal: Arc<OnceLock<Refusal>>,
}

impl AgentClientVerifier {
    /// A verifier for `device`; a refusal is stored in `refusal`.
    pub fn new(
        webpki: Arc<dyn ClientCertVerifier>,
        device: DeviceId,
        refusal: Arc<OnceLock<Refusal>>,
    ) -> Self {
        Self {
            webpki,
            device,
            refusal,
        }
    }

    /// Builds the shared chain-and-date part of the check: client certificates
    /// must chain to `ca` (the one trust anchor) and be in date.
    pub fn webpki(
        ca: CertificateDer<'static>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(ca)?;
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, (RefusalReason, CertificateError)> {
        self.webpki
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(classify)?;
        let grant = RoomGrant::from_certificate(end_entity).map_err(|e| {
            (
                RefusalReason::NotARoomCertificate(e.to_string()),
                CertificateError::InvalidPurpose,
            )
        })?;
        match grant.admission(self.device) {
            Admission::Admitted => Ok(ClientCertVerified::assertion()),
            Admission::NotSteerable => Err((
                RefusalReason::NotSteerable,
                CertificateError::ApplicationVerificationFailure,
            )),
            Admission::OtherRoom => Err((
                RefusalReason::OtherRoom,
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }
}

impl AgentClientVerifier {
    /// Whether a refused certificate was nevertheless issued by the school's CA.
    /// Room and steerability are checked after the chain, so those refusals
    /// chained; a certificate out of date is checked again as of the middle of
    /// its own validity, because WebPKI looks at the dates before the signature.
    fn chains_to_ca(
        &self,
        reason: &RefusalReason,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> bool {
        match reason {
            RefusalReason::OtherRoom
            | RefusalReason::NotSteerable
            | RefusalReason::NotARoomCertificate(_) => true,
            RefusalReason::Expired | RefusalReason::NotYetValid => {
                let Ok((_, certificate)) = x509_parser::parse_x509_certificate(end_entity) else {
                    return false;
                };
                let validity = certificate.validity();
                let (from, to) = (
                    validity.not_before.timestamp(),
                    validity.not_after.timestamp(),
                );
                let Ok(middle) = u64::try_from(from + (to - from) / 2) else {
                    return false;
                };
                let then = UnixTime::since_unix_epoch(std::time::Duration::from_secs(middle));
                self.webpki
                    .verify_client_cert(end_entity, intermediates, then)
                    .is_ok()
            }
            RefusalReason::UnknownCa | RefusalReason::Invalid(_) => false,
        }
    }
}

/// Turns WebPKI's verdict into a refusal reason, keeping the error (and so the
/// TLS alert the console receives) as WebPKI chose it.
fn classify(error: rustls::Error) -> (RefusalReason, CertificateError) {
    let rustls::Error::InvalidCertificate(error) = error else {
        let text = error.to_string();
        return (
            RefusalReason::Invalid(text.clone()),
            CertificateError::Other(rustls::OtherError(Arc::new(std::io::Error::other(text)))),
        );
    };
    let reason = match &error {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            RefusalReason::UnknownCa
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            RefusalReason::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            RefusalReason::NotYetValid
        }
        other => RefusalReason::Invalid(other.to_string()),
    };
    (reason, error)
}

impl ClientCertVerifier for AgentClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, now)
            .map_err(|(reason, error)| {
                let grant = RoomGrant::from_certificate(end_entity).ok();
                let chained_to_ca = self.chains_to_ca(&reason, end_entity, intermediates);
                // Only one certificate is verified per connection; a second set is a no-op.
                let _ = self.refusal.set(Refusal {
                    user: grant.as_ref().map(|g| g.user.clone()),
                    room: grant.map(|g| g.room),
                    chained_to_ca,
                    reason,
                });
                rustls::Error::InvalidCertificate(error)
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The console's check of an agent's server certificate: chains to `ca`,
/// names the expected device (the server name the console connects with), and
/// is the very certificate the registry last issued to it where `pins` knows it.
pub fn console_server_verifier(
    ca: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
    pins: HashMap<DeviceId, Fingerprint>,
) -> Result<Arc<ConsoleServerVerifier>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let pins = pins
        .into_iter()
        .map(|(device, fingerprint)| (device.server_name(), fingerprint))
        .collect();
    Ok(Arc::new(ConsoleServerVerifier { webpki, pins }))
}

/// See [`console_server_verifier`].
#[derive(Debug)]
pub struct ConsoleServerVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// Server name to the fingerprint of the device's current certificate.
    pins: HashMap<String, Fingerprint>,
}

/// A device showed a certificate the CA signed but the registry has since
/// replaced: it was enrolled again (or the old key is being used by someone else).
struct Replaced {
    shown: Fingerprint,
}

impl fmt::Display for Replaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the device showed a certificate it no longer holds (fingerprint {}…): \
             it was enrolled again since, so this one is refused",
            &self.shown.to_string()[..16]
        )
    }
}

// rustls shows the error's Debug form in the handshake's error message, so
// Debug says it in words too.
impl fmt::Debug for Replaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Replaced {}

impl ServerCertVerifier for ConsoleServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let Some(pin) = self.pins.get(server_name.to_str().as_ref()) {
            let shown = Fingerprint::of_der(end_entity);
            if shown != *pin {
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(Replaced { shown })),
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

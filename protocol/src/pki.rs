//! The school's certificate authority and the certificates it issues (rcgen).
//!
//! - The CA belongs to one organisation (school) and is kept by the registry.
//! - A device certificate is the agent's server certificate; it names the
//!   device's UUID ([`DeviceId::server_name`]) and is for server auth only.
//! - A room certificate is a teacher's client certificate for one room, short
//!   lived, for client auth only, carrying a [`RoomGrant`].
//! - Keys are made where they are used: an enrolling agent and a teacher's
//!   app send a [`CertificateRequest`], and the CA certifies its public key
//!   under names and rights the CA alone decides ([`SchoolCa::certify_device`],
//!   [`SchoolCa::certify_room`]). Whatever else the request asks for is ignored.

use std::time::Duration;

use std::fmt;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKey, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DeviceId;
use crate::grant::{ROOM_GRANT_OID, RoomGrant};

/// How long a school CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
/// How long a device certificate is valid; devices are re-enrolled before it ends.
const DEVICE_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long the registry's own HTTPS certificate is valid when the CA makes it.
const SERVER_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Certificates start this much in the past, so a student PC whose clock runs
/// a little behind the registry's still accepts a fresh room certificate.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// The longest a room certificate may be valid: a school day at most.
pub const MAX_ROOM_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Why a certificate could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to build, sign or parse a certificate or key.
    #[error("certificate error: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A room certificate was asked for longer than a school day.
    #[error("a room certificate may be valid for at most 24 hours, not {}", hours(*.0))]
    TooLong(Duration),
    /// A certificate request is not PEM, not a request, or not signed by its own key.
    #[error("the certificate request is not usable: {0}")]
    BadRequest(String),
    /// A text is not a certificate in PEM.
    #[error("not a certificate in PEM: {0}")]
    BadCertificate(String),
}

/// A certificate request whose signature proves its sender holds the key:
/// all the CA takes from it is the public key.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    public_key: PublicKey,
}

impl CertificateRequest {
    /// Parses a PKCS#10 request from PEM and checks its self-signature.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let request = CertificateSigningRequestParams::from_pem(pem)
            .map_err(|e| PkiError::BadRequest(e.to_string()))?;
        Ok(Self {
            public_key: request.public_key,
        })
    }
}

/// A new key and a request to certify it, made where the key will be used.
pub struct KeyAndRequest {
    /// The private key, PKCS#8 PEM. Secret; never leaves this computer.
    pub key_pem: String,
    /// The certificate request, PEM: what is sent to the registry.
    pub request_pem: String,
}

impl KeyAndRequest {
    /// Makes a new key (ECDSA P-256, as the CA's own) and a request naming `subject`.
    pub fn generate(subject: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(subject);
        let request = params.serialize_request(&key)?;
        Ok(Self {
            key_pem: key.serialize_pem(),
            request_pem: request.pem()?,
        })
    }
}

/// The SHA-256 of a certificate's DER: how a console knows the one
/// certificate a device holds now, so that an earlier one of the same
/// device (before it was enrolled again) is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate in DER.
    pub fn of_der(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// The fingerprint of the first certificate in `pem`.
    pub fn of_pem(pem: &str) -> Result<Self, PkiError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        Ok(Self::of_der(&der))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = PkiError;

    /// 64 hexadecimal digits; colons between the bytes are allowed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        let bad = || {
            PkiError::BadCertificate(format!(
                "a fingerprint is 64 hexadecimal digits, not '{}'",
                text.escape_debug()
            ))
        };
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = PkiError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(fingerprint: Fingerprint) -> String {
        fingerprint.to_string()
    }
}

/// A certificate the CA made for a key it never saw.
#[derive(Clone, Debug)]
pub struct Certified {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// The end of its validity.
    pub not_after: OffsetDateTime,
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Its private key, PKCS#8 PEM. Secret.
    pub key_pem: String,
    /// The end of its validity.
    pub not_after: OffsetDateTime,
}

/// A school's certificate authority: its certificate and signing key.
pub struct SchoolCa {
    certificate_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl SchoolCa {
    /// Creates a new CA for `organisation`.
    pub fn generate(organisation: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&format!("Pult CA {organisation}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, CA_VALIDITY);
        let certificate = params.self_signed(&key)?;
        let certificate_pem = certificate.pem();
        let key_pem = key.serialize_pem();
        Ok(Self {
            certificate_pem,
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from the PEM its [`Self::certificate_pem`] and [`Self::key_pem`] gave.
    pub fn from_pem(certificate_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(certificate_pem, key)?;
        Ok(Self {
            certificate_pem: certificate_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
        })
    }

    /// The CA certificate, PEM: what agents and consoles trust.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The CA's private key, PEM. Secret; only the registry keeps it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues the server certificate of device `device` named `name`, with a new key.
    pub fn issue_device_certificate(
        &self,
        device: DeviceId,
        name: &str,
    ) -> Result<IssuedCertificate, PkiError> {
        let (params, not_after) = device_params(device, name)?;
        self.sign(params, not_after)
    }

    /// Certifies the key of `request` as device `device` named `name`
    /// (enrolment). A teacher PC's certificate also serves as a TLS client
    /// certificate: with it the PC asks the registry for room certificates.
    pub fn certify_device(
        &self,
        device: DeviceId,
        name: &str,
        request: &CertificateRequest,
        teacher: bool,
    ) -> Result<Certified, PkiError> {
        let (mut params, not_after) = device_params(device, name)?;
        if teacher {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        self.certify(params, not_after, request)
    }

    /// Issues a room certificate carrying `grant`, valid from now for `valid_for`, with a new key.
    pub fn issue_room_certificate(
        &self,
        grant: &RoomGrant,
        valid_for: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let (params, not_after) = room_params(grant, valid_for)?;
        self.sign(params, not_after)
    }

    /// Certifies the key of `request` for `grant`, valid from now for `valid_for`.
    pub fn certify_room(
        &self,
        grant: &RoomGrant,
        valid_for: Duration,
        request: &CertificateRequest,
    ) -> Result<Certified, PkiError> {
        let (params, not_after) = room_params(grant, valid_for)?;
        self.certify(params, not_after, request)
    }

    /// Issues the registry's own HTTPS certificate for `names` (host names or
    /// IP addresses), so that every client already trusting the school CA
    /// trusts the registry too.
    pub fn issue_server_certificate(
        &self,
        names: &[String],
    ) -> Result<IssuedCertificate, PkiError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = distinguished_name("Pult registry");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let not_after = set_validity(&mut params, SERVER_VALIDITY);
        self.sign(params, not_after)
    }

    fn certify(
        &self,
        mut params: CertificateParams,
        not_after: OffsetDateTime,
        request: &CertificateRequest,
    ) -> Result<Certified, PkiError> {
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&request.public_key, &self.issuer)?;
        Ok(Certified {
            certificate_pem: certificate.pem(),
            fingerprint: Fingerprint::of_der(certificate.der()),
            not_after,
        })
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        not_after: OffsetDateTime,
    ) -> Result<IssuedCertificate, PkiError> {
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            not_after,
        })
    }
}

/// What a device certificate says, and when it ends.
fn device_params(
    device: DeviceId,
    name: &str,
) -> Result<(CertificateParams, OffsetDateTime), PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(name);
    params.subject_alt_names = vec![SanType::DnsName(device.server_name().try_into()?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let not_after = set_validity(&mut params, DEVICE_VALIDITY);
    Ok((params, not_after))
}

/// What a room certificate says, and when it ends.
fn room_params(
    grant: &RoomGrant,
    valid_for: Duration,
) -> Result<(CertificateParams, OffsetDateTime), PkiError> {
    if valid_for > MAX_ROOM_VALIDITY {
        return Err(PkiError::TooLong(valid_for));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&format!("{} @ {}", grant.user, grant.room));
    params
        .distinguished_name
        .push(DnType::OrganizationName, grant.organisation.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        &ROOM_GRANT_OID,
        grant.to_extension_content(),
    )];
    let not_after = set_validity(&mut params, valid_for);
    Ok((params, not_after))
}

fn hours(duration: Duration) -> String {
    format!("{:.1} hours", duration.as_secs_f64() / 3600.0)
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Sets a random serial and a validity from a little before now; returns not-after.
fn set_validity(params: &mut CertificateParams, valid_for: Duration) -> OffsetDateTime {
    // Whole seconds: certificates cannot hold more, and manifests read better.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + valid_for;
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    serial[0] &= 0x7f; // a positive INTEGER
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::GrantError;

    #[test]
    fn a_reloaded_ca_issues_room_certificates_that_carry_their_grant() {
        let ca = SchoolCa::generate("Schule A").unwrap();
        let ca = SchoolCa::from_pem(ca.certificate_pem(), ca.key_pem()).unwrap();
        let grant = RoomGrant {
            organisation: "Schule A".into(),
            room: "101".into(),
            user: "mueller".into(),
            features: vec!["screenshot".into()],
            steerable: vec![DeviceId::random()],
            not_steerable: vec![],
            wake: vec![],
        };
        let issued = ca
            .issue_room_certificate(&grant, Duration::from_secs(3600))
            .unwrap();
        let der = pem_to_der(&issued.certificate_pem);
        assert_eq!(RoomGrant::from_certificate(&der).unwrap(), grant);
    }

    #[test]
    fn device_certificates_carry_no_grant_and_room_certificates_no_longer_than_a_day() {
        let ca = SchoolCa::generate("Schule A").unwrap();
        let issued = ca
            .issue_device_certificate(DeviceId::random(), "PC-01")
            .unwrap();
        assert_eq!(
            RoomGrant::from_certificate(&pem_to_der(&issued.certificate_pem)),
            Err(GrantError::Missing)
        );
        let grant = RoomGrant {
            organisation: String::new(),
            room: String::new(),
            user: String::new(),
            features: vec![],
            steerable: vec![],
            not_steerable: vec![],
            wake: vec![],
        };
        assert!(matches!(
            ca.issue_room_certificate(&grant, Duration::from_secs(25 * 3600)),
            Err(PkiError::TooLong(_))
        ));
    }

    #[test]
    fn a_request_gets_the_names_and_rights_the_ca_decides_not_those_it_asks_for() {
        let ca = SchoolCa::generate("Schule A").unwrap();
        // A request asking for a CA's powers and another device's name.
        let key = KeyPair::generate().unwrap();
        let mut asked = CertificateParams::new(vec!["evil.example".into()]).unwrap();
        asked.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let request_pem = asked.serialize_request(&key).unwrap().pem().unwrap();
        let request = CertificateRequest::from_pem(&request_pem).unwrap();
        let device = DeviceId::random();
        let certified = ca.certify_device(device, "PC-01", &request, false).unwrap();
        let der = pem_to_der(&certified.certificate_pem);
        assert_eq!(certified.fingerprint, Fingerprint::of_der(&der));
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        let names: Vec<String> = parsed
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, vec![format!("DNSName({})", device.server_name())]);
        let usage = parsed.extended_key_usage().unwrap().unwrap().value;
        assert!(usage.server_auth && !usage.client_auth);
        // The certificate holds the requested key, not one the CA made.
        assert_eq!(
            parsed.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
    }

    #[test]
    fn a_request_whose_signature_does_not_match_its_key_is_refused() {
        let made = KeyAndRequest::generate("PC-01").unwrap();
        let request = CertificateRequest::from_pem(&made.request_pem).unwrap();
        let ca = SchoolCa::generate("Schule A").unwrap();
        assert!(
            ca.certify_device(DeviceId::random(), "PC-01", &request, false)
                .is_ok()
        );
        // The subject changed after signing ("PC-01" to "PC-02"): the request
        // still parses, only its signature no longer matches.
        let mut der = rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(
            made.request_pem.as_bytes(),
        )
        .unwrap()
        .as_ref()
        .to_vec();
        assert!(CertificateRequest::from_pem(&pem_of("CERTIFICATE REQUEST", &der)).is_ok());
        let at = der.windows(5).position(|w| w == b"PC-01").unwrap();
        der[at + 4] = b'2';
        let tampered = pem_of("CERTIFICATE REQUEST", &der);
        assert!(matches!(
            CertificateRequest::from_pem(&tampered),
            Err(PkiError::BadRequest(message)) if message.contains("signature")
        ));
        assert!(matches!(
            CertificateRequest::from_pem(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            ),
            Err(PkiError::BadRequest(_))
        ));
    }

    #[test]
    fn fingerprints_print_and_parse_as_hex() {
        let ca = SchoolCa::generate("Schule A").unwrap();
        let fingerprint = Fingerprint::of_pem(ca.certificate_pem()).unwrap();
        let text = fingerprint.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fingerprint);
        let with_colons: Vec<String> = text
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert_eq!(
            with_colons.join(":").parse::<Fingerprint>().unwrap(),
            fingerprint
        );
        for bad in ["", "00", &"g".repeat(64), &"ä".repeat(32)] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
    }

    /// PEM of `der` under `label` (standard base64, 64 columns).
    fn pem_of(label: &str, der: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut text = String::new();
        for chunk in der.chunks(3) {
            let bytes = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
            for i in 0..4 {
                if i <= chunk.len() {
                    text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    text.push('=');
                }
            }
        }
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}

//! The school's certificate authority and the certificates it issues (rcgen).
//!
//! - The CA belongs to one organisation (school) and is kept by the registry.
//! - A device certificate is the agent's server certificate; it names the
//!   device's UUID ([`DeviceId::server_name`]) and is for server auth only.
//! - A room certificate is a teacher's client certificate for one room, short
//!   lived, for client auth only, carrying a [`RoomGrant`].

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::DeviceId;
use crate::grant::{ROOM_GRANT_OID, RoomGrant};

/// How long a school CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
/// How long a device certificate is valid; devices are re-enrolled before it ends.
const DEVICE_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
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

    /// Issues the server certificate of device `device` named `name`.
    pub fn issue_device_certificate(
        &self,
        device: DeviceId,
        name: &str,
    ) -> Result<IssuedCertificate, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(name);
        params.subject_alt_names = vec![SanType::DnsName(device.server_name().try_into()?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let not_after = set_validity(&mut params, DEVICE_VALIDITY);
        self.sign(params, not_after)
    }

    /// Issues a room certificate carrying `grant`, valid from now for `valid_for`.
    pub fn issue_room_certificate(
        &self,
        grant: &RoomGrant,
        valid_for: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
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
        self.sign(params, not_after)
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

    fn pem_to_der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}

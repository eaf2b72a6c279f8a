//! pult-registry: the device registry that admins keep.
//!
//! It owns all persistent school data: the school and its CA, rooms, devices
//! (with their steerable flag), users and groups, and which one group may use
//! Pult. It hands out what the other pieces need as signed certificates and
//! JSON: an agent bundle per device, a room certificate per teacher and room.
//! Agents and consoles never open its database.
//!
//! The rules live in [`Registry`]; the data sits behind the [`store::Store`] trait.
#![warn(missing_docs)]

pub mod devices_csv;
pub mod duration;
pub mod model;
pub mod store;
pub mod write;

use std::path::Path;
use std::time::Duration;

use pult_protocol::credentials::{
    CA_CERTIFICATE_FILE, DEVICE_CERTIFICATE_FILE, DEVICE_KEY_FILE, DEVICE_MANIFEST_FILE,
    DeviceManifest, ROOM_CERTIFICATE_FILE, ROOM_KEY_FILE, ROOM_MANIFEST_FILE, RoomDevice,
    RoomManifest,
};
use pult_protocol::grant::RoomGrant;
use pult_protocol::message::Feature;
use pult_protocol::pki::{IssuedCertificate, MAX_ROOM_VALIDITY, PkiError, SchoolCa};
use time::OffsetDateTime;

use crate::model::{DeviceFields, DeviceName, DeviceRecord, RoomName};
use crate::store::{ImportSummary, Issuance, Store, StoreError};
use crate::write::WriteError;

/// How long the registry keeps its own log of handed-out certificates (R17: six months).
pub const LOG_RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);

/// What the registry refused or failed to do, in words an admin understands.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store failed or is not set up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No group is authorised, so nobody may use Pult (R9).
    #[error(
        "no group is authorised to use Pult, so no room certificate is issued (R9); an admin decides with `pult-registry --db FILE group authorize GROUP`"
    )]
    NoAuthorisedGroup,
    /// The user is not registered.
    #[error(
        "user '{0}' is not registered; add them with `pult-registry --db FILE user add {0} --group GROUP`"
    )]
    UnknownUser(String),
    /// The user is registered but not in the authorised group (R9).
    #[error(
        "user '{user}' is not in the group '{group}', the one group authorised to use Pult (R9)"
    )]
    NotAuthorised {
        /// The user.
        user: String,
        /// The authorised group.
        group: String,
    },
    /// The room is not registered.
    #[error("room '{room}' does not exist (rooms: {})", if known.is_empty() { "none yet".to_owned() } else { known.join(", ") })]
    UnknownRoom {
        /// The room asked for.
        room: String,
        /// The rooms there are.
        known: Vec<String>,
    },
    /// The device is not registered.
    #[error("device '{0}' is not registered")]
    UnknownDevice(String),
    /// A user or group name is unusable.
    #[error("{0}")]
    BadName(String),
    /// A certificate could not be made.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Output files could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The registry's rules over a store.
pub struct Registry<S> {
    store: S,
}

/// What authorising a group changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupAuthorized {
    /// The group that was authorised before, if another.
    pub replaced: Option<String>,
    /// How many members the group has.
    pub members: usize,
}

/// What an installer puts on one student computer.
pub struct AgentBundle {
    /// Who the agent is.
    pub manifest: DeviceManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// The device certificate and key.
    pub certificate: IssuedCertificate,
}

/// What a teacher's console loads for one room.
pub struct RoomCertificate {
    /// The room and its devices.
    pub manifest: RoomManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// The room certificate and key.
    pub certificate: IssuedCertificate,
}

impl<S: Store> Registry<S> {
    /// The registry over `store`; expires its log entries older than [`LOG_RETENTION`].
    pub fn new(mut store: S) -> Result<Self, RegistryError> {
        match store.expire_log(OffsetDateTime::now_utc() - LOG_RETENTION) {
            Ok(_) | Err(StoreError::NotInitialised) => Ok(Self { store }),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the school `organisation` with a new CA.
    pub fn init(&mut self, organisation: &str) -> Result<(), RegistryError> {
        let organisation = plain_name("school", organisation)?;
        let ca = SchoolCa::generate(&organisation)?;
        self.store
            .create_organisation(&organisation, ca.certificate_pem(), ca.key_pem())?;
        Ok(())
    }

    /// Makes `group` the one group whose members may use Pult (R9).
    pub fn authorize_group(&mut self, group: &str) -> Result<GroupAuthorized, RegistryError> {
        let group = plain_name("group", group)?;
        let replaced = self.store.set_authorized_group(&group)?;
        let members = self.store.group_size(&group)?;
        Ok(GroupAuthorized { replaced, members })
    }

    /// Registers `user` (if new) as a member of `groups`; returns whether the user is new.
    pub fn add_user(&mut self, user: &str, groups: &[String]) -> Result<bool, RegistryError> {
        let user = plain_name("user", user)?;
        let groups = groups
            .iter()
            .map(|g| plain_name("group", g))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.store.add_user(&user, &groups)?)
    }

    /// Imports devices: adds new names, updates known ones, creates rooms; all or nothing.
    pub fn import_devices(
        &mut self,
        devices: &[DeviceFields],
    ) -> Result<ImportSummary, RegistryError> {
        Ok(self.store.import_devices(devices)?)
    }

    /// The devices of `room`, or of every room.
    pub fn devices(&self, room: Option<&RoomName>) -> Result<Vec<DeviceRecord>, RegistryError> {
        if let Some(room) = room {
            self.require_room(room)?;
        }
        Ok(self.store.devices(room)?)
    }

    /// Switches a device's steerable flag (R10). Takes effect with the next room certificates.
    pub fn set_steerable(
        &mut self,
        device: &DeviceName,
        steerable: bool,
    ) -> Result<(), RegistryError> {
        if self.store.set_steerable(device, steerable)? {
            Ok(())
        } else {
            Err(RegistryError::UnknownDevice(device.to_string()))
        }
    }

    /// Issues the agent bundle of `device`: a new device key and certificate.
    pub fn agent_bundle(&mut self, device: &DeviceName) -> Result<AgentBundle, RegistryError> {
        let record = self
            .store
            .devices(None)?
            .into_iter()
            .find(|d| &d.fields.name == device)
            .ok_or_else(|| RegistryError::UnknownDevice(device.to_string()))?;
        let organisation = self.store.organisation()?;
        let ca = SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)?;
        let certificate = ca.issue_device_certificate(record.uuid, device.as_str())?;
        self.store.log_issuance(&Issuance {
            kind: "agent-bundle",
            subject: device.to_string(),
            room: Some(record.fields.room.to_string()),
            not_after: certificate.not_after,
        })?;
        Ok(AgentBundle {
            manifest: DeviceManifest {
                organisation: organisation.name,
                name: device.to_string(),
                uuid: record.uuid,
                listen: record.fields.addresses.first().copied(),
            },
            ca_pem: organisation.ca_certificate_pem,
            certificate,
        })
    }

    /// Issues a room certificate for `user` and `room`, valid for `valid_for`
    /// (at most 24 hours), granting `features`, if the user is in the
    /// authorised group (R8, R9, R10).
    pub fn room_certificate(
        &mut self,
        room: &RoomName,
        user: &str,
        valid_for: Duration,
        features: &[Feature],
    ) -> Result<RoomCertificate, RegistryError> {
        if valid_for > MAX_ROOM_VALIDITY {
            return Err(PkiError::TooLong(valid_for).into());
        }
        let organisation = self.store.organisation()?;
        let group = organisation
            .authorized_group
            .ok_or(RegistryError::NoAuthorisedGroup)?;
        let groups = self
            .store
            .user_groups(user)?
            .ok_or_else(|| RegistryError::UnknownUser(user.to_owned()))?;
        if !groups.contains(&group) {
            return Err(RegistryError::NotAuthorised {
                user: user.to_owned(),
                group,
            });
        }
        self.require_room(room)?;
        let devices = self.store.devices(Some(room))?;
        let (steerable, not_steerable) = devices
            .iter()
            .partition::<Vec<_>, _>(|d| d.fields.steerable);
        let grant = RoomGrant {
            organisation: organisation.name.clone(),
            room: room.to_string(),
            user: user.to_owned(),
            features: features.iter().map(|f| f.as_str().to_owned()).collect(),
            steerable: steerable.iter().map(|d| d.uuid).collect(),
            not_steerable: not_steerable.iter().map(|d| d.uuid).collect(),
            wake: steerable
                .iter()
                .flat_map(|d| d.fields.macs.iter().map(|m| m.mac()))
                .collect(),
        };
        let ca = SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)?;
        let certificate = ca.issue_room_certificate(&grant, valid_for)?;
        self.store.log_issuance(&Issuance {
            kind: "room-certificate",
            subject: user.to_owned(),
            room: Some(room.to_string()),
            not_after: certificate.not_after,
        })?;
        let manifest = RoomManifest {
            organisation: organisation.name,
            room: room.to_string(),
            user: user.to_owned(),
            not_after: certificate.not_after,
            devices: devices
                .into_iter()
                .map(|d| RoomDevice {
                    name: d.fields.name.to_string(),
                    uuid: d.uuid,
                    address: d.fields.addresses.first().copied(),
                    position: d.fields.position,
                    steerable: d.fields.steerable,
                    macs: d.fields.macs.iter().map(|m| m.mac()).collect(),
                })
                .collect(),
        };
        Ok(RoomCertificate {
            manifest,
            ca_pem: organisation.ca_certificate_pem,
            certificate,
        })
    }

    fn require_room(&self, room: &RoomName) -> Result<(), RegistryError> {
        let rooms = self.store.rooms()?;
        if rooms.contains(room) {
            Ok(())
        } else {
            Err(RegistryError::UnknownRoom {
                room: room.to_string(),
                known: rooms.iter().map(ToString::to_string).collect(),
            })
        }
    }
}

impl AgentBundle {
    /// Writes the bundle into `dir` (created if needed), replacing an earlier bundle.
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        write::write_files(
            dir,
            &[
                (CA_CERTIFICATE_FILE, self.ca_pem.as_bytes(), false),
                (
                    DEVICE_CERTIFICATE_FILE,
                    self.certificate.certificate_pem.as_bytes(),
                    false,
                ),
                (DEVICE_KEY_FILE, self.certificate.key_pem.as_bytes(), true),
                (DEVICE_MANIFEST_FILE, &write::json(&self.manifest), false),
            ],
        )
    }
}

impl RoomCertificate {
    /// Writes the certificate directory into `dir` (created if needed).
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        write::write_files(
            dir,
            &[
                (CA_CERTIFICATE_FILE, self.ca_pem.as_bytes(), false),
                (
                    ROOM_CERTIFICATE_FILE,
                    self.certificate.certificate_pem.as_bytes(),
                    false,
                ),
                (ROOM_KEY_FILE, self.certificate.key_pem.as_bytes(), true),
                (ROOM_MANIFEST_FILE, &write::json(&self.manifest), false),
            ],
        )
    }
}

/// A user, group or school name: trimmed, 1 to 64 characters, no control characters.
fn plain_name(kind: &str, text: &str) -> Result<String, RegistryError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 64 || text.chars().any(char::is_control) {
        return Err(RegistryError::BadName(format!(
            "a {kind} name must have 1 to 64 characters and no control characters, not '{}'",
            text.escape_debug()
        )));
    }
    Ok(text.to_owned())
}

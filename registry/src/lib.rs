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
pub mod ldap;
pub mod model;
pub mod oidc;
pub mod password;
pub mod privacy;
pub mod secret;
pub mod server;
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
use pult_protocol::pki::{
    CertificateRequest, Certified, Fingerprint, IssuedCertificate, MAX_ROOM_VALIDITY, PkiError,
    SchoolCa,
};
use time::OffsetDateTime;

use crate::model::{DeviceFields, DeviceName, DeviceRecord, RoomName};
use crate::password::PasswordError;
use crate::store::{
    Enrolment, EnrolmentToken, Event, EventKind, ImportSummary, NewEnrolmentToken, Organisation,
    Outcome, Session, SessionKind, Store, StoreError,
};
use crate::write::WriteError;
use pult_protocol::registry_api::EnrolmentTokenText;

/// How long the registry keeps its log unless an admin shortens it (R17: six months).
pub const LOG_RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);
/// The shortest log an admin may set: a day, as the state's identity system keeps its own (R25).
pub const MIN_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a deleted user stays, locked, before it is purged (R18).
pub const DELETED_USER_KEPT: Duration = Duration::from_secs(90 * 24 * 3600);

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
    /// A password was refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A sign-in failed. Says neither whether the user exists nor which part was wrong.
    #[error("the user name or the password is wrong")]
    SignInRefused,
    /// An enrolment token was refused.
    #[error("{0}")]
    Token(String),
    /// A certificate request came from a device that is not a registered teacher PC.
    #[error(
        "this computer is not registered as a teacher PC (or it was enrolled again since); \
         an admin enrols it with a teacher token"
    )]
    NotTeacherDevice,
    /// A directory or identity provider named a user whom a local account with a password is.
    #[error(
        "'{0}' is the name of one of the registry's own accounts; the school's directory or \
         identity provider may not sign anyone in under it"
    )]
    NameTaken(String),
    /// The user was deleted and is locked until purged (R18).
    #[error("the account '{0}' was deleted and is locked (R18)")]
    UserLocked(String),
    /// The settings of a sign-in method are unusable.
    #[error("{0}")]
    SignInSettings(String),
    /// The school's directory or identity provider failed or cannot be reached.
    #[error("{0}")]
    IdentityProvider(String),
    /// The teacher PC may not be used for that room.
    #[error("this teacher PC is for {}, not for room '{room}'", allowed.join(", "))]
    RoomNotAllowed {
        /// The room asked for.
        room: String,
        /// The rooms it is for.
        allowed: Vec<String>,
    },
}

/// The registry's rules over a store.
pub struct Registry<S> {
    store: S,
    clock: Clock,
}

/// Where the registry takes the time from: the system's clock, or a test's.
pub type Clock = Box<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Who does something, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user or device, if known.
    pub name: Option<String>,
    /// Where from: an address, or "cli".
    pub source: String,
}

impl Actor {
    /// The admin at the command line.
    pub fn cli() -> Self {
        Self {
            name: std::env::var("USER").ok().filter(|u| !u.is_empty()),
            source: "cli".into(),
        }
    }
}

/// How someone proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInMethod {
    /// A password the registry keeps (Argon2id).
    Local,
    /// A bind to the school's directory.
    Ldap,
    /// The school's OpenID Connect provider.
    Oidc,
}

impl SignInMethod {
    /// The method's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Ldap => "ldap",
            Self::Oidc => "oidc",
        }
    }

    /// The method named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Local, Self::Ldap, Self::Oidc]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// A local account as read for a sign-in: checking the password is slow
/// on purpose (Argon2id), so it happens after the registry is let go.
#[derive(Clone, Debug)]
pub struct LocalAccount {
    user: String,
    hash: Option<String>,
    groups: Vec<String>,
}

impl LocalAccount {
    /// The identity, if `password` is the account's. Costs the same time
    /// whether or not the account exists or has a password.
    pub fn check(&self, password: &str) -> Result<Identity, RegistryError> {
        let matched =
            password::matches(password, self.hash.as_deref().unwrap_or(password::decoy()));
        if matched && self.hash.is_some() {
            Ok(Identity {
                user: self.user.clone(),
                groups: self.groups.clone(),
                method: SignInMethod::Local,
            })
        } else {
            Err(RegistryError::SignInRefused)
        }
    }

    /// Whether the registry keeps a password for this account; an account
    /// without one signs in through the school's directory, if there is one.
    pub fn has_password(&self) -> bool {
        self.hash.is_some()
    }

    /// The account's groups in the registry (none if there is no such account).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
}

/// Someone whose sign-in succeeded, with the groups their identity system says they are in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user name.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// How they signed in.
    pub method: SignInMethod,
}

/// What an enrolling device receives.
#[derive(Clone, Debug)]
pub struct Enrolled {
    /// Who the device is.
    pub manifest: DeviceManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// Its new certificate, for the key it made itself.
    pub certificate: Certified,
    /// Whether the device was new to the registry.
    pub new: bool,
    /// Whether it is a teacher PC.
    pub teacher: bool,
    /// The room it is registered in.
    pub room: RoomName,
}

/// A room certificate for a key the teacher's app made.
#[derive(Clone, Debug)]
pub struct CertifiedRoom {
    /// The room and its devices.
    pub manifest: RoomManifest,
    /// The school CA, PEM.
    pub ca_pem: String,
    /// The certificate.
    pub certificate: Certified,
}

/// What an import would do to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportChange {
    /// The device.
    pub name: String,
    /// Whether it is new.
    pub new: bool,
    /// The fields that change.
    pub fields: Vec<FieldChange>,
}

/// One field an import changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The CSV column.
    pub column: &'static str,
    /// The value now ("" for none).
    pub old: String,
    /// The value after the import.
    pub new: String,
}

/// The longest an enrolment token may stay valid.
pub const MAX_ENROLMENT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// What [`Registry::expire`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Log lines.
    pub log_lines: usize,
    /// Users purged for good.
    pub users: Vec<String>,
    /// Device records that went with their owners.
    pub devices: usize,
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
    pub fn new(store: S) -> Result<Self, RegistryError> {
        Self::with_clock(store, Box::new(OffsetDateTime::now_utc))
    }

    /// The registry over `store`, telling the time by `clock`.
    pub fn with_clock(store: S, clock: Clock) -> Result<Self, RegistryError> {
        let mut registry = Self { store, clock };
        match registry.expire() {
            Ok(_) | Err(RegistryError::Store(StoreError::NotInitialised)) => Ok(registry),
            Err(e) => Err(e),
        }
    }

    /// Removes what may not be kept any longer (R13, R17, R18, R25): log
    /// lines older than the retention, ended sessions, and users deleted
    /// more than [`DELETED_USER_KEPT`] ago with the devices they owned.
    /// The server runs it every hour; every start runs it too.
    pub fn expire(&mut self) -> Result<Expired, RegistryError> {
        let now = self.now();
        let keep = self.log_retention()?;
        let log_lines = self.store.expire_log(now - keep)?;
        self.store.expire_sessions(now)?;
        let (users, devices) = self.store.purge_users(now - DELETED_USER_KEPT)?;
        for user in &users {
            self.log(
                EventKind::Change,
                &Actor {
                    name: None,
                    source: "registry".into(),
                },
                Some(user),
                None,
                Outcome::Ok,
                "purged for good 90 days after the deletion, with the devices the user owned (R13, R18)",
            )?;
        }
        Ok(Expired {
            log_lines,
            users,
            devices,
        })
    }

    /// How long the log is kept.
    pub fn log_retention(&self) -> Result<Duration, RegistryError> {
        Ok(self.store.log_retention()?.unwrap_or(LOG_RETENTION))
    }

    /// Sets how long the log is kept: a day at least (R25), six months at
    /// most (R17); applies it at once; logged.
    pub fn set_log_retention(&mut self, keep: Duration, by: &Actor) -> Result<(), RegistryError> {
        if keep < MIN_LOG_RETENTION || keep > LOG_RETENTION {
            return Err(RegistryError::BadName(format!(
                "the log is kept for 24 hours to 183 days (R17, R25), not {}",
                crate::duration::format_duration(keep)
            )));
        }
        self.store.set_log_retention(keep)?;
        self.log_change(
            by,
            "log",
            &format!(
                "the log is kept for {}",
                crate::duration::format_duration(keep)
            ),
        )?;
        self.expire()?;
        Ok(())
    }

    /// Writes a consistent copy of the registry to `to` while it is in use (R28).
    pub fn backup(&self, to: &Path) -> Result<(), RegistryError>
    where
        S: store::Backup,
    {
        Ok(self.store.backup_to(to)?)
    }

    /// How many lines the log holds.
    pub fn log_lines(&self) -> Result<usize, RegistryError> {
        Ok(self.store.log_lines()?)
    }

    /// Checks the log's hash chain (R17).
    pub fn verify_log(&self) -> Result<store::LogCheck, RegistryError> {
        Ok(self.store.verify_log()?)
    }

    /// Deletes `user`: locked at once (no sign-in, no groups, sessions
    /// ended), kept [`DELETED_USER_KEPT`] so a mistake can be taken back,
    /// then purged with the devices they own (R13, R18); logged.
    pub fn delete_user(&mut self, user: &str, by: &Actor) -> Result<(), RegistryError> {
        let user = plain_name("user", user)?;
        let now = self.now();
        if !self.store.delete_user(&user, now)? {
            return Err(RegistryError::UnknownUser(user));
        }
        let purge = rfc3339(now + DELETED_USER_KEPT);
        self.log_change(
            by,
            &user,
            &format!("deleted: locked, and purged for good at {purge} (R18)"),
        )
    }

    /// Takes back the deletion of `user` before it is purged; logged.
    pub fn restore_user(&mut self, user: &str, by: &Actor) -> Result<(), RegistryError> {
        let user = plain_name("user", user)?;
        if !self.store.restore_user(&user)? {
            return Err(RegistryError::BadName(format!(
                "'{user}' is not a deleted user (or was purged already)"
            )));
        }
        self.log_change(by, &user, "restored after a deletion")
    }

    /// The time now, by the registry's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// The school.
    pub fn organisation(&self) -> Result<Organisation, RegistryError> {
        Ok(self.store.organisation()?)
    }

    /// The fingerprint of the school CA: what enrolment tokens carry.
    pub fn ca_fingerprint(&self) -> Result<Fingerprint, RegistryError> {
        Ok(Fingerprint::of_pem(
            &self.store.organisation()?.ca_certificate_pem,
        )?)
    }

    /// Adds a line to the log.
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &mut self,
        kind: EventKind,
        by: &Actor,
        subject: Option<&str>,
        room: Option<&str>,
        outcome: Outcome,
        detail: &str,
    ) -> Result<(), RegistryError> {
        let event = Event {
            time: self.now(),
            kind,
            actor: by.name.clone(),
            source: Some(by.source.clone()),
            subject: subject.map(str::to_owned),
            room: room.map(str::to_owned),
            outcome,
            detail: detail.to_owned(),
        };
        Ok(self.store.log(&event)?)
    }

    /// The rooms, by name.
    pub fn rooms(&self) -> Result<Vec<RoomName>, RegistryError> {
        Ok(self.store.rooms()?)
    }

    /// Switches the steerable flag of all `devices` at once (R10): all or
    /// none, an unknown name changes nothing.
    pub fn set_steerable_all(
        &mut self,
        devices: &[DeviceName],
        steerable: bool,
        by: &Actor,
    ) -> Result<(), RegistryError> {
        if devices.is_empty() {
            return Err(RegistryError::BadName("no device was chosen".into()));
        }
        if let Some(unknown) = self.store.set_steerable_many(devices, steerable)? {
            return Err(RegistryError::UnknownDevice(unknown.to_string()));
        }
        let state = if steerable {
            "steerable"
        } else {
            "not steerable"
        };
        let names: Vec<&str> = devices.iter().map(DeviceName::as_str).collect();
        let detail = format!("made {} devices {state} (R10)", devices.len());
        self.log_change(by, &names.join(", "), &detail)
    }

    /// Logs an admin's change to `subject`.
    pub fn log_change(
        &mut self,
        by: &Actor,
        subject: &str,
        detail: &str,
    ) -> Result<(), RegistryError> {
        self.log(
            EventKind::Change,
            by,
            Some(subject),
            None,
            Outcome::Ok,
            detail,
        )
    }

    /// The log, filtered, newest first.
    pub fn events(&self, filter: &store::EventFilter) -> Result<Vec<Event>, RegistryError> {
        Ok(self.store.events(filter)?)
    }

    /// Makes `group` the group whose members may use the admin's pages and API.
    pub fn set_admin_group(
        &mut self,
        group: &str,
        by: &Actor,
    ) -> Result<GroupAuthorized, RegistryError> {
        let group = plain_name("group", group)?;
        let replaced = self.store.set_admin_group(&group)?;
        let members = self.store.group_size(&group)?;
        self.log(
            EventKind::Change,
            by,
            Some(&group),
            None,
            Outcome::Ok,
            "made the admins' group",
        )?;
        Ok(GroupAuthorized { replaced, members })
    }

    /// Whether `identity` is an admin: a member of the admins' group.
    pub fn is_admin(&self, identity: &Identity) -> Result<bool, RegistryError> {
        Ok(self
            .store
            .organisation()?
            .admin_group
            .is_some_and(|g| identity.groups.contains(&g)))
    }

    /// Whether `identity` may use Pult (R9): a member of the one authorised group.
    pub fn check_authorised(&self, identity: &Identity) -> Result<(), RegistryError> {
        let group = self
            .store
            .organisation()?
            .authorized_group
            .ok_or(RegistryError::NoAuthorisedGroup)?;
        if identity.groups.contains(&group) {
            Ok(())
        } else {
            Err(RegistryError::NotAuthorised {
                user: identity.user.clone(),
                group,
            })
        }
    }

    /// Sets (or with `None` removes) the local password of a registered user.
    pub fn set_password(
        &mut self,
        user: &str,
        password: Option<&str>,
        by: &Actor,
    ) -> Result<(), RegistryError> {
        let user = plain_name("user", user)?;
        let hash = password.map(password::hash).transpose()?;
        if !self.store.set_password(&user, hash.as_deref())? {
            return Err(RegistryError::UnknownUser(user));
        }
        // A changed password ends what the old one opened.
        let ended = self.store.delete_sessions_of(&user)?;
        let what = if hash.is_some() {
            "set the local password"
        } else {
            "removed the local password"
        };
        self.log_change(by, &user, &format!("{what}; ended {ended} sessions"))
    }

    /// Who a session stands for now: a local user's groups are the
    /// registry's of this moment, so one taken out of a group loses its
    /// rights at once; a directory's or identity provider's groups are those
    /// of the sign-in.
    pub fn identity(&self, session: &Session) -> Result<Identity, RegistryError> {
        let method = SignInMethod::parse(&session.method).unwrap_or(SignInMethod::Local);
        let groups = if method == SignInMethod::Local {
            self.store.user_groups(&session.user)?.unwrap_or_default()
        } else {
            session.groups.clone()
        };
        Ok(Identity {
            user: session.user.clone(),
            groups,
            method,
        })
    }

    /// The school's directory, if one is set.
    pub fn ldap_settings(&self) -> Result<Option<ldap::LdapSettings>, RegistryError> {
        self.sign_in_settings("ldap")
    }

    /// The school's OpenID Connect provider, if one is set.
    pub fn oidc_settings(&self) -> Result<Option<oidc::OidcSettings>, RegistryError> {
        self.sign_in_settings("oidc")
    }

    /// Sets (or with `None` removes) the school's directory, after checking
    /// what can be checked without it; logged without the password.
    pub fn set_ldap_settings(
        &mut self,
        settings: Option<&ldap::LdapSettings>,
        by: &Actor,
    ) -> Result<(), RegistryError> {
        if let Some(settings) = settings {
            settings
                .check()
                .map_err(|e| RegistryError::SignInSettings(e.to_string()))?;
        }
        let shown = settings.map(|s| format!("directory {} under {}", s.url, s.base_dn));
        self.set_sign_in_settings("ldap", settings, shown, by)?;
        Ok(())
    }

    /// Sets (or with `None` removes) the school's OpenID Connect provider;
    /// logged without the secret.
    pub fn set_oidc_settings(
        &mut self,
        settings: Option<&oidc::OidcSettings>,
        by: &Actor,
    ) -> Result<(), RegistryError> {
        if let Some(settings) = settings {
            settings
                .check()
                .map_err(|e| RegistryError::SignInSettings(e.to_string()))?;
        }
        let shown = settings.map(|s| format!("identity provider {}", s.issuer));
        self.set_sign_in_settings("oidc", settings, shown, by)?;
        Ok(())
    }

    fn sign_in_settings<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Option<T>, RegistryError> {
        self.store
            .sign_in_settings(kind)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| {
                    StoreError::Corrupt(format!("the {kind} sign-in settings: {e}")).into()
                })
            })
            .transpose()
    }

    fn set_sign_in_settings<T: serde::Serialize>(
        &mut self,
        kind: &str,
        settings: Option<&T>,
        shown: Option<String>,
        by: &Actor,
    ) -> Result<(), RegistryError> {
        let text = settings
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.set_sign_in_settings(kind, text.as_deref())?;
        let detail = match shown {
            Some(shown) => format!("set the {kind} sign-in: {shown}"),
            None => format!("removed the {kind} sign-in"),
        };
        self.log_change(by, kind, &detail)
    }

    /// `identity` (from the school's directory or identity provider) as the
    /// registry takes it. The name of a local account with a password is
    /// that account's own: a directory or provider naming someone so (in
    /// any case of letters) is refused, never merged with it. A local entry
    /// of the name without a password is the admin's way to give a
    /// directory's user more groups (make a teacher an admin of Pult)
    /// without touching the directory: those groups are added.
    pub fn directory_identity(&self, mut identity: Identity) -> Result<Identity, RegistryError> {
        let taken = self
            .store
            .users()?
            .into_iter()
            .any(|u| u.local_password && u.name.eq_ignore_ascii_case(&identity.user));
        if self.store.user_deleted(&identity.user)?.is_some() {
            return Err(RegistryError::UserLocked(identity.user));
        }
        if taken {
            return Err(RegistryError::NameTaken(identity.user));
        }
        if let Some(local) = self.store.user_groups(&identity.user)? {
            identity.groups.extend(local);
            identity.groups.sort();
            identity.groups.dedup();
        }
        Ok(identity)
    }

    /// The local account `user`, to check a password against (possibly none).
    pub fn local_account(&self, user: &str) -> Result<LocalAccount, RegistryError> {
        let user = user.trim();
        Ok(LocalAccount {
            user: user.to_owned(),
            hash: self.store.password_hash(user)?,
            groups: self.store.user_groups(user)?.unwrap_or_default(),
        })
    }

    /// The users the registry keeps.
    pub fn users(&self) -> Result<Vec<store::UserRecord>, RegistryError> {
        Ok(self.store.users()?)
    }

    /// Makes a new enrolment token: `uses` devices may enrol with it until
    /// `valid_for` has passed; new devices go to `room`, and with none only
    /// devices already registered enrol. Returns the token's text, shown once.
    #[allow(clippy::too_many_arguments)]
    pub fn create_enrolment_token(
        &mut self,
        label: &str,
        room: Option<&RoomName>,
        teacher: bool,
        uses: u32,
        valid_for: Duration,
        by: &Actor,
    ) -> Result<(EnrolmentTokenText, EnrolmentToken), RegistryError> {
        if uses == 0 || uses > 10_000 {
            return Err(RegistryError::Token(format!(
                "a token enrols 1 to 10000 devices, not {uses}"
            )));
        }
        if valid_for.is_zero() || valid_for > MAX_ENROLMENT_VALIDITY {
            return Err(RegistryError::Token(
                "a token is valid for at most 90 days".into(),
            ));
        }
        if let Some(room) = room {
            self.require_room(room)?;
        }
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(RegistryError::BadName(
                "a token's label has at most 100 characters and no control characters".into(),
            ));
        }
        let text = secret::enrolment_token(self.ca_fingerprint()?);
        let expires = self.now() + valid_for;
        let id = self.store.create_enrolment_token(&NewEnrolmentToken {
            secret_hash: secret::hash(&text.secret),
            label: label.to_owned(),
            room: room.cloned(),
            teacher,
            uses,
            expires,
            created_by: by.name.clone().unwrap_or_else(|| by.source.clone()),
        })?;
        let token = self
            .store
            .enrolment_tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::Corrupt("the new token is gone".into()))?;
        let kind = if teacher { "teacher PCs" } else { "devices" };
        self.log(
            EventKind::Change,
            by,
            Some(&format!("token {id}")),
            room.map(RoomName::as_str),
            Outcome::Ok,
            &format!(
                "made an enrolment token for {uses} {kind}, valid until {}",
                rfc3339(expires.replace_nanosecond(0).unwrap_or(expires))
            ),
        )?;
        Ok((text, token))
    }

    /// The enrolment tokens, newest first.
    pub fn enrolment_tokens(&self) -> Result<Vec<EnrolmentToken>, RegistryError> {
        Ok(self.store.enrolment_tokens()?)
    }

    /// Deletes an enrolment token.
    pub fn delete_enrolment_token(&mut self, id: i64, by: &Actor) -> Result<(), RegistryError> {
        if !self.store.delete_enrolment_token(id)? {
            return Err(RegistryError::Token(format!("there is no token {id}")));
        }
        self.log(
            EventKind::Change,
            by,
            Some(&format!("token {id}")),
            None,
            Outcome::Ok,
            "deleted the enrolment token",
        )
    }

    /// Enrols the device `name` with `token`: certifies the key of `request`
    /// as that device. A registered device keeps its identity and gets a new
    /// certificate (its old one is refused from the next room certificate
    /// on); a new one is created in the token's room. Every attempt is logged.
    pub fn enroll(
        &mut self,
        token: &EnrolmentTokenText,
        name: &DeviceName,
        request: &CertificateRequest,
        by: &Actor,
    ) -> Result<Enrolled, RegistryError> {
        let outcome = self.try_enroll(token, name, request);
        let (result, detail, room) = match &outcome {
            Ok(enrolled) => (
                Outcome::Ok,
                format!(
                    "enrolled {} ({}), certificate {}",
                    if enrolled.new {
                        "a new device"
                    } else {
                        "again"
                    },
                    if enrolled.teacher {
                        "teacher PC"
                    } else {
                        "student PC"
                    },
                    enrolled.certificate.fingerprint
                ),
                Some(enrolled.room.as_str()),
            ),
            Err(error) => (Outcome::Refused, error.to_string(), None),
        };
        self.log(
            EventKind::Enrolment,
            by,
            Some(name.as_str()),
            room,
            result,
            &detail,
        )?;
        outcome
    }

    fn try_enroll(
        &mut self,
        token: &EnrolmentTokenText,
        name: &DeviceName,
        request: &CertificateRequest,
    ) -> Result<Enrolled, RegistryError> {
        let now = self.now();
        let stored = self
            .store
            .enrolment_token(&secret::hash(&token.secret))?
            .ok_or_else(|| RegistryError::Token("the enrolment token is not known".into()))?;
        if stored.expires <= now {
            return Err(RegistryError::Token(format!(
                "the enrolment token expired at {}",
                rfc3339(stored.expires)
            )));
        }
        if stored.uses_left == 0 {
            return Err(RegistryError::Token(
                "the enrolment token is used up".into(),
            ));
        }
        let (device, new) = match self.store.device(name)? {
            Some(known) => {
                if let Some(room) = &stored.room
                    && &known.fields.room != room
                {
                    return Err(RegistryError::Token(format!(
                        "the token is for room {room}, and {name} is registered in room {}",
                        known.fields.room
                    )));
                }
                // A token enrols student PCs or teacher PCs; it does not
                // turn one into the other (nor take over the other's identity).
                if known.teacher != stored.teacher {
                    let (is, token) = if known.teacher {
                        ("a teacher PC", "student PCs")
                    } else {
                        ("a student PC", "teacher PCs")
                    };
                    return Err(RegistryError::Token(format!(
                        "{name} is {is}, and this token enrols {token}"
                    )));
                }
                (known, false)
            }
            None => {
                let Some(room) = stored.room.clone() else {
                    return Err(RegistryError::Token(format!(
                        "{name} is not registered, and the token names no room for new devices"
                    )));
                };
                let device = DeviceRecord {
                    uuid: pult_protocol::DeviceId::random(),
                    teacher: stored.teacher,
                    fingerprint: None,
                    fields: DeviceFields {
                        name: name.clone(),
                        room,
                        position: None,
                        inventory: None,
                        macs: vec![],
                        addresses: vec![],
                        description: None,
                        tags: vec![],
                        owner: None,
                        steerable: !stored.teacher,
                    },
                };
                (device, true)
            }
        };
        let organisation = self.store.organisation()?;
        let ca = SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)?;
        let certificate = ca.certify_device(device.uuid, name.as_str(), request, stored.teacher)?;
        let written = self.store.enrol(
            &Enrolment {
                token: stored.id,
                device: device.clone(),
                new,
                teacher: stored.teacher,
                fingerprint: certificate.fingerprint,
            },
            now,
        )?;
        if !written {
            return Err(RegistryError::Token(
                "the enrolment token was used up or expired just now".into(),
            ));
        }
        Ok(Enrolled {
            manifest: DeviceManifest {
                organisation: organisation.name,
                name: name.to_string(),
                uuid: device.uuid,
                listen: device.fields.addresses.first().copied(),
            },
            ca_pem: organisation.ca_certificate_pem,
            certificate,
            new,
            teacher: stored.teacher,
            room: device.fields.room,
        })
    }

    /// The teacher PC holding the certificate with `fingerprint`.
    pub fn teacher_device(&self, fingerprint: &Fingerprint) -> Result<DeviceRecord, RegistryError> {
        self.store
            .device_by_fingerprint(fingerprint)?
            .filter(|d| d.teacher)
            .ok_or(RegistryError::NotTeacherDevice)
    }

    /// The rooms a teacher PC is for: the room it stands in, then those an admin added.
    pub fn teacher_rooms(&self, device: &DeviceRecord) -> Result<Vec<RoomName>, RegistryError> {
        let mut rooms = vec![device.fields.room.clone()];
        for room in self.store.teacher_rooms(&device.fields.name)? {
            if !rooms.contains(&room) {
                rooms.push(room);
            }
        }
        Ok(rooms)
    }

    /// Marks a registered device as a teacher PC for its room and `extra_rooms`, or not.
    pub fn set_teacher_device(
        &mut self,
        device: &DeviceName,
        teacher: bool,
        extra_rooms: &[RoomName],
        by: &Actor,
    ) -> Result<(), RegistryError> {
        for room in extra_rooms {
            self.require_room(room)?;
        }
        if !self.store.set_teacher(device, teacher)? {
            return Err(RegistryError::UnknownDevice(device.to_string()));
        }
        self.store
            .set_teacher_rooms(device, if teacher { extra_rooms } else { &[] })?;
        let detail = if teacher {
            let extra: Vec<&str> = extra_rooms.iter().map(RoomName::as_str).collect();
            format!("made a teacher PC (also for: {})", extra.join(", "))
        } else {
            "made a student PC".into()
        };
        self.log_change(by, device.as_str(), &detail)
    }

    /// Certifies the key of `request` as `identity`'s room certificate for
    /// `room` (by default the room the teacher PC `device` stands in), if the
    /// teacher is in the authorised group (R9) and the PC is for that room
    /// (R8). Every attempt is logged.
    #[allow(clippy::too_many_arguments)]
    pub fn certify_room(
        &mut self,
        identity: &Identity,
        device: &DeviceRecord,
        room: Option<&RoomName>,
        request: &CertificateRequest,
        valid_for: Duration,
        by: &Actor,
    ) -> Result<CertifiedRoom, RegistryError> {
        let room = room.unwrap_or(&device.fields.room).clone();
        let outcome = (|| {
            let allowed = self.teacher_rooms(device)?;
            if !allowed.contains(&room) {
                return Err(RegistryError::RoomNotAllowed {
                    room: room.to_string(),
                    allowed: allowed.iter().map(ToString::to_string).collect(),
                });
            }
            self.check_authorised(identity)?;
            let (grant, organisation, devices) =
                self.grant(&room, &identity.user, &Feature::ALL)?;
            let ca =
                SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)?;
            let certificate = ca.certify_room(&grant, valid_for, request)?;
            Ok(CertifiedRoom {
                manifest: manifest(
                    &organisation,
                    &room,
                    &identity.user,
                    certificate.not_after,
                    devices,
                ),
                ca_pem: organisation.ca_certificate_pem,
                certificate,
            })
        })();
        let (result, detail) = match &outcome {
            Ok(issued) => (
                Outcome::Ok,
                format!(
                    "room certificate on {} until {}",
                    device.fields.name,
                    rfc3339(issued.certificate.not_after)
                ),
            ),
            Err(error) => (Outcome::Refused, error.to_string()),
        };
        self.log(
            EventKind::Certificate,
            by,
            Some(&identity.user),
            Some(room.as_str()),
            result,
            &detail,
        )?;
        outcome
    }

    /// Opens a session for `identity`, valid for `valid_for`; returns its secret.
    pub fn open_session(
        &mut self,
        kind: SessionKind,
        identity: &Identity,
        device: Option<pult_protocol::DeviceId>,
        valid_for: Duration,
    ) -> Result<(String, Session), RegistryError> {
        let secret = secret::random_hex(32);
        let now = self.now();
        self.store.expire_sessions(now)?;
        let session = Session {
            kind,
            user: identity.user.clone(),
            groups: identity.groups.clone(),
            method: identity.method.as_str().to_owned(),
            device,
            csrf: (kind == SessionKind::Web).then(|| secret::random_hex(32)),
            // Whole seconds, as the store keeps times.
            expires: (now + valid_for).replace_nanosecond(0).unwrap_or(now),
        };
        self.store
            .create_session(&secret::hash(&secret), &session)?;
        Ok((secret, session))
    }

    /// The session of kind `kind` whose secret is `secret`, if it is still open.
    pub fn session(
        &self,
        secret: &str,
        kind: SessionKind,
    ) -> Result<Option<Session>, RegistryError> {
        Ok(self
            .store
            .session(&secret::hash(secret), self.now())?
            .filter(|s| s.kind == kind))
    }

    /// Ends the session whose secret is `secret`; true if there was one.
    pub fn close_session(&mut self, secret: &str) -> Result<bool, RegistryError> {
        Ok(self.store.delete_session(&secret::hash(secret))?)
    }

    /// Creates the school `organisation` with a new CA.
    pub fn init(&mut self, organisation: &str) -> Result<(), RegistryError> {
        let organisation = plain_name("school", organisation)?;
        let ca = SchoolCa::generate(&organisation)?;
        self.store
            .create_organisation(&organisation, ca.certificate_pem(), ca.key_pem())?;
        Ok(())
    }

    /// Makes `group` the one group whose members may use Pult (R9); logged.
    pub fn authorize_group(
        &mut self,
        group: &str,
        by: &Actor,
    ) -> Result<GroupAuthorized, RegistryError> {
        let group = plain_name("group", group)?;
        let replaced = self.store.set_authorized_group(&group)?;
        let members = self.store.group_size(&group)?;
        self.log_change(by, &group, "made the one group authorised to use Pult (R9)")?;
        Ok(GroupAuthorized { replaced, members })
    }

    /// Registers `user` (if new) as a member of `groups`, with the local
    /// password hash `password_hash` (from [`password::hash`]) if given, in
    /// one step; logged. Returns whether the user is new.
    pub fn add_user(
        &mut self,
        user: &str,
        groups: &[String],
        password_hash: Option<&str>,
        by: &Actor,
    ) -> Result<bool, RegistryError> {
        let user = plain_name("user", user)?;
        let groups = groups
            .iter()
            .map(|g| plain_name("group", g))
            .collect::<Result<Vec<_>, _>>()?;
        let created = self.store.add_user(&user, &groups, password_hash)?;
        let mut detail = format!("added to {}", groups.join(", "));
        if password_hash.is_some() {
            detail.push_str(", with a local password");
        }
        self.log_change(by, &user, &detail)?;
        Ok(created)
    }

    /// Imports devices with every field: adds new names, updates known
    /// ones, creates rooms; all or nothing.
    pub fn import_devices(
        &mut self,
        devices: &[DeviceFields],
    ) -> Result<ImportSummary, RegistryError> {
        Ok(self.store.import_devices(devices, &devices_csv::COLUMNS)?)
    }

    /// What importing `list` would change, device by device, without
    /// changing anything: new devices, and for registered ones each field
    /// the file has that differs (old and new value). Unchanged devices are left out.
    pub fn preview_import(
        &self,
        list: &devices_csv::DeviceList,
    ) -> Result<Vec<ImportChange>, RegistryError> {
        let registered: std::collections::HashMap<DeviceName, DeviceFields> = self
            .store
            .devices(None)?
            .into_iter()
            .map(|d| (d.fields.name.clone(), d.fields))
            .collect();
        let mut changes = Vec::new();
        for device in &list.devices {
            let new = devices_csv::values(device);
            match registered.get(&device.name) {
                None => changes.push(ImportChange {
                    name: device.name.to_string(),
                    new: true,
                    fields: devices_csv::COLUMNS
                        .iter()
                        .zip(new)
                        .skip(1)
                        .filter(|(column, value)| {
                            list.columns.contains(column) && !value.is_empty()
                        })
                        .map(|(column, value)| FieldChange {
                            column,
                            old: String::new(),
                            new: value,
                        })
                        .collect(),
                }),
                Some(known) => {
                    let old = devices_csv::values(known);
                    let fields: Vec<FieldChange> = devices_csv::COLUMNS
                        .iter()
                        .zip(old.into_iter().zip(new))
                        .skip(1)
                        .filter(|(column, (old, new))| list.columns.contains(column) && old != new)
                        .map(|(column, (old, new))| FieldChange { column, old, new })
                        .collect();
                    if !fields.is_empty() {
                        changes.push(ImportChange {
                            name: device.name.to_string(),
                            new: false,
                            fields,
                        });
                    }
                }
            }
        }
        Ok(changes)
    }

    /// Imports a list read from a file: a registered device gets only the
    /// fields of the columns the file has; all or nothing.
    pub fn import_list(
        &mut self,
        list: &devices_csv::DeviceList,
        source: &str,
        by: &Actor,
    ) -> Result<ImportSummary, RegistryError> {
        let summary = self.store.import_devices(&list.devices, &list.columns)?;
        self.log_change(by, source, &describe_import(list, &summary))?;
        Ok(summary)
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
        by: &Actor,
    ) -> Result<(), RegistryError> {
        if !self.store.set_steerable(device, steerable)? {
            return Err(RegistryError::UnknownDevice(device.to_string()));
        }
        let state = if steerable {
            "made steerable (R10)"
        } else {
            "made not steerable (R10)"
        };
        self.log_change(by, device.as_str(), state)
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
        let fingerprint = Fingerprint::of_pem(&certificate.certificate_pem)?;
        self.store.set_fingerprint(device, &fingerprint)?;
        self.log(
            EventKind::Certificate,
            &Actor::cli(),
            Some(device.as_str()),
            Some(record.fields.room.as_str()),
            Outcome::Ok,
            &format!("agent bundle, certificate {fingerprint}"),
        )?;
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
        let groups = self
            .store
            .user_groups(user)?
            .ok_or_else(|| RegistryError::UnknownUser(user.to_owned()))?;
        self.check_authorised(&Identity {
            user: user.to_owned(),
            groups,
            method: SignInMethod::Local,
        })?;
        let (grant, organisation, devices) = self.grant(room, user, features)?;
        let ca = SchoolCa::from_pem(&organisation.ca_certificate_pem, &organisation.ca_key_pem)?;
        let certificate = ca.issue_room_certificate(&grant, valid_for)?;
        self.log(
            EventKind::Certificate,
            &Actor::cli(),
            Some(user),
            Some(room.as_str()),
            Outcome::Ok,
            &format!("room certificate until {}", rfc3339(certificate.not_after)),
        )?;
        Ok(RoomCertificate {
            manifest: manifest(&organisation, room, user, certificate.not_after, devices),
            ca_pem: organisation.ca_certificate_pem,
            certificate,
        })
    }

    /// The grant of a room certificate for `user` in `room`, the school, and the room's devices.
    fn grant(
        &self,
        room: &RoomName,
        user: &str,
        features: &[Feature],
    ) -> Result<(RoomGrant, Organisation, Vec<DeviceRecord>), RegistryError> {
        self.require_room(room)?;
        let organisation = self.store.organisation()?;
        // Teacher PCs get room certificates; they are not reached with them.
        let devices: Vec<DeviceRecord> = self
            .store
            .devices(Some(room))?
            .into_iter()
            .filter(|d| !d.teacher)
            .collect();
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
        Ok((grant, organisation, devices))
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

/// What an import did, in words: "imported 3 devices (columns name, room): 1 new, …".
pub fn describe_import(list: &devices_csv::DeviceList, summary: &ImportSummary) -> String {
    format!(
        "imported {} devices (columns {}): {} new, {} updated, {} new rooms",
        list.devices.len(),
        list.columns.join(", "),
        summary.added,
        summary.updated,
        summary.rooms_added
    )
}

/// The manifest of a room certificate: the room's devices with their current certificates.
fn manifest(
    organisation: &Organisation,
    room: &RoomName,
    user: &str,
    not_after: OffsetDateTime,
    devices: Vec<DeviceRecord>,
) -> RoomManifest {
    RoomManifest {
        organisation: organisation.name.clone(),
        room: room.to_string(),
        user: user.to_owned(),
        not_after,
        devices: devices
            .into_iter()
            .map(|d| RoomDevice {
                name: d.fields.name.to_string(),
                uuid: d.uuid,
                address: d.fields.addresses.first().copied(),
                position: d.fields.position,
                steerable: d.fields.steerable,
                macs: d.fields.macs.iter().map(|m| m.mac()).collect(),
                fingerprint: d.fingerprint,
            })
            .collect(),
    }
}

/// A time as the registry shows it: RFC 3339.
pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

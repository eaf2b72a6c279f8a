//! Where the registry keeps its data: one [`Store`] trait, SQLite behind it.
//!
//! The trait is what the rest of the registry uses, so a PostgreSQL store for a
//! district can follow without touching the rules in [`crate::Registry`].

use std::path::Path;

use pult_protocol::DeviceId;
use pult_protocol::pki::Fingerprint;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::{DeviceFields, DeviceName, DeviceRecord, RoomName};

/// A school as the store keeps it.
#[derive(Clone, Debug)]
pub struct Organisation {
    /// The school's name.
    pub name: String,
    /// Its CA certificate, PEM.
    pub ca_certificate_pem: String,
    /// Its CA key, PEM. Secret.
    pub ca_key_pem: String,
    /// The one group whose members may get room certificates (R9).
    pub authorized_group: Option<String>,
    /// The group whose members may use the admin's pages and API.
    pub admin_group: Option<String>,
}

/// What an import changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Devices that were not registered before.
    pub added: usize,
    /// Devices that were registered and got the file's values.
    pub updated: usize,
    /// Rooms that did not exist before.
    pub rooms_added: usize,
}

/// One line of the registry's log: a sign-in, a certificate, an enrolment,
/// an admin's change (R16). Lines are only ever added, and removed when
/// they expire (R17).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// What kind of thing happened.
    pub kind: EventKind,
    /// Who did it: a user, a device, or none (an unknown caller).
    pub actor: Option<String>,
    /// Where from: the caller's address, or "cli".
    pub source: Option<String>,
    /// What it was done to: a user, a device, a room, a token.
    pub subject: Option<String>,
    /// The room concerned, if any.
    pub room: Option<String>,
    /// Whether it was done.
    pub outcome: Outcome,
    /// The rest, in words.
    pub detail: String,
}

/// The kinds of [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// Someone signed in, or tried to (R16).
    SignIn,
    /// Someone signed out.
    SignOut,
    /// A certificate was issued, or refused.
    Certificate,
    /// A device enrolled, or tried to.
    Enrolment,
    /// An admin changed something.
    Change,
}

impl EventKind {
    /// Every kind, for filters.
    pub const ALL: [Self; 5] = [
        Self::SignIn,
        Self::SignOut,
        Self::Certificate,
        Self::Enrolment,
        Self::Change,
    ];

    /// The kind's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::SignOut => "sign-out",
            Self::Certificate => "certificate",
            Self::Enrolment => "enrolment",
            Self::Change => "change",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Whether what an [`Event`] records was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused: a wrong password, a group without rights, a used-up token.
    Refused,
}

impl Outcome {
    /// The outcome's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
        }
    }
}

/// Which events to list; all of them when empty.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only events whose actor, subject or room contains this text.
    pub text: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// What checking the log's hash chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogCheck {
    /// Every line follows from the one before (and the first from the anchor
    /// that expiry left).
    Intact {
        /// How many lines there are.
        lines: usize,
        /// The hash of the last line: an admin who keeps it can tell a
        /// rewritten chain later.
        last: String,
    },
    /// A line was changed, or lines before it removed.
    Broken {
        /// The line's number in the table.
        line: i64,
        /// Its time, as stored.
        time: String,
    },
}

/// What a session is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// The admin's web pages: a cookie, with a CSRF token.
    Web,
    /// An API call's bearer token, short-lived.
    Access,
    /// What an app exchanges for a new access token, once.
    Refresh,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Web, Self::Access, Self::Refresh]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Someone signed in: what a cookie or token stands for. Only a hash of the
/// secret is stored, so a copy of the database opens no session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// What the session is for.
    pub kind: SessionKind,
    /// Who signed in.
    pub user: String,
    /// Their groups at sign-in, from the registry, the directory or the identity provider.
    pub groups: Vec<String>,
    /// How they signed in: "local", "ldap" or "oidc".
    pub method: String,
    /// The teacher device the session belongs to, for an app's tokens.
    pub device: Option<DeviceId>,
    /// The web page's CSRF token.
    pub csrf: Option<String>,
    /// When it ends.
    pub expires: OffsetDateTime,
}

/// An enrolment token as admins see it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnrolmentToken {
    /// Its number.
    pub id: i64,
    /// What the admin called it.
    pub label: String,
    /// The room new devices go to; none: only devices already registered enrol.
    pub room: Option<RoomName>,
    /// Whether it enrols teacher PCs.
    pub teacher: bool,
    /// How many more devices it enrols.
    pub uses_left: u32,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Who made it.
    pub created_by: String,
}

/// A new enrolment token, its secret already hashed.
#[derive(Clone, Debug)]
pub struct NewEnrolmentToken {
    /// The hash of its secret.
    pub secret_hash: String,
    /// What the admin calls it.
    pub label: String,
    /// The room new devices go to.
    pub room: Option<RoomName>,
    /// Whether it enrols teacher PCs.
    pub teacher: bool,
    /// How many devices it enrols.
    pub uses: u32,
    /// When it stops working.
    pub expires: OffsetDateTime,
    /// Who makes it.
    pub created_by: String,
}

/// An enrolment about to be written: the token is used once and the device
/// gets its new certificate, or neither happens.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// The token's number.
    pub token: i64,
    /// The device: registered already, or new in the token's room.
    pub device: DeviceRecord,
    /// Whether the device is new.
    pub new: bool,
    /// Whether it is a teacher PC.
    pub teacher: bool,
    /// Its new certificate's fingerprint.
    pub fingerprint: Fingerprint,
}

/// A user as the admin's page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    /// The user name.
    pub name: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// Whether they have a local password.
    pub local_password: bool,
    /// When the account was deleted: it stays, locked, until it is purged (R18).
    pub deleted: Option<OffsetDateTime>,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be used.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database has no school yet.
    #[error("the registry has no school yet; run `pult-registry --db FILE init --org NAME` first")]
    NotInitialised,
    /// `init` on a database that already has a school.
    #[error("the registry already holds the school '{0}'")]
    AlreadyInitialised(String),
    /// The registry file does not exist.
    #[error("'{0}' does not exist; create it with `pult-registry --db {0} init --org NAME`")]
    Missing(String),
    /// The database holds a value this build cannot read.
    #[error("the database holds a bad value: {0}")]
    Corrupt(String),
}

/// The registry's persistent data.
pub trait Store {
    /// Creates the school with its CA.
    fn create_organisation(
        &mut self,
        name: &str,
        ca_certificate_pem: &str,
        ca_key_pem: &str,
    ) -> Result<(), StoreError>;
    /// The school.
    fn organisation(&self) -> Result<Organisation, StoreError>;
    /// Makes `group` the one authorised group, creating it if needed; returns the group it replaced.
    fn set_authorized_group(&mut self, group: &str) -> Result<Option<String>, StoreError>;
    /// The number of members of `group` (0 if it does not exist).
    fn group_size(&self, group: &str) -> Result<usize, StoreError>;
    /// Adds `user` (if new) to `groups` (created if new), and sets their
    /// local password hash if one is given, in one transaction; returns
    /// whether the user is new.
    fn add_user(
        &mut self,
        user: &str,
        groups: &[String],
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// The groups of `user`, or `None` if there is no such user.
    fn user_groups(&self, user: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Adds or updates devices by name, creating rooms; all or nothing. A
    /// registered device gets only the fields named in `columns` (of
    /// [`crate::devices_csv::COLUMNS`]); the others stay as they were.
    fn import_devices(
        &mut self,
        devices: &[DeviceFields],
        columns: &[&str],
    ) -> Result<ImportSummary, StoreError>;
    /// Devices, of one room or all, ordered by room and name.
    fn devices(&self, room: Option<&RoomName>) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Sets a device's steerable flag; returns false if there is no such device.
    fn set_steerable(&mut self, device: &DeviceName, steerable: bool) -> Result<bool, StoreError>;
    /// Sets the steerable flag of several devices in one transaction; if one
    /// of them does not exist, changes nothing and returns its name.
    fn set_steerable_many(
        &mut self,
        devices: &[DeviceName],
        steerable: bool,
    ) -> Result<Option<DeviceName>, StoreError>;
    /// All rooms, by name.
    fn rooms(&self) -> Result<Vec<RoomName>, StoreError>;
    /// Adds a line to the log.
    fn log(&mut self, event: &Event) -> Result<(), StoreError>;
    /// Log lines, newest first.
    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError>;
    /// How many lines the log holds.
    fn log_lines(&self) -> Result<usize, StoreError>;
    /// Deletes log entries older than `before` (R17); returns how many.
    fn expire_log(&mut self, before: OffsetDateTime) -> Result<usize, StoreError>;

    /// Makes `group` the group of admins, creating it if needed; returns the group it replaced.
    fn set_admin_group(&mut self, group: &str) -> Result<Option<String>, StoreError>;
    /// Sets or clears a user's local password hash; false if there is no such user.
    fn set_password(&mut self, user: &str, hash: Option<&str>) -> Result<bool, StoreError>;
    /// A user's local password hash, if they have one.
    fn password_hash(&self, user: &str) -> Result<Option<String>, StoreError>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// A device by name.
    fn device(&self, name: &DeviceName) -> Result<Option<DeviceRecord>, StoreError>;
    /// The device holding the certificate with `fingerprint`.
    fn device_by_fingerprint(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<DeviceRecord>, StoreError>;
    /// Records the certificate a device now holds (an agent bundle from the CLI).
    fn set_fingerprint(
        &mut self,
        device: &DeviceName,
        fingerprint: &Fingerprint,
    ) -> Result<(), StoreError>;
    /// Marks a device as a teacher PC, or not; false if there is no such device.
    fn set_teacher(&mut self, device: &DeviceName, teacher: bool) -> Result<bool, StoreError>;
    /// The rooms a teacher PC may get certificates for besides its own.
    fn teacher_rooms(&self, device: &DeviceName) -> Result<Vec<RoomName>, StoreError>;
    /// Sets the rooms a teacher PC may get certificates for besides its own.
    fn set_teacher_rooms(
        &mut self,
        device: &DeviceName,
        rooms: &[RoomName],
    ) -> Result<(), StoreError>;

    /// Stores a new enrolment token; returns its number.
    fn create_enrolment_token(&mut self, token: &NewEnrolmentToken) -> Result<i64, StoreError>;
    /// The token whose secret hashes to `secret_hash`, used up or not.
    fn enrolment_token(&self, secret_hash: &str) -> Result<Option<EnrolmentToken>, StoreError>;
    /// Every enrolment token, newest first.
    fn enrolment_tokens(&self) -> Result<Vec<EnrolmentToken>, StoreError>;
    /// Deletes a token; false if there was none.
    fn delete_enrolment_token(&mut self, id: i64) -> Result<bool, StoreError>;
    /// Uses the token once and writes the device with its new certificate, in
    /// one transaction; false (and nothing written) if the token was used up
    /// or expired meanwhile.
    fn enrol(&mut self, enrolment: &Enrolment, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Stores a session under the hash of its secret.
    fn create_session(&mut self, secret_hash: &str, session: &Session) -> Result<(), StoreError>;
    /// The session whose secret hashes to `secret_hash`, if it has not ended by `now`.
    fn session(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends a session; false if there was none.
    fn delete_session(&mut self, secret_hash: &str) -> Result<bool, StoreError>;
    /// Deletes the sessions that ended before `now`.
    fn expire_sessions(&mut self, now: OffsetDateTime) -> Result<usize, StoreError>;
    /// Ends every session and token of `user`; returns how many.
    fn delete_sessions_of(&mut self, user: &str) -> Result<usize, StoreError>;

    /// Marks `user` deleted at `at` (locked: no sign-in, no groups) and ends
    /// their sessions; false if there is no such user or it is deleted already.
    fn delete_user(&mut self, user: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Takes back the deletion of `user`; false if it is not deleted.
    fn restore_user(&mut self, user: &str) -> Result<bool, StoreError>;
    /// Removes for good the users deleted before `before`, and the records
    /// of the devices they owned (R13, R18), in one transaction; returns the
    /// users and how many devices went.
    fn purge_users(&mut self, before: OffsetDateTime) -> Result<(Vec<String>, usize), StoreError>;
    /// When `user` was deleted, if they were.
    fn user_deleted(&self, user: &str) -> Result<Option<OffsetDateTime>, StoreError>;
    /// How long the log is kept, if an admin set it.
    fn log_retention(&self) -> Result<Option<std::time::Duration>, StoreError>;
    /// Sets how long the log is kept.
    fn set_log_retention(&mut self, keep: std::time::Duration) -> Result<(), StoreError>;
    /// Checks the log's hash chain from its anchor (R17): how many lines it
    /// holds and its last hash, or the first line that does not fit.
    fn verify_log(&self) -> Result<LogCheck, StoreError>;

    /// The settings (JSON) of the sign-in method `kind` (`ldap`, `oidc`), if set.
    fn sign_in_settings(&self, kind: &str) -> Result<Option<String>, StoreError>;
    /// Sets the settings of the sign-in method `kind`, or with `None` removes them.
    fn set_sign_in_settings(
        &mut self,
        kind: &str,
        settings: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// A store that can write a consistent copy of itself while in use (R28).
pub trait Backup {
    /// Writes the copy to `to`, which must not exist.
    fn backup_to(&self, to: &Path) -> Result<(), StoreError>;
}

impl Backup for SqliteStore {
    fn backup_to(&self, to: &Path) -> Result<(), StoreError> {
        self.backup(to)
    }
}

/// The SQLite store: the whole registry in one file.
pub struct SqliteStore {
    connection: Connection,
}

/// The schema's history: the first entry makes version 1, each further one
/// takes the database one version on. An older registry file is upgraded in
/// place when it is opened, each step in one transaction; an older
/// pult-registry cannot open it afterwards (a backup before an update keeps
/// the way back, R28).
const MIGRATIONS: &[&str] = &[SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const SCHEMA_1: &str = "
CREATE TABLE organisation (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ca_certificate TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    authorized_group INTEGER REFERENCES user_group(id),
    created TEXT NOT NULL
);
CREATE TABLE room (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
CREATE TABLE device (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    room INTEGER NOT NULL REFERENCES room(id),
    position TEXT,
    inventory TEXT,
    macs TEXT NOT NULL DEFAULT '',
    addresses TEXT NOT NULL DEFAULT '',
    description TEXT,
    tags TEXT NOT NULL DEFAULT '',
    owner TEXT,
    steerable INTEGER NOT NULL DEFAULT 1,
    UNIQUE (organisation, name)
);
CREATE TABLE user_group (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
CREATE TABLE user (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
CREATE TABLE membership (
    user INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    user_group INTEGER NOT NULL REFERENCES user_group(id) ON DELETE CASCADE,
    PRIMARY KEY (user, user_group)
);
CREATE TABLE issuance_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    room TEXT,
    not_after TEXT NOT NULL
);
";

/// The registry server: passwords, the admin group, enrolment, teacher
/// devices, sessions, and one log of everything that happened.
const SCHEMA_2: &str = "
ALTER TABLE organisation ADD COLUMN admin_group INTEGER REFERENCES user_group(id);
ALTER TABLE user ADD COLUMN password TEXT;
ALTER TABLE device ADD COLUMN teacher INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device ADD COLUMN fingerprint TEXT;
CREATE UNIQUE INDEX device_fingerprint ON device (fingerprint);
CREATE TABLE teacher_room (
    device INTEGER NOT NULL REFERENCES device(id) ON DELETE CASCADE,
    room INTEGER NOT NULL REFERENCES room(id) ON DELETE CASCADE,
    PRIMARY KEY (device, room)
);
CREATE TABLE enrolment_token (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    secret_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    room INTEGER REFERENCES room(id) ON DELETE CASCADE,
    teacher INTEGER NOT NULL,
    uses_left INTEGER NOT NULL,
    expires TEXT NOT NULL,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE session (
    secret_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    groups TEXT NOT NULL,
    method TEXT NOT NULL,
    device TEXT,
    csrf TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE event_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    source TEXT,
    subject TEXT,
    room TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX event_log_time ON event_log (time);
-- Schema 1 wrote times with fractions of a second; the log keeps whole
-- seconds, so that times compare as text.
INSERT INTO event_log (time, kind, actor, subject, room, outcome, detail)
    SELECT substr(time, 1, 19) || 'Z', 'certificate', subject, subject, room, 'ok',
           kind || ' until ' || substr(not_after, 1, 19) || 'Z'
    FROM issuance_log ORDER BY id;
DROP TABLE issuance_log;
";

/// The school's directory and identity provider (R9): their settings, one
/// JSON text per method, secrets included (the file is the admin's only).
const SCHEMA_3: &str = "
CREATE TABLE sign_in_method (
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (organisation, kind)
);
";

/// Data kept only as long as allowed (R17, R18, R25): the log's hash
/// chain and the anchor expiry leaves, how long the log is kept, and
/// deleted users locked until they are purged. The chain of the lines
/// already there is written when the migration runs ([`chain_all`]).
const SCHEMA_4: &str = "
ALTER TABLE event_log ADD COLUMN hash TEXT;
ALTER TABLE user ADD COLUMN deleted TEXT;
CREATE TABLE lifecycle (
    organisation INTEGER PRIMARY KEY REFERENCES organisation(id),
    log_retention INTEGER
);
CREATE TABLE log_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL
);
";

impl SqliteStore {
    /// Opens an existing registry file, bringing an older schema up to date;
    /// a missing file is an error, not a new registry.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let mut store = Self::connect(path)?;
        let version = store.migrate()?;
        if version == 0 {
            return Err(StoreError::Corrupt(format!(
                "'{}' is not a Pult registry",
                path.display()
            )));
        }
        Ok(store)
    }

    /// Opens or creates a registry file for `init`.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::connect(path)?;
        // An existing registry is brought up to date, not created again, so
        // that `init` on it says which school it already holds.
        if store.migrate()? == 0 {
            store.migrate_from(0)?;
        }
        restrict_to_owner(path);
        Ok(store)
    }

    /// Applies the migrations the file lacks; returns the version it had.
    fn migrate(&mut self) -> Result<i64, StoreError> {
        let version: i64 = self
            .connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the registry file has schema {version}, newer than this pult-registry knows \
                 ({SCHEMA_VERSION}); use the newer pult-registry"
            )));
        }
        if version > 0 {
            self.migrate_from(version)?;
        }
        Ok(version)
    }

    /// Applies every migration after `version`, each in one transaction.
    fn migrate_from(&mut self, version: i64) -> Result<(), StoreError> {
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let transaction = self.connection.transaction()?;
            transaction.execute_batch(migration)?;
            if index + 1 == 4 {
                chain_all(&transaction)?;
            }
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()?;
        }
        Ok(())
    }

    /// Writes a consistent copy of the whole registry to `to` while it is
    /// in use (SQLite's `VACUUM INTO`, one read transaction), readable by
    /// its owner only; a file there already is not overwritten.
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} exists already; a backup never overwrites a file",
                to.display()
            )));
        }
        let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
        let partial = to.with_file_name(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let written = self
            .connection
            .execute("VACUUM INTO ?1", [partial.to_string_lossy()])
            .map_err(StoreError::from)
            .and_then(|_| {
                restrict_to_owner(&partial);
                std::fs::rename(&partial, to).map_err(|e| {
                    StoreError::Corrupt(format!("could not write {}: {e}", to.display()))
                })
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    /// Puts the backup `from` in place of the registry file `to`: checked
    /// first (it must be a registry this version can read, which an older
    /// one's is, brought up to date), then copied beside `to` and renamed
    /// over it, so `to` is either the old registry or the backup, whole.
    /// The server must not run meanwhile.
    pub fn restore(from: &Path, to: &Path) -> Result<Self, StoreError> {
        {
            let backup = Self::connect(from)?;
            let version: i64 = backup
                .connection
                .query_row("PRAGMA user_version", [], |r| r.get(0))?;
            // Every schema has had the school's row.
            let schools: i64 = backup
                .connection
                .query_row("SELECT COUNT(*) FROM organisation", [], |r| r.get(0))
                .unwrap_or(0);
            if version == 0 || version > SCHEMA_VERSION || schools == 0 {
                return Err(StoreError::Corrupt(format!(
                    "{} is no registry backup this pult-registry can read (schema {version})",
                    from.display()
                )));
            }
        }
        let name = to
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("registry");
        let partial = to.with_file_name(format!(".{name}.restoring"));
        let copied = std::fs::copy(from, &partial)
            .and_then(|_| {
                restrict_to_owner(&partial);
                std::fs::rename(&partial, to)
            })
            .map_err(|e| StoreError::Corrupt(format!("could not restore {}: {e}", to.display())));
        if let Err(error) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        Self::open(to)
    }

    fn connect(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")?;
        Ok(Self { connection })
    }

    fn organisation_id(&self) -> Result<i64, StoreError> {
        self.connection
            .query_row("SELECT id FROM organisation ORDER BY id LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(StoreError::NotInitialised)
    }

    /// Adds or updates a device by name (creating its room); a known
    /// device keeps its UUID, which its certificates name, and gets only the
    /// fields of `columns`. Returns how many rooms it created (0 or 1).
    fn write_device(
        transaction: &Connection,
        organisation: i64,
        device: &DeviceFields,
        uuid_if_new: DeviceId,
        columns: &[&str],
    ) -> Result<usize, StoreError> {
        // File column to database column; `name` is the key, never updated.
        const UPDATED: [(&str, &str); 9] = [
            ("room", "room"),
            ("position", "position"),
            ("inventory", "inventory"),
            ("mac", "macs"),
            ("ip", "addresses"),
            ("description", "description"),
            ("tags", "tags"),
            ("owner", "owner"),
            ("steerable", "steerable"),
        ];
        let updates: Vec<String> = UPDATED
            .iter()
            .filter(|(column, _)| columns.contains(column))
            .map(|(_, field)| format!("{field} = excluded.{field}"))
            .collect();
        let on_conflict = if updates.is_empty() {
            "DO NOTHING".to_owned()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        let rooms_added = transaction.execute(
            "INSERT OR IGNORE INTO room (organisation, name) VALUES (?1, ?2)",
            params![organisation, device.room.as_str()],
        )?;
        let room: i64 = transaction.query_row(
            "SELECT id FROM room WHERE organisation = ?1 AND name = ?2",
            params![organisation, device.room.as_str()],
            |r| r.get(0),
        )?;
        transaction.execute(
            &format!(
                "INSERT INTO device (organisation, name, room, position, inventory, macs,
             addresses, description, tags, owner, steerable, uuid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (organisation, name) {on_conflict}"
            ),
            params![
                organisation,
                device.name.as_str(),
                room,
                device.position,
                device.inventory,
                join(&device.macs, " "),
                join(&device.addresses, " "),
                device.description,
                device.tags.join(";"),
                device.owner,
                device.steerable,
                uuid_if_new.to_string(),
            ],
        )?;
        Ok(rooms_added)
    }

    /// Devices matching `condition` on `?2`, ordered by room and name.
    fn select_devices(
        &self,
        condition: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT d.uuid, d.name, r.name, d.position, d.inventory, d.macs, d.addresses,
                    d.description, d.tags, d.owner, d.steerable, d.teacher, d.fingerprint
             FROM device d JOIN room r ON r.id = d.room
             WHERE d.organisation = ?1 AND {condition}
             ORDER BY r.name, d.name"
        ))?;
        let rows = statement.query_map(params![self.organisation_id()?, value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, bool>(10)?,
                r.get::<_, bool>(11)?,
                r.get::<_, Option<String>>(12)?,
            ))
        })?;
        let mut devices = Vec::new();
        for row in rows {
            let (
                uuid,
                name,
                room,
                position,
                inventory,
                macs,
                addresses,
                description,
                tags,
                owner,
                steerable,
                teacher,
                fingerprint,
            ) = row?;
            let corrupt = |what: &str, e: &dyn std::fmt::Display| {
                StoreError::Corrupt(format!("device '{name}': {what}: {e}"))
            };
            devices.push(DeviceRecord {
                uuid: uuid.parse().map_err(|e| corrupt("uuid", &e))?,
                teacher,
                fingerprint: fingerprint
                    .map(|f| f.parse())
                    .transpose()
                    .map_err(|e| corrupt("fingerprint", &e))?,
                fields: DeviceFields {
                    name: name.parse().map_err(|e| corrupt("name", &e))?,
                    room: room.parse().map_err(|e| corrupt("room", &e))?,
                    position,
                    inventory,
                    macs: split(&macs, ' ').map_err(|e| corrupt("mac", &e))?,
                    addresses: split(&addresses, ' ').map_err(|e| corrupt("ip", &e))?,
                    description,
                    tags: tags
                        .split(';')
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    owner,
                    steerable,
                },
            });
        }
        Ok(devices)
    }

    /// Enrolment tokens matching `condition` on `?2`, newest first.
    fn select_tokens(
        &self,
        condition: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Vec<EnrolmentToken>, StoreError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT t.id, t.label, r.name, t.teacher, t.uses_left, t.expires, t.created_by
             FROM enrolment_token t LEFT JOIN room r ON r.id = t.room
             WHERE t.organisation = ?1 AND {condition} ORDER BY t.id DESC"
        ))?;
        let rows = statement.query_map(params![self.organisation_id()?, value], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut tokens = Vec::new();
        for row in rows {
            let (id, label, room, teacher, uses_left, expires, created_by) = row?;
            tokens.push(EnrolmentToken {
                id,
                label,
                room: room.map(|r| parse_room(&r)).transpose()?,
                teacher,
                uses_left,
                expires: parse_time(&expires)?,
                created_by,
            });
        }
        Ok(tokens)
    }

    fn group_id(
        transaction: &Connection,
        organisation: i64,
        group: &str,
    ) -> Result<i64, StoreError> {
        transaction.execute(
            "INSERT OR IGNORE INTO user_group (organisation, name) VALUES (?1, ?2)",
            params![organisation, group],
        )?;
        Ok(transaction.query_row(
            "SELECT id FROM user_group WHERE organisation = ?1 AND name = ?2",
            params![organisation, group],
            |r| r.get(0),
        )?)
    }
}

impl Store for SqliteStore {
    fn create_organisation(
        &mut self,
        name: &str,
        ca_certificate_pem: &str,
        ca_key_pem: &str,
    ) -> Result<(), StoreError> {
        if let Ok(existing) = self.organisation() {
            return Err(StoreError::AlreadyInitialised(existing.name));
        }
        self.connection.execute(
            "INSERT INTO organisation (name, ca_certificate, ca_key, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, ca_certificate_pem, ca_key_pem, now_text()],
        )?;
        Ok(())
    }

    fn organisation(&self) -> Result<Organisation, StoreError> {
        self.connection
            .query_row(
                "SELECT o.name, o.ca_certificate, o.ca_key, g.name, a.name FROM organisation o
                 LEFT JOIN user_group g ON g.id = o.authorized_group
                 LEFT JOIN user_group a ON a.id = o.admin_group ORDER BY o.id LIMIT 1",
                [],
                |r| {
                    Ok(Organisation {
                        name: r.get(0)?,
                        ca_certificate_pem: r.get(1)?,
                        ca_key_pem: r.get(2)?,
                        authorized_group: r.get(3)?,
                        admin_group: r.get(4)?,
                    })
                },
            )
            .optional()?
            .ok_or(StoreError::NotInitialised)
    }

    fn set_authorized_group(&mut self, group: &str) -> Result<Option<String>, StoreError> {
        let previous = self.organisation()?.authorized_group;
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let id = Self::group_id(&transaction, organisation, group)?;
        transaction.execute(
            "UPDATE organisation SET authorized_group = ?1 WHERE id = ?2",
            params![id, organisation],
        )?;
        transaction.commit()?;
        Ok(previous.filter(|p| p != group))
    }

    fn group_size(&self, group: &str) -> Result<usize, StoreError> {
        let count: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM membership m JOIN user_group g ON g.id = m.user_group
             WHERE g.organisation = ?1 AND g.name = ?2",
            params![self.organisation_id()?, group],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn add_user(
        &mut self,
        user: &str,
        groups: &[String],
        password_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let created = transaction.execute(
            "INSERT OR IGNORE INTO user (organisation, name) VALUES (?1, ?2)",
            params![organisation, user],
        )? == 1;
        let user_id: i64 = transaction.query_row(
            "SELECT id FROM user WHERE organisation = ?1 AND name = ?2",
            params![organisation, user],
            |r| r.get(0),
        )?;
        for group in groups {
            let group_id = Self::group_id(&transaction, organisation, group)?;
            transaction.execute(
                "INSERT OR IGNORE INTO membership (user, user_group) VALUES (?1, ?2)",
                params![user_id, group_id],
            )?;
        }
        if let Some(hash) = password_hash {
            transaction.execute(
                "UPDATE user SET password = ?1 WHERE id = ?2",
                params![hash, user_id],
            )?;
        }
        transaction.commit()?;
        Ok(created)
    }

    fn user_groups(&self, user: &str) -> Result<Option<Vec<String>>, StoreError> {
        let organisation = self.organisation_id()?;
        let exists = self
            .connection
            .query_row(
                "SELECT id FROM user WHERE organisation = ?1 AND name = ?2 AND deleted IS NULL",
                params![organisation, user],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        // A deleted user is locked: as if there were none (R18).
        let Some(user_id) = exists else {
            return Ok(None);
        };
        let mut statement = self.connection.prepare(
            "SELECT g.name FROM membership m JOIN user_group g ON g.id = m.user_group
             WHERE m.user = ?1 ORDER BY g.name",
        )?;
        let groups = statement
            .query_map([user_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(groups))
    }

    fn import_devices(
        &mut self,
        devices: &[DeviceFields],
        columns: &[&str],
    ) -> Result<ImportSummary, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let mut summary = ImportSummary::default();
        for device in devices {
            let known: bool = transaction.query_row(
                "SELECT EXISTS (SELECT 1 FROM device WHERE organisation = ?1 AND name = ?2)",
                params![organisation, device.name.as_str()],
                |r| r.get(0),
            )?;
            summary.rooms_added += Self::write_device(
                &transaction,
                organisation,
                device,
                DeviceId::random(),
                columns,
            )?;
            if known {
                summary.updated += 1;
            } else {
                summary.added += 1;
            }
        }
        transaction.commit()?;
        Ok(summary)
    }

    fn devices(&self, room: Option<&RoomName>) -> Result<Vec<DeviceRecord>, StoreError> {
        self.select_devices("(?2 IS NULL OR r.name = ?2)", &room.map(RoomName::as_str))
    }

    fn set_steerable(&mut self, device: &DeviceName, steerable: bool) -> Result<bool, StoreError> {
        let changed = self.connection.execute(
            "UPDATE device SET steerable = ?1 WHERE organisation = ?2 AND name = ?3",
            params![steerable, self.organisation_id()?, device.as_str()],
        )?;
        Ok(changed == 1)
    }

    fn set_steerable_many(
        &mut self,
        devices: &[DeviceName],
        steerable: bool,
    ) -> Result<Option<DeviceName>, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        for device in devices {
            let changed = transaction.execute(
                "UPDATE device SET steerable = ?1 WHERE organisation = ?2 AND name = ?3",
                params![steerable, organisation, device.as_str()],
            )?;
            if changed != 1 {
                // Dropping the transaction rolls it back.
                return Ok(Some(device.clone()));
            }
        }
        transaction.commit()?;
        Ok(None)
    }

    fn rooms(&self) -> Result<Vec<RoomName>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT name FROM room WHERE organisation = ?1 ORDER BY name")?;
        let names = statement
            .query_map([self.organisation_id()?], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        names.iter().map(|n| parse_room(n)).collect()
    }

    fn log(&mut self, event: &Event) -> Result<(), StoreError> {
        // Read the chain's end and append in one write transaction: the
        // server and the command line may write at once, and neither may
        // fork the chain.
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let line = LogLine::of(event);
        let hash = line.hash(&chain_end(&transaction)?);
        transaction.execute(
            "INSERT INTO event_log (time, kind, actor, source, subject, room, outcome, detail, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                line.time,
                line.kind,
                line.actor,
                line.source,
                line.subject,
                line.room,
                line.outcome,
                line.detail,
                hash,
            ],
        )?;
        transaction.commit()?;
        Ok(())
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        let pattern = filter.text.as_ref().map(|t| {
            format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let mut statement = self.connection.prepare(
            "SELECT time, kind, actor, source, subject, room, outcome, detail FROM event_log
             WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR outcome = ?2)
               AND (?3 IS NULL OR actor LIKE ?3 ESCAPE '\\' OR subject LIKE ?3 ESCAPE '\\'
                    OR room LIKE ?3 ESCAPE '\\')
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                filter.kind.map(EventKind::as_str),
                filter.outcome.map(Outcome::as_str),
                pattern,
                i64::try_from(filter.limit).unwrap_or(i64::MAX),
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )?;
        let mut events = Vec::new();
        for row in rows {
            let (time, kind, actor, source, subject, room, outcome, detail) = row?;
            events.push(Event {
                time: parse_time(&time)?,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("log: kind '{kind}'")))?,
                actor,
                source,
                subject,
                room,
                outcome: match outcome.as_str() {
                    "ok" => Outcome::Ok,
                    "refused" => Outcome::Refused,
                    other => return Err(StoreError::Corrupt(format!("log: outcome '{other}'"))),
                },
                detail,
            });
        }
        Ok(events)
    }

    fn log_lines(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM event_log", [], |r| r.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn expire_log(&mut self, before: OffsetDateTime) -> Result<usize, StoreError> {
        // RFC 3339 UTC timestamps sort as text. Lines go from the oldest on,
        // so the chain stays whole; the last line removed leaves its hash as
        // the anchor the remaining chain starts from.
        let before = time_text(before);
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<(i64, Option<String>)> = transaction
            .query_row(
                "SELECT id, hash FROM event_log WHERE id =
                    (SELECT MAX(id) FROM event_log WHERE time < ?1)",
                [&before],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((last, hash)) = last else {
            return Ok(0);
        };
        let removed = transaction.execute("DELETE FROM event_log WHERE id <= ?1", [last])?;
        transaction.execute(
            "INSERT INTO log_anchor (id, hash) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET hash = excluded.hash",
            [hash.unwrap_or_default()],
        )?;
        transaction.commit()?;
        Ok(removed)
    }

    fn set_admin_group(&mut self, group: &str) -> Result<Option<String>, StoreError> {
        let previous = self.organisation()?.admin_group;
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let id = Self::group_id(&transaction, organisation, group)?;
        transaction.execute(
            "UPDATE organisation SET admin_group = ?1 WHERE id = ?2",
            params![id, organisation],
        )?;
        transaction.commit()?;
        Ok(previous.filter(|p| p != group))
    }

    fn set_password(&mut self, user: &str, hash: Option<&str>) -> Result<bool, StoreError> {
        Ok(self.connection.execute(
            "UPDATE user SET password = ?1 WHERE organisation = ?2 AND name = ?3",
            params![hash, self.organisation_id()?, user],
        )? == 1)
    }

    fn password_hash(&self, user: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT password FROM user WHERE organisation = ?1 AND name = ?2 AND deleted IS NULL",
                params![self.organisation_id()?, user],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT u.name, u.password IS NOT NULL,
                    (SELECT group_concat(name, char(31)) FROM
                        (SELECT g.name FROM membership m JOIN user_group g ON g.id = m.user_group
                         WHERE m.user = u.id ORDER BY g.name)),
                    u.deleted
             FROM user u WHERE u.organisation = ?1 ORDER BY u.name",
        )?;
        let rows = statement
            .query_map([self.organisation_id()?], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(name, local_password, groups, deleted)| {
                Ok(UserRecord {
                    name,
                    local_password,
                    groups: groups
                        .map(|g| g.split('\u{1f}').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    deleted: deleted.as_deref().map(parse_time).transpose()?,
                })
            })
            .collect()
    }

    fn device(&self, name: &DeviceName) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self
            .select_devices("d.name = ?2", &name.as_str())?
            .into_iter()
            .next())
    }

    fn device_by_fingerprint(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self
            .select_devices("d.fingerprint = ?2", &fingerprint.to_string())?
            .into_iter()
            .next())
    }

    fn set_fingerprint(
        &mut self,
        device: &DeviceName,
        fingerprint: &Fingerprint,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE device SET fingerprint = ?1 WHERE organisation = ?2 AND name = ?3",
            params![
                fingerprint.to_string(),
                self.organisation_id()?,
                device.as_str()
            ],
        )?;
        Ok(())
    }

    fn set_teacher(&mut self, device: &DeviceName, teacher: bool) -> Result<bool, StoreError> {
        Ok(self.connection.execute(
            "UPDATE device SET teacher = ?1 WHERE organisation = ?2 AND name = ?3",
            params![teacher, self.organisation_id()?, device.as_str()],
        )? == 1)
    }

    fn teacher_rooms(&self, device: &DeviceName) -> Result<Vec<RoomName>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT r.name FROM teacher_room t JOIN room r ON r.id = t.room
             JOIN device d ON d.id = t.device
             WHERE d.organisation = ?1 AND d.name = ?2 ORDER BY r.name",
        )?;
        let names = statement
            .query_map(params![self.organisation_id()?, device.as_str()], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        names.iter().map(|n| parse_room(n)).collect()
    }

    fn set_teacher_rooms(
        &mut self,
        device: &DeviceName,
        rooms: &[RoomName],
    ) -> Result<(), StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let device_id: i64 = transaction.query_row(
            "SELECT id FROM device WHERE organisation = ?1 AND name = ?2",
            params![organisation, device.as_str()],
            |r| r.get(0),
        )?;
        transaction.execute("DELETE FROM teacher_room WHERE device = ?1", [device_id])?;
        for room in rooms {
            transaction.execute(
                "INSERT INTO teacher_room (device, room)
                 SELECT ?1, id FROM room WHERE organisation = ?2 AND name = ?3",
                params![device_id, organisation, room.as_str()],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    fn create_enrolment_token(&mut self, token: &NewEnrolmentToken) -> Result<i64, StoreError> {
        let organisation = self.organisation_id()?;
        self.connection.execute(
            "INSERT INTO enrolment_token (organisation, secret_hash, label, room, teacher,
                 uses_left, expires, created, created_by)
             VALUES (?1, ?2, ?3, (SELECT id FROM room WHERE organisation = ?1 AND name = ?4),
                 ?5, ?6, ?7, ?8, ?9)",
            params![
                organisation,
                token.secret_hash,
                token.label,
                token.room.as_ref().map(RoomName::as_str),
                token.teacher,
                token.uses,
                time_text(token.expires),
                now_text(),
                token.created_by,
            ],
        )?;
        Ok(self.connection.last_insert_rowid())
    }

    fn enrolment_token(&self, secret_hash: &str) -> Result<Option<EnrolmentToken>, StoreError> {
        Ok(self
            .select_tokens("t.secret_hash = ?2", &secret_hash)?
            .into_iter()
            .next())
    }

    fn enrolment_tokens(&self) -> Result<Vec<EnrolmentToken>, StoreError> {
        self.select_tokens("?2 IS NULL", &Option::<String>::None)
    }

    fn delete_enrolment_token(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.connection.execute(
            "DELETE FROM enrolment_token WHERE organisation = ?1 AND id = ?2",
            params![self.organisation_id()?, id],
        )? == 1)
    }

    fn enrol(&mut self, enrolment: &Enrolment, now: OffsetDateTime) -> Result<bool, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let used = transaction.execute(
            "UPDATE enrolment_token SET uses_left = uses_left - 1
             WHERE id = ?1 AND uses_left > 0 AND expires > ?2",
            params![enrolment.token, time_text(now)],
        )?;
        if used != 1 {
            return Ok(false);
        }
        let device = &enrolment.device;
        if enrolment.new {
            Self::write_device(
                &transaction,
                organisation,
                &device.fields,
                device.uuid,
                &crate::devices_csv::COLUMNS,
            )?;
        }
        transaction.execute(
            "UPDATE device SET fingerprint = ?1, teacher = ?2 WHERE organisation = ?3 AND name = ?4",
            params![
                enrolment.fingerprint.to_string(),
                enrolment.teacher,
                organisation,
                device.fields.name.as_str()
            ],
        )?;
        transaction.commit()?;
        Ok(true)
    }

    fn create_session(&mut self, secret_hash: &str, session: &Session) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO session (secret_hash, kind, user, groups, method, device, csrf, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                secret_hash,
                session.kind.as_str(),
                session.user,
                session.groups.join("\u{1f}"),
                session.method,
                session.device.map(|d| d.to_string()),
                session.csrf,
                now_text(),
                time_text(session.expires),
            ],
        )?;
        Ok(())
    }

    fn session(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let row = self
            .connection
            .query_row(
                "SELECT kind, user, groups, method, device, csrf, expires FROM session
                 WHERE secret_hash = ?1 AND expires > ?2",
                params![secret_hash, time_text(now)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((kind, user, groups, method, device, csrf, expires)) = row else {
            return Ok(None);
        };
        Ok(Some(Session {
            kind: SessionKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("session kind '{kind}'")))?,
            user,
            groups: groups
                .split('\u{1f}')
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
            method,
            device: device
                .map(|d| d.parse())
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("session device: {e}")))?,
            csrf,
            expires: parse_time(&expires)?,
        }))
    }

    fn delete_session(&mut self, secret_hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .connection
            .execute("DELETE FROM session WHERE secret_hash = ?1", [secret_hash])?
            == 1)
    }

    fn delete_sessions_of(&mut self, user: &str) -> Result<usize, StoreError> {
        Ok(self
            .connection
            .execute("DELETE FROM session WHERE user = ?1", [user])?)
    }

    fn expire_sessions(&mut self, now: OffsetDateTime) -> Result<usize, StoreError> {
        Ok(self
            .connection
            .execute("DELETE FROM session WHERE expires <= ?1", [time_text(now)])?)
    }

    fn delete_user(&mut self, user: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let deleted = transaction.execute(
            "UPDATE user SET deleted = ?1 WHERE organisation = ?2 AND name = ?3 AND deleted IS NULL",
            params![time_text(at), organisation, user],
        )? == 1;
        if deleted {
            transaction.execute("DELETE FROM session WHERE user = ?1", [user])?;
        }
        transaction.commit()?;
        Ok(deleted)
    }

    fn restore_user(&mut self, user: &str) -> Result<bool, StoreError> {
        let organisation = self.organisation_id()?;
        Ok(self.connection.execute(
            "UPDATE user SET deleted = NULL WHERE organisation = ?1 AND name = ?2 AND deleted IS NOT NULL",
            params![organisation, user],
        )? == 1)
    }

    fn purge_users(&mut self, before: OffsetDateTime) -> Result<(Vec<String>, usize), StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let names: Vec<String> = {
            let mut statement = transaction.prepare(
                "SELECT name FROM user WHERE organisation = ?1 AND deleted IS NOT NULL
                 AND deleted < ?2 ORDER BY name",
            )?;
            statement
                .query_map(params![organisation, time_text(before)], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut devices = 0;
        for name in &names {
            // R13: a private device's record goes with its owner's account.
            devices += transaction.execute(
                "DELETE FROM device WHERE organisation = ?1 AND owner = ?2",
                params![organisation, name],
            )?;
            transaction.execute(
                "DELETE FROM user WHERE organisation = ?1 AND name = ?2",
                params![organisation, name],
            )?;
            transaction.execute("DELETE FROM session WHERE user = ?1", [name])?;
        }
        transaction.commit()?;
        Ok((names, devices))
    }

    fn user_deleted(&self, user: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let organisation = self.organisation_id()?;
        self.connection
            .query_row(
                "SELECT deleted FROM user WHERE organisation = ?1 AND name = ?2",
                params![organisation, user],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten()
            .as_deref()
            .map(parse_time)
            .transpose()
    }

    fn log_retention(&self) -> Result<Option<std::time::Duration>, StoreError> {
        let organisation = self.organisation_id()?;
        let seconds: Option<i64> = self
            .connection
            .query_row(
                "SELECT log_retention FROM lifecycle WHERE organisation = ?1",
                [organisation],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(seconds.map(|s| std::time::Duration::from_secs(s.max(0).unsigned_abs())))
    }

    fn set_log_retention(&mut self, keep: std::time::Duration) -> Result<(), StoreError> {
        let organisation = self.organisation_id()?;
        let seconds = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
        self.connection.execute(
            "INSERT INTO lifecycle (organisation, log_retention) VALUES (?1, ?2)
             ON CONFLICT (organisation) DO UPDATE SET log_retention = excluded.log_retention",
            params![organisation, seconds],
        )?;
        Ok(())
    }

    fn verify_log(&self) -> Result<LogCheck, StoreError> {
        let mut previous = anchor(&self.connection)?;
        let mut statement = self.connection.prepare(
            "SELECT id, time, kind, actor, source, subject, room, outcome, detail, hash
             FROM event_log ORDER BY id",
        )?;
        let mut rows = statement.query([])?;
        let mut lines = 0;
        while let Some(row) = rows.next()? {
            let (id, line) = LogLine::read(row)?;
            let stored: Option<String> = row.get(9)?;
            let expected = line.hash(&previous);
            if stored.as_deref() != Some(expected.as_str()) {
                return Ok(LogCheck::Broken {
                    line: id,
                    time: line.time,
                });
            }
            previous = expected;
            lines += 1;
        }
        Ok(LogCheck::Intact {
            lines,
            last: previous,
        })
    }

    fn sign_in_settings(&self, kind: &str) -> Result<Option<String>, StoreError> {
        let organisation = self.organisation_id()?;
        Ok(self
            .connection
            .query_row(
                "SELECT settings FROM sign_in_method WHERE organisation = ?1 AND kind = ?2",
                params![organisation, kind],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_sign_in_settings(
        &mut self,
        kind: &str,
        settings: Option<&str>,
    ) -> Result<(), StoreError> {
        let organisation = self.organisation_id()?;
        match settings {
            Some(settings) => self.connection.execute(
                "INSERT INTO sign_in_method (organisation, kind, settings) VALUES (?1, ?2, ?3)
                 ON CONFLICT (organisation, kind) DO UPDATE SET settings = excluded.settings",
                params![organisation, kind, settings],
            )?,
            None => self.connection.execute(
                "DELETE FROM sign_in_method WHERE organisation = ?1 AND kind = ?2",
                params![organisation, kind],
            )?,
        };
        Ok(())
    }
}

/// One line of the log as it is stored and hashed.
struct LogLine {
    time: String,
    kind: String,
    actor: Option<String>,
    source: Option<String>,
    subject: Option<String>,
    room: Option<String>,
    outcome: String,
    detail: String,
}

impl LogLine {
    fn of(event: &Event) -> Self {
        Self {
            time: time_text(event.time),
            kind: event.kind.as_str().to_owned(),
            actor: event.actor.clone(),
            source: event.source.clone(),
            subject: event.subject.clone(),
            room: event.room.clone(),
            outcome: event.outcome.as_str().to_owned(),
            detail: event.detail.clone(),
        }
    }

    /// The line of `row` (id, time, kind, actor, source, subject, room,
    /// outcome, detail, …) and its id.
    fn read(row: &rusqlite::Row<'_>) -> Result<(i64, Self), StoreError> {
        Ok((
            row.get(0)?,
            Self {
                time: row.get(1)?,
                kind: row.get(2)?,
                actor: row.get(3)?,
                source: row.get(4)?,
                subject: row.get(5)?,
                room: row.get(6)?,
                outcome: row.get(7)?,
                detail: row.get(8)?,
            },
        ))
    }

    /// SHA-256 of the hash before it and of every field, each field
    /// JSON-encoded (so no field can run into the next), as hex.
    fn hash(&self, previous: &str) -> String {
        let fields = serde_json::json!([
            previous,
            self.time,
            self.kind,
            self.actor,
            self.source,
            self.subject,
            self.room,
            self.outcome,
            self.detail
        ]);
        crate::secret::hash(&fields.to_string())
    }
}

/// The hash the next line follows: the last line's, or the anchor expiry left.
fn chain_end(connection: &Connection) -> Result<String, StoreError> {
    let last: Option<Option<String>> = connection
        .query_row(
            "SELECT hash FROM event_log ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match last {
        Some(hash) => Ok(hash.unwrap_or_default()),
        None => anchor(connection),
    }
}

/// The hash the first line that is left follows ("" while nothing expired).
fn anchor(connection: &Connection) -> Result<String, StoreError> {
    Ok(connection
        .query_row("SELECT hash FROM log_anchor WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Writes the chain through the lines a registry of schema 3 or older kept.
fn chain_all(connection: &Connection) -> Result<(), StoreError> {
    let lines: Vec<(i64, LogLine)> = {
        let mut statement = connection.prepare(
            "SELECT id, time, kind, actor, source, subject, room, outcome, detail
             FROM event_log ORDER BY id",
        )?;
        let mut rows = statement.query([])?;
        let mut lines = Vec::new();
        while let Some(row) = rows.next()? {
            lines.push(LogLine::read(row)?);
        }
        lines
    };
    let mut previous = String::new();
    for (id, line) in lines {
        previous = line.hash(&previous);
        connection.execute(
            "UPDATE event_log SET hash = ?1 WHERE id = ?2",
            params![previous, id],
        )?;
    }
    Ok(())
}

fn now_text() -> String {
    time_text(OffsetDateTime::now_utc())
}

/// A time as the database keeps it: RFC 3339 in UTC, which sorts as text.
fn time_text(time: OffsetDateTime) -> String {
    // Whole seconds: with fractions, "…:00Z" would sort after "…:00.5Z".
    time.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(time)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("time '{text}': {e}")))
}

fn parse_room(text: &str) -> Result<RoomName, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("room: {e}")))
}

fn join<T: ToString>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

fn split<T: std::str::FromStr>(text: &str, separator: char) -> Result<Vec<T>, T::Err> {
    text.split(separator)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// The registry holds the school's CA key: only its owner may read the file.
fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

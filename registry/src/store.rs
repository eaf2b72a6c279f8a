//! Where the registry keeps its data: one [`Store`] trait, SQLite behind it.
//!
//! The trait is what the rest of the registry uses, so a PostgreSQL store for a
//! district can follow without touching the rules in [`crate::Registry`].

use std::path::Path;

use pult_protocol::DeviceId;
use rusqlite::{Connection, OptionalExtension, params};
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

/// A certificate the registry handed out, for its own log.
#[derive(Clone, Debug)]
pub struct Issuance {
    /// "room-certificate" or "agent-bundle".
    pub kind: &'static str,
    /// The teacher or the device.
    pub subject: String,
    /// The room, for room certificates.
    pub room: Option<String>,
    /// When the certificate ends.
    pub not_after: OffsetDateTime,
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
    /// Adds `user` (if new) to `groups` (created if new); returns whether the user is new.
    fn add_user(&mut self, user: &str, groups: &[String]) -> Result<bool, StoreError>;
    /// The groups of `user`, or `None` if there is no such user.
    fn user_groups(&self, user: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Adds or updates devices by name, creating rooms; all or nothing.
    fn import_devices(&mut self, devices: &[DeviceFields]) -> Result<ImportSummary, StoreError>;
    /// Devices, of one room or all, ordered by room and name.
    fn devices(&self, room: Option<&RoomName>) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Sets a device's steerable flag; returns false if there is no such device.
    fn set_steerable(&mut self, device: &DeviceName, steerable: bool) -> Result<bool, StoreError>;
    /// All rooms, by name.
    fn rooms(&self) -> Result<Vec<RoomName>, StoreError>;
    /// Records a handed-out certificate.
    fn log_issuance(&mut self, issuance: &Issuance) -> Result<(), StoreError>;
    /// Deletes log entries older than `before` (R17); returns how many.
    fn expire_log(&mut self, before: OffsetDateTime) -> Result<usize, StoreError>;
}

/// The SQLite store: the whole registry in one file.
pub struct SqliteStore {
    connection: Connection,
}

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
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

impl SqliteStore {
    /// Opens an existing registry file; a missing file is an error, not a new registry.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let store = Self::connect(path)?;
        let version: i64 = store
            .connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "'{}' is not a Pult registry of this version (schema {version}, expected {SCHEMA_VERSION})",
                path.display()
            )));
        }
        Ok(store)
    }

    /// Opens or creates a registry file for `init`.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let store = Self::connect(path)?;
        let version: i64 = store
            .connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            store.connection.execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))?;
        }
        restrict_to_owner(path);
        Ok(store)
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
                "SELECT o.name, o.ca_certificate, o.ca_key, g.name FROM organisation o
                 LEFT JOIN user_group g ON g.id = o.authorized_group ORDER BY o.id LIMIT 1",
                [],
                |r| {
                    Ok(Organisation {
                        name: r.get(0)?,
                        ca_certificate_pem: r.get(1)?,
                        ca_key_pem: r.get(2)?,
                        authorized_group: r.get(3)?,
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

    fn add_user(&mut self, user: &str, groups: &[String]) -> Result<bool, StoreError> {
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
        transaction.commit()?;
        Ok(created)
    }

    fn user_groups(&self, user: &str) -> Result<Option<Vec<String>>, StoreError> {
        let organisation = self.organisation_id()?;
        let exists = self
            .connection
            .query_row(
                "SELECT id FROM user WHERE organisation = ?1 AND name = ?2",
                params![organisation, user],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
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

    fn import_devices(&mut self, devices: &[DeviceFields]) -> Result<ImportSummary, StoreError> {
        let organisation = self.organisation_id()?;
        let transaction = self.connection.transaction()?;
        let mut summary = ImportSummary::default();
        for device in devices {
            summary.rooms_added += transaction.execute(
                "INSERT OR IGNORE INTO room (organisation, name) VALUES (?1, ?2)",
                params![organisation, device.room.as_str()],
            )?;
            let room: i64 = transaction.query_row(
                "SELECT id FROM room WHERE organisation = ?1 AND name = ?2",
                params![organisation, device.room.as_str()],
                |r| r.get(0),
            )?;
            let known: bool = transaction.query_row(
                "SELECT EXISTS (SELECT 1 FROM device WHERE organisation = ?1 AND name = ?2)",
                params![organisation, device.name.as_str()],
                |r| r.get(0),
            )?;
            // The UUID is kept for a known device: its certificates name it.
            transaction.execute(
                "INSERT INTO device (organisation, name, room, position, inventory, macs,
                 addresses, description, tags, owner, steerable, uuid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (organisation, name) DO UPDATE SET room = excluded.room,
                 position = excluded.position, inventory = excluded.inventory,
                 macs = excluded.macs, addresses = excluded.addresses,
                 description = excluded.description, tags = excluded.tags,
                 owner = excluded.owner, steerable = excluded.steerable",
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
                    DeviceId::random().to_string(),
                ],
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
        let mut statement = self.connection.prepare(
            "SELECT d.uuid, d.name, r.name, d.position, d.inventory, d.macs, d.addresses,
                    d.description, d.tags, d.owner, d.steerable
             FROM device d JOIN room r ON r.id = d.room
             WHERE d.organisation = ?1 AND (?2 IS NULL OR r.name = ?2)
             ORDER BY r.name, d.name",
        )?;
        let rows = statement.query_map(
            params![self.organisation_id()?, room.map(RoomName::as_str)],
            |r| {
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
                ))
            },
        )?;
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
            ) = row?;
            let corrupt = |what: &str, e: &dyn std::fmt::Display| {
                StoreError::Corrupt(format!("device '{name}': {what}: {e}"))
            };
            devices.push(DeviceRecord {
                uuid: uuid.parse().map_err(|e| corrupt("uuid", &e))?,
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

    fn set_steerable(&mut self, device: &DeviceName, steerable: bool) -> Result<bool, StoreError> {
        let changed = self.connection.execute(
            "UPDATE device SET steerable = ?1 WHERE organisation = ?2 AND name = ?3",
            params![steerable, self.organisation_id()?, device.as_str()],
        )?;
        Ok(changed == 1)
    }

    fn rooms(&self) -> Result<Vec<RoomName>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT name FROM room WHERE organisation = ?1 ORDER BY name")?;
        let names = statement
            .query_map([self.organisation_id()?], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        names
            .into_iter()
            .map(|n| {
                n.parse()
                    .map_err(|e| StoreError::Corrupt(format!("room: {e}")))
            })
            .collect()
    }

    fn log_issuance(&mut self, issuance: &Issuance) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO issuance_log (time, organisation, kind, subject, room, not_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now_text(),
                self.organisation_id()?,
                issuance.kind,
                issuance.subject,
                issuance.room,
                issuance.not_after.format(&Rfc3339).unwrap_or_default(),
            ],
        )?;
        Ok(())
    }

    fn expire_log(&mut self, before: OffsetDateTime) -> Result<usize, StoreError> {
        // RFC 3339 UTC timestamps sort as text.
        let before = before.format(&Rfc3339).unwrap_or_default();
        Ok(self
            .connection
            .execute("DELETE FROM issuance_log WHERE time < ?1", [before])?)
    }
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
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

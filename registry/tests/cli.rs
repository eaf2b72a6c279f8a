//! The `pult-registry` binary as an admin uses it: CSV import and export, and
//! what room certificates and agent bundles hold (R10, R12). The rules of who
//! gets a room certificate (R9) are in the end-to-end access matrix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const DEVICES: &str = "\
name,room,position,inventory,mac,ip,description,tags,owner,steerable
R101-PC01,101,\"Reihe 1, Platz 1\",INV-1001,00:1a:2b:3c:4d:01,10.1.1.11,,Physik;Beamer,,yes
R101-PC02,101,\"Reihe 1, Platz 2\",INV-1002,00:1a:2b:3c:4d:02 00:1a:2b:3c:4d:03,10.1.1.12 10.1.1.13,Dual-NIC,,,
R102-PC01,102,,,,10.1.2.11:11600,,,,
R102-LEHRER,102,Pult,,,10.1.2.99,Lehrer-PC,,frau.schulz,no
";

struct Registry {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
}

impl Registry {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let db = root.join("school.db");
        let registry = Self {
            _dir: dir,
            root,
            db,
        };
        registry.ok(&["init", "--org", "Gymnasium Am Park"]);
        registry
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pult-registry"))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "{args:?} should fail");
        String::from_utf8(output.stderr).unwrap()
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.root.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).to_str().unwrap().to_owned()
    }

    fn devices(&self) -> Vec<Value> {
        let list: Value = serde_json::from_str(&self.ok(&["device", "list", "--json"])).unwrap();
        list.as_array().unwrap().clone()
    }
}

fn without_uuids(devices: &[Value]) -> Vec<Value> {
    devices
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("uuid");
            d
        })
        .collect()
}

#[test]
fn r12_a_good_csv_imports_every_field_and_creates_rooms() {
    let registry = Registry::new();
    let csv = registry.file("devices.csv", DEVICES);
    let said = registry.ok(&["device", "import", &csv]);
    assert!(said.contains("4 new, 0 updated, 2 new rooms"), "{said}");
    let devices = registry.devices();
    assert_eq!(devices.len(), 4);
    let pc02 = devices.iter().find(|d| d["name"] == "R101-PC02").unwrap();
    assert_eq!(pc02["position"], "Reihe 1, Platz 2");
    assert_eq!(pc02["macs"].as_array().unwrap().len(), 2);
    assert_eq!(pc02["addresses"][1], "10.1.1.13");
    assert_eq!(pc02["steerable"], true);
    let teacher = devices.iter().find(|d| d["name"] == "R102-LEHRER").unwrap();
    assert_eq!(teacher["owner"], "frau.schulz");
    assert_eq!(teacher["steerable"], false);
    let room_101: Value =
        serde_json::from_str(&registry.ok(&["device", "list", "--room", "101", "--json"])).unwrap();
    assert_eq!(room_101.as_array().unwrap().len(), 2);
}

#[test]
fn a_bad_line_is_reported_with_line_and_column_and_nothing_is_imported() {
    let registry = Registry::new();
    let mut text = DEVICES.to_owned();
    text.push_str("R103-PC01,103,,,00:1a:2b:3c:4d:zz,,,,,\n");
    let csv = registry.file("devices.csv", &text);
    let error = registry.fails(&["device", "import", &csv]);
    assert!(error.contains("line 6, column 5 (mac)"), "{error}");
    assert!(error.contains("00:1a:2b:3c:4d:zz"), "{error}");
    assert!(
        registry.devices().is_empty(),
        "a refused file imports nothing"
    );
    assert!(
        registry
            .fails(&["device", "list", "--room", "101"])
            .contains("does not exist")
    );
}

#[test]
fn export_then_import_round_trips_and_reimport_keeps_identities() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    let exported = registry.path("export.csv");
    registry.ok(&["device", "export", &exported]);

    let other = Registry::new();
    other.ok(&["device", "import", &exported]);
    assert_eq!(
        without_uuids(&other.devices()),
        without_uuids(&registry.devices())
    );

    // Importing the export again into the first registry changes nothing, UUIDs included.
    let before = registry.devices();
    let said = registry.ok(&["device", "import", &exported]);
    assert!(said.contains("0 new, 4 updated, 0 new rooms"), "{said}");
    assert_eq!(registry.devices(), before);
}

#[test]
fn room_certificates_list_the_room_only_for_at_most_a_day() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    registry.ok(&["group", "authorize", "lehrer"]);
    registry.ok(&["user", "add", "mueller", "--group", "lehrer"]);
    let out = registry.path("cert-102");
    let error = registry.fails(&["room-cert", "103", "--user", "mueller", "--out", &out]);
    assert!(
        error.contains("room '103' does not exist (rooms: 101, 102)"),
        "{error}"
    );
    let error = registry.fails(&[
        "room-cert",
        "102",
        "--user",
        "mueller",
        "--out",
        &out,
        "--valid",
        "25h",
    ]);
    assert!(error.contains("at most 24 hours"), "{error}");

    registry.ok(&[
        "room-cert",
        "102",
        "--user",
        "mueller",
        "--out",
        &out,
        "--valid",
        "2h",
    ]);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&out).join("room.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = manifest["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["R102-LEHRER", "R102-PC01"]);
    assert_eq!(manifest["devices"][1]["address"], "10.1.2.11:11600");
    assert_eq!(manifest["devices"][0]["steerable"], false);
    for file in ["ca.crt", "room.crt", "room.key"] {
        assert!(Path::new(&out).join(file).is_file(), "{file}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Path::new(&out).join("room.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private");
    }
}

#[test]
fn r10_setting_a_device_not_steerable_shows_in_the_next_room_certificate() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    registry.ok(&["group", "authorize", "lehrer"]);
    registry.ok(&["user", "add", "mueller", "--group", "lehrer"]);
    registry.ok(&["device", "set", "R101-PC01", "--steerable", "no"]);
    let out = registry.path("cert");
    let said = registry.ok(&["room-cert", "101", "--user", "mueller", "--out", &out]);
    assert!(said.contains("1 of 2 devices steerable"), "{said}");
    assert!(
        registry
            .fails(&["device", "set", "R999", "--steerable", "no"])
            .contains("not registered")
    );
}

#[test]
fn the_agent_bundle_holds_identity_key_and_listen_address() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    let out = registry.path("bundle");
    registry.ok(&["agent-bundle", "R102-PC01", "--out", &out]);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out).join("device.json")).unwrap(),
    )
    .unwrap();
    let uuid = registry
        .devices()
        .into_iter()
        .find(|d| d["name"] == "R102-PC01")
        .unwrap()["uuid"]
        .clone();
    assert_eq!(manifest["uuid"], uuid);
    assert_eq!(manifest["listen"], "10.1.2.11:11600");
    for file in ["ca.crt", "device.crt", "device.key"] {
        assert!(Path::new(&out).join(file).is_file(), "{file}");
    }
    assert!(
        registry
            .fails(&["agent-bundle", "R999", "--out", &out])
            .contains("not registered")
    );
}

#[test]
fn a_missing_registry_file_is_not_created_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    let output = Command::new(env!("CARGO_BIN_EXE_pult-registry"))
        .arg("--db")
        .arg(&db)
        .args(["device", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
    assert!(!db.exists());
}

#[test]
fn an_import_changes_only_the_fields_its_file_has_and_reads_german_excel_files() {
    let registry = Registry::new();
    let csv = registry.file("devices.csv", DEVICES);
    registry.ok(&["device", "import", &csv]);
    let before = registry.devices();
    // A school server's list with name, room and steerable only, from a
    // German Excel: semicolons, Windows-1252, German headers.
    let path = registry.path("steuerbar.csv");
    std::fs::write(
        &path,
        b"Ger\xe4t;Raum;Steuerbar\r\nR101-PC02;101;nein\r\nR109-NEU;109;ja\r\n",
    )
    .unwrap();
    let said = registry.ok(&["device", "import", &path]);
    assert!(said.contains("1 new, 1 updated, 1 new rooms"), "{said}");
    assert!(said.contains("columns name, room, steerable"), "{said}");
    let after = registry.devices();
    let pc02 = |devices: &[Value]| {
        devices
            .iter()
            .find(|d| d["name"] == "R101-PC02")
            .unwrap()
            .clone()
    };
    let (old, new) = (pc02(&before), pc02(&after));
    assert_eq!(new["steerable"], false);
    for kept in [
        "uuid",
        "position",
        "inventory",
        "macs",
        "addresses",
        "description",
        "tags",
        "owner",
    ] {
        assert_eq!(new[kept], old[kept], "{kept} is not in the file and stays");
    }
    // The other devices are untouched.
    for device in &before {
        if device["name"] != "R101-PC02" {
            assert!(after.contains(device), "{device}");
        }
    }
    let added = after.iter().find(|d| d["name"] == "R109-NEU").unwrap();
    assert_eq!(added["room"], "109");
    assert_eq!(added["position"], Value::Null);
}

/// R17, R18, R25 at the command line: the log's chain checked (and an
/// edited line named), the retention set within its bounds, a user deleted
/// (locked) and restored.
#[test]
fn the_log_verifies_the_retention_is_set_and_a_user_is_deleted_and_restored() {
    let registry = Registry::new();
    registry.ok(&["user", "add", "mueller", "--group", "lehrer"]);
    let said = registry.ok(&["log", "verify"]);
    assert!(said.contains("lines are intact"), "{said}");
    assert!(registry.ok(&["retention"]).contains("kept for 183d"));
    assert!(
        registry
            .fails(&["retention", "--log", "12h"])
            .contains("24 hours to 183 days")
    );
    assert!(
        registry
            .ok(&["retention", "--log", "30d"])
            .contains("kept for 30d")
    );
    assert!(
        registry
            .ok(&["user", "delete", "mueller"])
            .contains("purged with the devices they own in 90 days")
    );
    assert!(
        registry
            .fails(&["user", "delete", "mueller"])
            .contains("mueller")
    );
    registry.ok(&["user", "restore", "mueller"]);
    let users = registry.ok(&["log", "--kind", "change", "--text", "mueller"]);
    assert!(
        users.contains("deleted") && users.contains("restored"),
        "{users}"
    );

    rusqlite::Connection::open(&registry.db)
        .unwrap()
        .execute(
            "UPDATE event_log SET detail = 'nothing happened' WHERE detail LIKE 'deleted%'",
            [],
        )
        .unwrap();
    let refused = registry.fails(&["log", "verify"]);
    assert!(refused.contains("the log was changed: line"), "{refused}");
}

/// The school's record of processing (Art. 30 GDPR) follows the live
/// configuration: counts, the retention an admin set, the sign-in ways;
/// German by default, English on request; nothing sent to anyone (R19).
#[test]
fn the_privacy_report_is_written_from_the_live_configuration() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    registry.ok(&["group", "authorize", "lehrer"]);
    registry.ok(&["user", "add", "mueller", "--group", "lehrer"]);
    let german = registry.ok(&["privacy-report"]);
    for expected in [
        "# Verzeichnis von Verarbeitungstätigkeiten",
        "Gymnasium Am Park",
        "4 Geräte in 2 Räumen, davon 1 mit Eigentümer",
        "„lehrer“",
        "183 Tage (R17, R25)",
        "(R19)",
        "Nur lokale Konten",
    ] {
        assert!(german.contains(expected), "{expected}:\n{german}");
    }
    registry.ok(&["retention", "--log", "2d"]);
    let english = registry.ok(&["privacy-report", "--lang", "en"]);
    for expected in [
        "# Record of processing activities",
        "4 devices in 2 rooms, 1 with an owner",
        "2 days (R17, R25)",
        "sends no data and no logs to third parties",
    ] {
        assert!(english.contains(expected), "{expected}:\n{english}");
    }
}

/// R28: a backup made while the registry is in use, the registry wiped,
/// the backup restored: the same devices, users, settings and an intact
/// log; a registry file of the first schema restores and is brought up to
/// date; a file that is no registry, or an existing backup, is refused.
#[test]
fn a_backup_restores_the_same_registry_and_an_old_one_is_brought_up_to_date() {
    let registry = Registry::new();
    registry.ok(&["device", "import", &registry.file("devices.csv", DEVICES)]);
    registry.ok(&["group", "authorize", "lehrer"]);
    registry.ok(&["user", "add", "mueller", "--group", "lehrer"]);
    registry.ok(&["retention", "--log", "30d"]);
    let snapshot = |registry: &Registry| {
        (
            registry.ok(&["device", "list", "--json"]),
            registry.ok(&["retention"]),
            registry.ok(&["privacy-report"]),
            registry.ok(&["log", "--json", "--limit", "1000"]),
        )
    };
    let before = snapshot(&registry);
    let backup = registry.root.join("backup.db");
    let said = registry.ok(&["backup", backup.to_str().unwrap()]);
    assert!(said.contains("wrote a backup"), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
            0o600,
            "the backup holds the CA's key"
        );
    }
    assert!(
        registry
            .fails(&["backup", backup.to_str().unwrap()])
            .contains("exists already")
    );

    std::fs::remove_file(&registry.db).unwrap();
    let restored = registry.ok(&["restore", backup.to_str().unwrap()]);
    assert!(restored.contains("4 devices, 1 users"), "{restored}");
    assert_eq!(snapshot(&registry), before);
    assert!(registry.ok(&["log", "verify"]).contains("intact"));

    // Not a registry: refused, the registry left as it was.
    let junk = registry.file("junk.db", "no database at all");
    let refused = registry.fails(&["restore", &junk]);
    assert!(refused.contains("not a database"), "{refused}");
    let empty = registry.root.join("empty.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let refused = registry.fails(&["restore", empty.to_str().unwrap()]);
    assert!(refused.contains("no registry backup"), "{refused}");
    assert_eq!(snapshot(&registry), before);

    // A backup of the first schema: restored and brought up to date.
    let old = registry.root.join("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(&include_str!("data/schema-1.sql").replace("{NOW}", "2026-11-01T08:00:00Z"))
        .unwrap();
    let restored = registry.ok(&["restore", old.to_str().unwrap()]);
    assert!(restored.contains("the school 'Schule'"), "{restored}");
    assert!(registry.ok(&["log", "verify"]).contains("intact"));

    // A backup of the version before this one (schema 3): restored, its
    // log chained, its owner, password and directory kept.
    let previous = registry.root.join("previous.db");
    rusqlite::Connection::open(&previous)
        .unwrap()
        .execute_batch(include_str!("data/schema-3.sql"))
        .unwrap();
    let restored = registry.ok(&["restore", previous.to_str().unwrap()]);
    assert!(
        restored.contains("the school 'Realschule Süd', 2 devices, 1 users"),
        "{restored}"
    );
    let verified = registry.ok(&["log", "verify"]);
    assert!(verified.contains("lines are intact"), "{verified}");
    let devices = registry.ok(&["device", "list", "--json"]);
    assert!(devices.contains("\"owner\": \"mueller\""), "{devices}");
    assert!(
        registry
            .ok(&["sign-in", "show"])
            .contains("ldap://127.0.0.1:389")
    );
    assert!(
        registry
            .ok(&["user", "delete", "mueller"])
            .contains("deleted")
    );
}

//! The registry's rules for the server's flows, on a real SQLite file and a
//! clock the test turns: enrolment tokens, teacher PCs, room certificates for
//! keys the registry never sees, sessions, and the log of every attempt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pult_protocol::pki::{CertificateRequest, Fingerprint, KeyAndRequest};
use pult_protocol::registry_api::EnrolmentTokenText;
use pult_registry::model::{DeviceFields, DeviceName, RoomName};
use pult_registry::store::{EventFilter, EventKind, LogCheck, Outcome, SessionKind, SqliteStore};
use pult_registry::{Actor, Identity, Registry, RegistryError, SignInMethod};
use time::OffsetDateTime;

struct School {
    registry: Registry<SqliteStore>,
    clock: Arc<Mutex<OffsetDateTime>>,
    dir: tempfile::TempDir,
}

impl School {
    /// A school with rooms 101 (PC-01, PC-02) and 102 (PC-03), the group
    /// "lehrer" authorised and "admins" as the admins' group.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let clock = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
        let now = clock.clone();
        let mut registry = Registry::with_clock(
            SqliteStore::create(&path).unwrap(),
            Box::new(move || *now.lock().unwrap()),
        )
        .unwrap();
        registry.init("Schule").unwrap();
        let device = |name: &str, room: &str| DeviceFields {
            name: name.parse().unwrap(),
            room: room.parse().unwrap(),
            position: None,
            inventory: None,
            macs: vec![],
            addresses: vec![],
            description: None,
            tags: vec![],
            owner: None,
            steerable: true,
        };
        registry
            .import_devices(&[
                device("PC-01", "101"),
                device("PC-02", "101"),
                device("PC-03", "102"),
            ])
            .unwrap();
        registry.authorize_group("lehrer", &Actor::cli()).unwrap();
        registry
            .add_user("mueller", &["lehrer".into()], None, &Actor::cli())
            .unwrap();
        registry
            .add_user("admin", &["admins".into()], None, &Actor::cli())
            .unwrap();
        registry.set_admin_group("admins", &Actor::cli()).unwrap();
        Self {
            registry,
            clock,
            dir,
        }
    }

    fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap() += by;
    }

    fn token(&mut self, room: Option<&str>, teacher: bool, uses: u32) -> EnrolmentTokenText {
        let room: Option<RoomName> = room.map(|r| r.parse().unwrap());
        self.registry
            .create_enrolment_token(
                "test",
                room.as_ref(),
                teacher,
                uses,
                Duration::from_secs(3600),
                &Actor::cli(),
            )
            .unwrap()
            .0
    }

    fn enroll(
        &mut self,
        token: &EnrolmentTokenText,
        name: &str,
    ) -> Result<pult_registry::Enrolled, RegistryError> {
        let made = KeyAndRequest::generate(name).unwrap();
        let request = CertificateRequest::from_pem(&made.request_pem).unwrap();
        let name: DeviceName = name.parse().unwrap();
        self.registry.enroll(token, &name, &request, &web())
    }

    fn last_event(&self, kind: EventKind) -> pult_registry::store::Event {
        self.registry
            .events(&EventFilter {
                kind: Some(kind),
                limit: 1,
                ..EventFilter::default()
            })
            .unwrap()
            .remove(0)
    }
}

fn web() -> Actor {
    Actor {
        name: None,
        source: "192.0.2.7".into(),
    }
}

fn teacher(groups: &[&str]) -> Identity {
    Identity {
        user: "mueller".into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        method: SignInMethod::Ldap,
    }
}

#[test]
fn a_token_enrols_a_registered_device_keeping_its_identity_and_a_new_one_into_its_room() {
    let mut school = School::new();
    let before = school
        .registry
        .devices(None)
        .unwrap()
        .into_iter()
        .find(|d| d.fields.name.as_str() == "PC-01")
        .unwrap();
    let token = school.token(Some("101"), false, 2);
    let enrolled = school.enroll(&token, "PC-01").unwrap();
    assert!(!enrolled.new);
    assert_eq!(enrolled.manifest.uuid, before.uuid);
    let fresh = school.enroll(&token, "PC-99").unwrap();
    assert!(fresh.new);
    let devices = school
        .registry
        .devices(Some(&"101".parse().unwrap()))
        .unwrap();
    let pc99 = devices
        .iter()
        .find(|d| d.fields.name.as_str() == "PC-99")
        .expect("the new device is registered in the token's room");
    assert_eq!(pc99.fingerprint, Some(fresh.certificate.fingerprint));
    assert_eq!(
        Fingerprint::of_pem(&fresh.certificate.certificate_pem).unwrap(),
        fresh.certificate.fingerprint
    );
    let event = school.last_event(EventKind::Enrolment);
    assert_eq!(event.outcome, Outcome::Ok);
    assert_eq!(event.subject.as_deref(), Some("PC-99"));
    assert_eq!(event.source.as_deref(), Some("192.0.2.7"));
}

#[test]
fn a_used_up_an_expired_an_unknown_or_a_foreign_room_token_is_refused_and_logged() {
    let mut school = School::new();
    let once = school.token(Some("101"), false, 1);
    school.enroll(&once, "PC-01").unwrap();
    let error = school.enroll(&once, "PC-02").unwrap_err();
    assert!(error.to_string().contains("used up"), "{error}");
    assert_eq!(
        school.last_event(EventKind::Enrolment).outcome,
        Outcome::Refused
    );

    let expiring = school.token(Some("101"), false, 5);
    school.advance(Duration::from_secs(3601));
    let error = school.enroll(&expiring, "PC-02").unwrap_err();
    assert!(error.to_string().contains("expired"), "{error}");

    let mut unknown = school.token(None, false, 1);
    unknown.secret = "0".repeat(32);
    let error = school.enroll(&unknown, "PC-02").unwrap_err();
    assert!(error.to_string().contains("not known"), "{error}");

    // A token for room 101 does not take over a device of room 102.
    let room_101 = school.token(Some("101"), false, 5);
    let error = school.enroll(&room_101, "PC-03").unwrap_err();
    assert!(error.to_string().contains("room 102"), "{error}");
    // Without a room a token enrols registered devices only.
    let school_wide = school.token(None, false, 5);
    school.enroll(&school_wide, "PC-03").unwrap();
    let error = school.enroll(&school_wide, "PC-77").unwrap_err();
    assert!(error.to_string().contains("not registered"), "{error}");
    // Nothing half-written: the refused device does not exist.
    assert!(
        !school
            .registry
            .devices(None)
            .unwrap()
            .iter()
            .any(|d| d.fields.name.as_str() == "PC-77")
    );
}

#[test]
fn re_enrolling_replaces_the_fingerprint_the_next_room_certificate_carries() {
    let mut school = School::new();
    let token = school.token(Some("101"), false, 2);
    let first = school.enroll(&token, "PC-01").unwrap();
    let second = school.enroll(&token, "PC-01").unwrap();
    assert_ne!(
        first.certificate.fingerprint,
        second.certificate.fingerprint
    );
    let room = school
        .registry
        .room_certificate(
            &"101".parse().unwrap(),
            "mueller",
            Duration::from_secs(600),
            &pult_protocol::message::Feature::ALL,
        )
        .unwrap();
    let pc01 = room.manifest.device("PC-01").unwrap();
    assert_eq!(pc01.fingerprint, Some(second.certificate.fingerprint));
}

#[test]
fn r8_r9_a_teacher_pc_gets_a_certificate_for_its_own_room_and_the_ones_an_admin_added() {
    let mut school = School::new();
    let token = school.token(Some("101"), true, 1);
    let enrolled = school.enroll(&token, "LEHRER-101").unwrap();
    assert!(enrolled.teacher);
    let device = school
        .registry
        .teacher_device(&enrolled.certificate.fingerprint)
        .unwrap();
    let key = KeyAndRequest::generate("mueller").unwrap();
    let request = CertificateRequest::from_pem(&key.request_pem).unwrap();
    let hour = Duration::from_secs(3600);

    let room = school
        .registry
        .certify_room(&teacher(&["lehrer"]), &device, None, &request, hour, &web())
        .unwrap();
    assert_eq!(room.manifest.room, "101");
    let names: Vec<&str> = room
        .manifest
        .devices
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["PC-01", "PC-02"],
        "the teacher PC itself is not in the room certificate"
    );

    // R9: outside the authorised group.
    let error = school
        .registry
        .certify_room(
            &teacher(&["schueler"]),
            &device,
            None,
            &request,
            hour,
            &web(),
        )
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::NotAuthorised { .. }),
        "{error}"
    );
    assert_eq!(
        school.last_event(EventKind::Certificate).outcome,
        Outcome::Refused
    );

    // R8: another room only once an admin allows it for this PC.
    let room_102: RoomName = "102".parse().unwrap();
    let error = school
        .registry
        .certify_room(
            &teacher(&["lehrer"]),
            &device,
            Some(&room_102),
            &request,
            hour,
            &web(),
        )
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::RoomNotAllowed { .. }),
        "{error}"
    );
    school
        .registry
        .set_teacher_device(
            &device.fields.name,
            true,
            std::slice::from_ref(&room_102),
            &Actor::cli(),
        )
        .unwrap();
    let other = school
        .registry
        .certify_room(
            &teacher(&["lehrer"]),
            &device,
            Some(&room_102),
            &request,
            hour,
            &web(),
        )
        .unwrap();
    assert_eq!(other.manifest.room, "102");

    // A student PC's certificate does not count as a teacher PC's.
    let student = school.token(Some("101"), false, 1);
    let pc = school.enroll(&student, "PC-02").unwrap();
    assert!(matches!(
        school.registry.teacher_device(&pc.certificate.fingerprint),
        Err(RegistryError::NotTeacherDevice)
    ));
}

#[test]
fn local_passwords_sign_in_only_with_the_right_password_and_sessions_end_on_time() {
    let mut school = School::new();
    school
        .registry
        .set_password("admin", Some("lang genug, wirklich"), &Actor::cli())
        .unwrap();
    let check = |school: &School, user: &str, password: &str| {
        school.registry.local_account(user).unwrap().check(password)
    };
    let identity = check(&school, "admin", "lang genug, wirklich").unwrap();
    assert!(school.registry.is_admin(&identity).unwrap());
    assert!(!school.registry.is_admin(&teacher(&["lehrer"])).unwrap());
    for (user, password) in [
        ("admin", "lang genug, wirklich!"),
        ("nobody", "lang genug, wirklich"),
        ("mueller", "lang genug, wirklich"),
    ] {
        assert!(matches!(
            check(&school, user, password),
            Err(RegistryError::SignInRefused)
        ));
    }
    assert!(matches!(
        school
            .registry
            .set_password("admin", Some("kurz"), &Actor::cli()),
        Err(RegistryError::Password(_))
    ));

    let (secret, session) = school
        .registry
        .open_session(SessionKind::Web, &identity, None, Duration::from_secs(600))
        .unwrap();
    assert!(session.csrf.is_some());
    assert_eq!(
        school.registry.session(&secret, SessionKind::Web).unwrap(),
        Some(session)
    );
    assert_eq!(
        school
            .registry
            .session(&secret, SessionKind::Access)
            .unwrap(),
        None
    );
    school.advance(Duration::from_secs(601));
    assert_eq!(
        school.registry.session(&secret, SessionKind::Web).unwrap(),
        None
    );
}

#[test]
fn a_changed_password_ends_the_user_s_sessions_and_a_local_user_s_rights_follow_the_registry() {
    let mut school = School::new();
    school
        .registry
        .set_password("admin", Some("lang genug, wirklich"), &Actor::cli())
        .unwrap();
    let identity = school
        .registry
        .local_account("admin")
        .unwrap()
        .check("lang genug, wirklich")
        .unwrap();
    let (secret, session) = school
        .registry
        .open_session(SessionKind::Web, &identity, None, Duration::from_secs(600))
        .unwrap();
    // Taken out of the admins' group (here: the admins' group is another one
    // now), the open session is no admin's any more.
    assert!(
        school
            .registry
            .is_admin(&school.registry.identity(&session).unwrap())
            .unwrap()
    );
    school
        .registry
        .set_admin_group("verwaltung", &Actor::cli())
        .unwrap();
    assert!(
        !school
            .registry
            .is_admin(&school.registry.identity(&session).unwrap())
            .unwrap()
    );
    // A new password ends every session the old one opened.
    school
        .registry
        .set_password("admin", Some("ein ganz neues Passwort"), &Actor::cli())
        .unwrap();
    assert_eq!(
        school.registry.session(&secret, SessionKind::Web).unwrap(),
        None
    );
}

#[test]
fn a_token_does_not_turn_a_student_pc_into_a_teacher_pc_or_back() {
    let mut school = School::new();
    let teacher_token = school.token(Some("101"), true, 2);
    school.enroll(&teacher_token, "LEHRER-101").unwrap();
    let error = school.enroll(&teacher_token, "PC-01").unwrap_err();
    assert!(
        error.to_string().contains("PC-01 is a student PC"),
        "{error}"
    );
    let student_token = school.token(Some("101"), false, 1);
    let error = school.enroll(&student_token, "LEHRER-101").unwrap_err();
    assert!(
        error.to_string().contains("LEHRER-101 is a teacher PC"),
        "{error}"
    );
    let devices = school.registry.devices(None).unwrap();
    assert!(
        devices
            .iter()
            .any(|d| d.fields.name.as_str() == "LEHRER-101" && d.teacher)
    );
    assert!(
        devices
            .iter()
            .any(|d| d.fields.name.as_str() == "PC-01" && !d.teacher)
    );
    // The log names the room of each enrolment.
    let event = school.last_event(EventKind::Enrolment);
    assert_eq!(event.outcome, Outcome::Refused);
    let enrolled = school
        .registry
        .events(&EventFilter {
            kind: Some(EventKind::Enrolment),
            outcome: Some(Outcome::Ok),
            limit: 1,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(enrolled[0].room.as_deref(), Some("101"));
}

#[test]
fn a_version_1_registry_file_is_brought_up_to_date_and_keeps_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        // As schema 1 wrote times: with fractions of a second.
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(123_456_789)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        assert!(now.contains(".123456789"));
        connection
            .execute_batch(&include_str!("data/schema-1.sql").replace("{NOW}", &now))
            .unwrap();
    }
    let registry = Registry::new(SqliteStore::open(&path).unwrap()).unwrap();
    let devices = registry.devices(None).unwrap();
    assert_eq!(devices.len(), 1);
    assert!(!devices[0].teacher);
    let events = registry
        .events(&EventFilter {
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Certificate);
    assert_eq!(events[0].subject.as_deref(), Some("mueller"));
    // Whole seconds, as the log keeps them, so times compare as text.
    assert_eq!(events[0].time.nanosecond(), 0);
    assert!(!events[0].detail.contains('.'), "{}", events[0].detail);
    // The old line is part of the hash chain now (R17).
    assert!(matches!(
        registry.verify_log().unwrap(),
        LogCheck::Intact { lines: 1, .. }
    ));
    // init on it says which school it holds.
    let error = SqliteStore::create(&path)
        .map(|store| Registry::new(store).unwrap().init("Andere Schule"))
        .unwrap()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("already holds the school 'Schule'"),
        "{error}"
    );
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl School {
    /// Changes the registry file behind the registry's back, as someone with
    /// the file in hand could.
    fn tamper(&self, sql: &str) {
        rusqlite::Connection::open(self.dir.path().join("registry.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    fn log_lines(&self) -> Vec<pult_registry::store::Event> {
        self.registry
            .events(&EventFilter {
                limit: 10_000,
                ..EventFilter::default()
            })
            .unwrap()
    }
}

#[test]
fn r17_the_log_is_a_hash_chain_that_notices_an_edit_or_a_removed_line() {
    let mut school = School::new();
    for day in 0..3 {
        school.advance(DAY);
        school
            .registry
            .log_change(&Actor::cli(), "PC-01", &format!("day {day}"))
            .unwrap();
    }
    let LogCheck::Intact { lines, last } = school.registry.verify_log().unwrap() else {
        panic!("a fresh log is intact");
    };
    assert_eq!(lines, school.log_lines().len());
    assert_eq!(last.len(), 64);
    school.tamper("UPDATE event_log SET detail = 'day 9' WHERE detail = 'day 1'");
    let LogCheck::Broken { line, .. } = school.registry.verify_log().unwrap() else {
        panic!("an edited line is noticed");
    };
    let edited: i64 = rusqlite::Connection::open(school.dir.path().join("registry.db"))
        .unwrap()
        .query_row("SELECT id FROM event_log WHERE detail = 'day 9'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(line, edited, "the edited line is named");
    school.tamper("UPDATE event_log SET detail = 'day 1' WHERE detail = 'day 9'");
    assert!(matches!(
        school.registry.verify_log().unwrap(),
        LogCheck::Intact { .. }
    ));
    school.tamper("DELETE FROM event_log WHERE detail = 'day 0'");
    assert!(
        matches!(
            school.registry.verify_log().unwrap(),
            LogCheck::Broken { .. }
        ),
        "a line taken out of the middle is noticed"
    );
}

#[test]
fn r17_r25_the_log_expires_after_its_retention_and_what_is_left_still_verifies() {
    let mut school = School::new();
    school
        .registry
        .log_change(&Actor::cli(), "PC-01", "old news")
        .unwrap();
    assert_eq!(
        school.registry.log_retention().unwrap(),
        pult_registry::LOG_RETENTION,
        "six months unless an admin says less (R17)"
    );
    // Five months on: still there.
    school.advance(150 * DAY);
    school.registry.expire().unwrap();
    assert!(school.log_lines().iter().any(|e| e.detail == "old news"));
    school
        .registry
        .log_change(&Actor::cli(), "PC-02", "newer news")
        .unwrap();
    // Seven months after the first: the first lines are gone, the rest verifies.
    school.advance(60 * DAY);
    let expired = school.registry.expire().unwrap();
    assert!(expired.log_lines > 0);
    let left = school.log_lines();
    assert!(!left.iter().any(|e| e.detail == "old news"));
    assert!(left.iter().any(|e| e.detail == "newer news"));
    assert!(matches!(
        school.registry.verify_log().unwrap(),
        LogCheck::Intact { .. }
    ));
    // R25: an admin keeps it a day only; shorter or longer than allowed is refused.
    for refused in [Duration::from_secs(23 * 3600), 184 * DAY] {
        let error = school
            .registry
            .set_log_retention(refused, &Actor::cli())
            .unwrap_err();
        assert!(
            error.to_string().contains("24 hours to 183 days"),
            "{error}"
        );
    }
    school
        .registry
        .set_log_retention(DAY, &Actor::cli())
        .unwrap();
    school.advance(DAY + Duration::from_secs(1));
    school.registry.expire().unwrap();
    assert!(!school.log_lines().iter().any(|e| e.detail == "newer news"));
    // Setting the retention was logged after the last expiry: still there.
    school
        .registry
        .log_change(&Actor::cli(), "PC-03", "today")
        .unwrap();
    assert!(school.log_lines().iter().any(|e| e.detail == "today"));
    assert!(matches!(
        school.registry.verify_log().unwrap(),
        LogCheck::Intact { .. }
    ));
}

#[test]
fn r18_r13_a_deleted_user_is_locked_for_90_days_then_purged_with_the_devices_they_own() {
    let mut school = School::new();
    let owned = |owner: &str, name: &str| DeviceFields {
        name: name.parse().unwrap(),
        room: "201".parse().unwrap(),
        position: None,
        inventory: None,
        macs: vec![],
        addresses: vec![],
        description: Some("privat".into()),
        tags: vec![],
        owner: Some(owner.into()),
        steerable: true,
    };
    school
        .registry
        .import_devices(&[
            owned("mueller", "LAPTOP-MUELLER"),
            owned("schulz", "LAPTOP-SCHULZ"),
        ])
        .unwrap();
    school
        .registry
        .set_password("mueller", Some("Tafel-und-Kreide-2026"), &Actor::cli())
        .unwrap();
    let (secret, _) = school
        .registry
        .open_session(
            SessionKind::Refresh,
            &teacher(&["lehrer"]),
            None,
            Duration::from_secs(3600),
        )
        .unwrap();

    school
        .registry
        .delete_user("mueller", &Actor::cli())
        .unwrap();
    // Locked at once: no password sign-in, no groups, no session.
    let account = school.registry.local_account("mueller").unwrap();
    assert!(account.check("Tafel-und-Kreide-2026").is_err());
    assert!(account.groups().is_empty());
    assert!(
        school
            .registry
            .session(&secret, SessionKind::Refresh)
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        school.registry.directory_identity(teacher(&["lehrer"])),
        Err(RegistryError::UserLocked(_))
    ));
    // Kept, with the devices, for 90 days; taken back within them.
    school.advance(89 * DAY);
    school.registry.expire().unwrap();
    assert!(
        school
            .registry
            .users()
            .unwrap()
            .iter()
            .any(|u| u.name == "mueller")
    );
    school
        .registry
        .restore_user("mueller", &Actor::cli())
        .unwrap();
    assert!(
        school
            .registry
            .local_account("mueller")
            .unwrap()
            .check("Tafel-und-Kreide-2026")
            .is_ok(),
        "restored with the password"
    );

    // Deleted again, and 90 days later gone for good with the laptop they own (R13).
    school
        .registry
        .delete_user("mueller", &Actor::cli())
        .unwrap();
    school.advance(90 * DAY + Duration::from_secs(1));
    let expired = school.registry.expire().unwrap();
    assert_eq!(expired.users, ["mueller"]);
    assert_eq!(expired.devices, 1);
    assert!(
        !school
            .registry
            .users()
            .unwrap()
            .iter()
            .any(|u| u.name == "mueller")
    );
    let devices: Vec<String> = school
        .registry
        .devices(None)
        .unwrap()
        .iter()
        .map(|d| d.fields.name.to_string())
        .collect();
    assert!(
        !devices.contains(&"LAPTOP-MUELLER".to_owned()),
        "{devices:?}"
    );
    assert!(devices.contains(&"LAPTOP-SCHULZ".to_owned()), "{devices:?}");
    let purged = school.last_event(EventKind::Change);
    assert_eq!(purged.subject.as_deref(), Some("mueller"));
    assert!(purged.detail.contains("R18"), "{}", purged.detail);
    // Unknown and not deleted users are named.
    assert!(
        school
            .registry
            .delete_user("niemand", &Actor::cli())
            .is_err()
    );
    assert!(
        school
            .registry
            .restore_user("admin", &Actor::cli())
            .is_err()
    );
}

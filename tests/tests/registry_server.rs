//! The registry server, end to end with the real binaries: agents enrol with
//! tokens, a teacher PC enrols with a teacher token, the teacher signs in
//! with `pultctl login` and gets the room certificate of the room the PC
//! stands in, renews it, and a device enrolled again is refused with its old
//! certificate. Every attempt is in the registry's log (R16).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pult_e2e::{Agent, RegistryServer, School, binary, free_address, pultctl, pultctl_login};
use serde_json::Value;

const PASSWORD: &str = "Tafel-und-Kreide-2026";

/// A school with rooms 101 (PC-01) and 102 (PC-02) registered, the teacher
/// "mueller" with a local password, and the registry serving.
struct District {
    school: School,
    server: RegistryServer,
    pc01_address: String,
    pc02_address: String,
}

fn district(serve_args: &[&str]) -> District {
    let school = School::with_teacher("Gesamtschule Nord");
    let pc01_address = free_address();
    let pc02_address = free_address();
    school.import(&format!(
        "name,room,ip\nPC-01,101,{pc01_address}\nPC-02,102,{pc02_address}\n"
    ));
    school.registry_with_input(&["user", "password", "mueller"], &format!("{PASSWORD}\n"));
    let server = RegistryServer::start(&school, serve_args);
    District {
        school,
        server,
        pc01_address,
        pc02_address,
    }
}

impl District {
    /// Enrols `name` with a new token for `room` into a bundle directory.
    fn enrol_agent(&self, name: &str, room: &str, bundle: &str) -> PathBuf {
        self.server.enrol_agent(&self.school, name, room, bundle)
    }

    fn agent_enroll(&self, token: &str, name: &str, dir: &Path) -> Output {
        self.server.agent_enroll(token, name, dir)
    }

    /// Enrols the teacher PC LEHRER-101 in room 101; returns its setting file.
    fn enrol_teacher_pc(&self) -> PathBuf {
        self.server
            .enrol_teacher_pc(&self.school, "LEHRER-101", "101")
    }

    /// `pultctl login` as `user` with `password`, into `room_dir`.
    fn login(&self, setting: &Path, user: &str, password: &str, room_dir: &Path) -> Output {
        pultctl_login(setting, room_dir, user, password)
    }

    fn renew(&self, setting: &Path, room_dir: &Path) -> Output {
        Command::new(binary("pultctl"))
            .arg("--cert")
            .arg(room_dir)
            .args(["renew", "--setting"])
            .arg(setting)
            .output()
            .unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn manifest(room_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(room_dir.join("room.json")).unwrap()).unwrap()
}

#[test]
fn r8_r9_a_teacher_pc_signs_in_gets_its_room_and_reaches_only_that_room() {
    let district = district(&[]);
    let pc01 = Agent::synthetic(&district.enrol_agent("PC-01", "101", "pc01"), "640x480");
    let pc02 = Agent::synthetic(&district.enrol_agent("PC-02", "102", "pc02"), "640x480");
    // The registry's addresses reached the enrolled bundles.
    assert_eq!(pc01.address, district.pc01_address);
    assert_eq!(pc02.address, district.pc02_address);
    let setting = district.enrol_teacher_pc();

    // A wrong password, and a user outside the authorised group: refused, logged.
    let room_dir = district.school.path("room");
    let wrong = district.login(&setting, "mueller", "Tafel-und-Kreide-2025", &room_dir);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("user name or the password is wrong"),
        "{}",
        stderr(&wrong)
    );
    district
        .school
        .registry(&["user", "add", "schmidt", "--group", "sekretariat"]);
    district
        .school
        .registry_with_input(&["user", "password", "schmidt"], &format!("{PASSWORD}\n"));
    let outsider = district.login(&setting, "schmidt", PASSWORD, &room_dir);
    assert!(!outsider.status.success());
    assert!(
        stderr(&outsider).contains("not in the group 'lehrer'"),
        "{}",
        stderr(&outsider)
    );
    assert!(
        !room_dir.exists(),
        "nothing installed for a refused sign-in"
    );

    // The teacher in the group: the room the PC stands in, its student PCs only.
    let login = district.login(&setting, "mueller", PASSWORD, &room_dir);
    assert!(login.status.success(), "{}", stderr(&login));
    let room = manifest(&room_dir);
    assert_eq!(room["room"], "101");
    let names: Vec<&str> = room["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["PC-01"],
        "the teacher PC is not in its own room certificate"
    );
    let key_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(room_dir.join("room.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(key_mode, 0o600);

    let shot = district.school.path("pc01.png");
    let taken = pultctl(
        &room_dir,
        &["screenshot", "PC-01", "--out", shot.to_str().unwrap()],
    );
    assert!(taken.success, "{}", taken.stderr);
    assert!(shot.is_file());
    let other = district.school.path("pc02.png");
    let refused = pultctl(
        &room_dir,
        &["screenshot", "PC-02", "--out", other.to_str().unwrap()],
    );
    assert!(!refused.success);
    assert!(refused.stderr.contains("PC-02"), "{}", refused.stderr);
    assert!(!other.exists());

    // R16: each sign-in, good or bad, with who and from where.
    let sign_ins = district.school.log("sign-in");
    let outcomes: Vec<(&str, &str)> = sign_ins
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("mueller", "ok"), ("schmidt", "ok"), ("mueller", "refused")],
        "newest first; schmidt's password was right, the group was not"
    );
    assert!(sign_ins.iter().all(|e| e["source"] == "127.0.0.1"));
    let certificates = district.school.log("certificate");
    assert!(certificates.iter().any(|e| e["subject"] == "schmidt"
        && e["outcome"] == "refused"
        && e["detail"].as_str().unwrap().contains("lehrer")));
    assert!(
        certificates
            .iter()
            .any(|e| e["subject"] == "mueller" && e["outcome"] == "ok" && e["room"] == "101")
    );
}

#[test]
fn the_room_certificate_is_renewed_before_it_runs_out_without_a_new_sign_in() {
    let district = district(&["--room-validity", "2m"]);
    let setting = district.enrol_teacher_pc();
    let room_dir = district.school.path("room");
    let login = district.login(&setting, "mueller", PASSWORD, &room_dir);
    assert!(login.status.success(), "{}", stderr(&login));
    let first = manifest(&room_dir)["not_after"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_certificate = std::fs::read_to_string(room_dir.join("room.crt")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for _ in 0..2 {
        let renewed = district.renew(&setting, &room_dir);
        assert!(renewed.status.success(), "{}", stderr(&renewed));
    }
    let second = manifest(&room_dir)["not_after"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second > first, "{second} is later than {first}");
    assert_ne!(
        std::fs::read_to_string(room_dir.join("room.crt")).unwrap(),
        first_certificate
    );
    // A refresh token works once: an old copy of the session is refused.
    let session = district.school.path("room.session.json");
    let saved = std::fs::read_to_string(&session).unwrap();
    assert!(district.renew(&setting, &room_dir).status.success());
    std::fs::write(&session, saved).unwrap();
    let replayed = district.renew(&setting, &room_dir);
    assert!(!replayed.status.success());
    assert!(
        stderr(&replayed).contains("sign in again"),
        "{}",
        stderr(&replayed)
    );
}

#[test]
fn a_used_up_or_expired_token_is_refused_and_a_re_enrolled_device_s_old_certificate_too() {
    let district = district(&[]);
    // Used up: one use, two devices.
    let once = district.school.token(&["--room", "101"]);
    let first = district.agent_enroll(&once, "PC-01", &district.school.path("pc01"));
    assert!(first.status.success(), "{}", stderr(&first));
    let again = district.agent_enroll(&once, "PC-03", &district.school.path("pc03"));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("used up"), "{}", stderr(&again));
    assert!(!district.school.path("pc03").exists());
    // Expired.
    let brief = district.school.token(&["--room", "101", "--valid", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let late = district.agent_enroll(&brief, "PC-03", &district.school.path("pc03"));
    assert!(!late.status.success());
    assert!(stderr(&late).contains("expired"), "{}", stderr(&late));
    // A token of another school's registry (another CA fingerprint) is not sent at all.
    let mut foreign = district.school.token(&["--room", "101"]);
    foreign.replace_range(foreign.len() - 4.., "0000");
    let wrong = district.agent_enroll(&foreign, "PC-03", &district.school.path("pc03"));
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("not this school's registry"),
        "{}",
        stderr(&wrong)
    );

    let refused = district.school.log("enrolment");
    assert_eq!(
        refused.iter().filter(|e| e["outcome"] == "refused").count(),
        2,
        "the used-up and the expired token; the foreign one never reached the registry"
    );

    // PC-01 runs with its first certificate; the teacher reaches it.
    let old_bundle = district.school.path("pc01");
    let pc01 = Agent::synthetic(&old_bundle, "640x480");
    let setting = district.enrol_teacher_pc();
    let room_dir = district.school.path("room");
    assert!(
        district
            .login(&setting, "mueller", PASSWORD, &room_dir)
            .status
            .success()
    );
    let shot = district.school.path("before.png");
    let before = pultctl(
        &room_dir,
        &["screenshot", "PC-01", "--out", shot.to_str().unwrap()],
    );
    assert!(before.success, "{}", before.stderr);

    // PC-01 is enrolled again (a new key elsewhere); its old certificate, still
    // signed by the school CA, is refused from the next room certificate on.
    district.enrol_agent("PC-01", "101", "pc01-new");
    assert!(district.renew(&setting, &room_dir).status.success());
    let shot = district.school.path("after.png");
    let after = pultctl(
        &room_dir,
        &["screenshot", "PC-01", "--out", shot.to_str().unwrap()],
    );
    assert!(!after.success);
    assert!(after.stderr.contains("enrolled again"), "{}", after.stderr);
    assert!(!shot.exists());
    drop(pc01);
}

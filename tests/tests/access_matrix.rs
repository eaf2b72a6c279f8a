//! The access matrix: who may reach which student computer, with the real
//! registry, real agents and pultctl over QUIC on loopback.
//!
//! R8: only devices of the certificate's room; R9: only the one authorised
//! group, and nobody while none is authorised; R10: never a device an admin
//! marked not steerable. Plus the certificate itself: in date, of this school.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pult_console::{Console, ConsoleError, RoomCertificate};
use pult_e2e::{Agent, School, free_address, pultctl};
use pult_protocol::endpoint::RefusalAlert;
use serde_json::Value;

/// A school with rooms 101 and 102, one running agent in each, and a room
/// certificate for 101.
struct Classroom {
    school: School,
    pc101: Agent,
    pc102: Agent,
    cert101: PathBuf,
}

fn classroom() -> Classroom {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!(
        "name,room,position,ip\nR101-PC01,101,Reihe 1,{}\nR102-PC01,102,Reihe 1,{}\n",
        free_address(),
        free_address()
    ));
    let pc101 = Agent::synthetic(&school.agent_bundle("R101-PC01"), "800x600");
    let pc102 = Agent::synthetic(&school.agent_bundle("R102-PC01"), "800x600");
    let cert101 = school.room_cert("101", "mueller", "1h");
    Classroom {
        school,
        pc101,
        pc102,
        cert101,
    }
}

fn refusal_of(agent: &Agent) -> Value {
    agent.wait_for_audit(|e| e["action"] == "connect" && e["result"] == "refused")
}

/// Asks for a screenshot of R101-PC01 with `cert` and insists that its agent
/// refuses: pultctl fails saying `says`, nothing is saved, and the agent's
/// audit log has the refusal with a reason starting with `reason`.
fn assert_pc101_refuses(room: &Classroom, cert: &Path, says: &str, reason: &str) -> Value {
    let out = room.school.path("refused.png");
    let ctl = pultctl(
        cert,
        &["screenshot", "R101-PC01", "--out", out.to_str().unwrap()],
    );
    assert!(!ctl.success);
    assert!(
        ctl.stderr.contains("the agent refused this certificate"),
        "{}",
        ctl.stderr
    );
    assert!(ctl.stderr.contains(says), "{}", ctl.stderr);
    assert!(!out.exists());
    let entry = refusal_of(&room.pc101);
    assert!(
        entry["reason"].as_str().unwrap().starts_with(reason),
        "{entry}"
    );
    entry
}

#[test]
fn r8_the_right_room_gets_a_png_of_the_whole_screen() {
    let room = classroom();
    let out = room.school.path("shot.png");
    let ctl = pultctl(
        &room.cert101,
        &["screenshot", "R101-PC01", "--out", out.to_str().unwrap()],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    let png = std::fs::read(&out).unwrap();
    let frame = pult_screen::decode_png(&png).unwrap();
    assert_eq!((frame.width(), frame.height()), (800, 600));
    // Not a blank picture: the synthetic desktop has windows, text and a taskbar.
    let colours: std::collections::HashSet<_> = frame.pixels().chunks(4).take(800 * 600).collect();
    assert!(colours.len() > 50, "only {} colours", colours.len());

    let entry = room.pc101.wait_for_audit(|e| e["action"] == "screenshot");
    assert_eq!(entry["result"], "ok");
    assert_eq!(entry["user"], "mueller");
    assert_eq!(entry["room"], "101");
    assert_eq!(entry["detail"], "800x600");
}

#[test]
fn r8_pultctl_does_not_contact_a_device_of_another_room() {
    let room = classroom();
    let out = room.school.path("shot.png");
    let ctl = pultctl(
        &room.cert101,
        &["screenshot", "R102-PC01", "--out", out.to_str().unwrap()],
    );
    assert!(!ctl.success);
    assert!(
        ctl.stderr.contains("'R102-PC01' is not in room 101"),
        "{}",
        ctl.stderr
    );
    assert!(!out.exists());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        room.pc102.audit().is_empty(),
        "the agent of room 102 saw nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_the_agent_refuses_a_certificate_for_another_room() {
    let room = classroom();
    // A console that tries anyway: room 101's certificate, room 102's device.
    let cert102 = room.school.room_cert("102", "mueller", "1h");
    let device = RoomCertificate::load(&cert102).unwrap().manifest.devices[0].clone();
    let console = Console::new(RoomCertificate::load(&room.cert101).unwrap()).unwrap();
    let error = console.connect(&device).await.err().expect("refused");
    assert!(
        matches!(
            error,
            ConsoleError::Refused {
                alert: RefusalAlert::AccessDenied,
                ..
            }
        ),
        "{error}"
    );
    let entry = refusal_of(&room.pc102);
    assert_eq!(entry["user"], "mueller");
    assert_eq!(entry["room"], "101");
    assert!(
        entry["reason"].as_str().unwrap().starts_with("other-room"),
        "{entry}"
    );
    assert!(!entry["peer"].as_str().unwrap().is_empty());
}

#[test]
fn r10_a_device_set_not_steerable_refuses_once_the_certificate_is_reissued() {
    let room = classroom();
    room.school
        .registry(&["device", "set", "R101-PC01", "--steerable", "no"]);
    let cert = room.school.room_cert("101", "mueller", "1h");
    let entry = assert_pc101_refuses(&room, &cert, "not steerable", "not-steerable");
    assert_eq!(entry["user"], "mueller");
}

/// Every steering action of pultctl on `device`, which must not happen.
fn steering(device: &str) -> Vec<Vec<String>> {
    let actions: [&[&str]; 8] = [
        &["message", "Hallo", device],
        &["lock", device, "--message", "Pause"],
        &["unlock", device],
        &["input", device, "--text", "x", "--click", "10,10"],
        &["power", "reboot", device, "--delay", "0"],
        &["power", "logoff", device],
        &["power", "cancel", device],
        &["power", "on", device],
    ];
    actions
        .iter()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn r8_r10_every_steering_action_is_refused_for_another_rooms_device_and_one_not_steerable() {
    let room = classroom();
    room.school.import(&format!(
        "name,room,mac,ip\nR101-PC01,101,02:00:00:00:01:01,{}\n",
        room.pc101.address
    ));
    // R8: a device of another room is not even contacted.
    for args in steering("R102-PC01") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ctl = pultctl(&room.cert101, &args);
        assert!(!ctl.success, "{args:?}");
        assert!(
            ctl.stderr.contains("device 'R102-PC01' is not in room 101"),
            "{args:?}: {}",
            ctl.stderr
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        room.pc102.audit().is_empty(),
        "room 102's agent saw nothing"
    );

    // R10: a device marked not steerable refuses each, and logs each refusal;
    // waking it is refused by the console (no agent would be asked).
    room.school
        .registry(&["device", "set", "R101-PC01", "--steerable", "no"]);
    let cert = room.school.room_cert("101", "mueller", "1h");
    for args in steering("R101-PC01") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ctl = pultctl(&cert, &args);
        assert!(!ctl.success, "{args:?}");
        assert!(
            ctl.stderr.contains("not steerable"),
            "{args:?}: {}",
            ctl.stderr
        );
    }
    let refused = room
        .pc101
        .audit()
        .into_iter()
        .filter(|e| {
            e["result"] == "refused"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("not-steerable"))
        })
        .count();
    assert_eq!(
        refused, 7,
        "one refusal for each action that contacts the agent"
    );
    assert!(
        !room.pc101.audit().iter().any(|e| e["result"] == "ok"),
        "nothing was carried out"
    );
    assert!(!room.school.path("bundle-R101-PC01/power.txt").exists());
}

#[test]
fn an_expired_room_certificate_is_refused() {
    let room = classroom();
    let cert = room.school.room_cert("101", "mueller", "2s");
    std::thread::sleep(Duration::from_millis(3200));
    let entry = assert_pc101_refuses(&room, &cert, "expired", "expired");
    assert_eq!(entry["user"], "mueller");
}

#[test]
fn a_room_certificate_of_another_schools_ca_is_refused() {
    let room = classroom();
    // Another school with the same room names issues its own certificate for "101".
    let other = School::with_teacher("Realschule Am See");
    // Their device list even points at this school's agent.
    other.import(&format!(
        "name,room,ip\nR101-PC01,101,{}\n",
        room.pc101.address
    ));
    let theirs = other.room_cert("101", "mueller", "1h");
    // Someone combines it with this school's public CA and room list.
    let forged = other.path("forged");
    std::fs::create_dir_all(&forged).unwrap();
    for file in ["room.crt", "room.key"] {
        std::fs::copy(theirs.join(file), forged.join(file)).unwrap();
    }
    for file in ["ca.crt", "room.json"] {
        std::fs::copy(room.cert101.join(file), forged.join(file)).unwrap();
    }
    let entry = assert_pc101_refuses(
        &room,
        &forged,
        "not issued by this device's school",
        "unknown-ca",
    );
    // Anyone can write any name into a certificate: the names are only claimed.
    assert!(entry["user"].is_null(), "{entry}");
    assert_eq!(entry["claimed_user"], "mueller");
    assert_eq!(entry["claimed_room"], "101");

    // With their own CA and room list, their console does not trust this
    // school's agent in the first place.
    let out = room.school.path("shot.png");
    let ctl = pultctl(
        &theirs,
        &["screenshot", "R101-PC01", "--out", out.to_str().unwrap()],
    );
    assert!(!ctl.success);
    assert!(
        ctl.stderr
            .contains("is not that of this device of this school"),
        "{}",
        ctl.stderr
    );
    assert!(!out.exists());
}

#[test]
fn r9_with_no_group_authorised_no_room_certificate_is_issued() {
    let school = School::new("Gymnasium Am Park");
    school.import("name,room\nR101-PC01,101\n");
    school.registry(&["user", "add", "mueller", "--group", "lehrer"]);
    let out = school.path("cert");
    let output = school.registry_output(&[
        "room-cert",
        "101",
        "--user",
        "mueller",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("no group is authorised"), "{said}");
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn r9_a_user_outside_the_authorised_group_gets_no_room_certificate() {
    let school = School::with_teacher("Gymnasium Am Park");
    school.import("name,room\nR101-PC01,101\n");
    school.registry(&["user", "add", "schmidt", "--group", "verwaltung"]);
    let out = school.path("cert");
    for (user, expected) in [
        ("schmidt", "'schmidt' is not in the group 'lehrer'"),
        ("nobody", "'nobody' is not registered"),
    ] {
        let output = school.registry_output(&[
            "room-cert",
            "101",
            "--user",
            user,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(!output.status.success());
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(expected), "{said}");
    }
    assert!(!out.exists());
    // Authorising another group takes the right away from the first one's members.
    school.room_cert("101", "mueller", "1h");
    school.registry(&["group", "authorize", "fachschaft-physik"]);
    let output = school.registry_output(&[
        "room-cert",
        "101",
        "--user",
        "mueller",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
}

//! Finding a device that moved: two hosts (network namespaces joined by a
//! veth pair); the agent announces itself by mDNS, the registry still has an
//! old address, and the console finds the device where it is now.

use pult_e2e::{Agent, Namespace, School, binary};

#[test]
fn a_device_with_a_stale_registry_address_is_found_by_mdns() {
    let (student, teacher) = Namespace::pair("disc");
    let school = School::with_teacher("Gymnasium Am Park");
    // The registry remembers an address the device no longer has.
    let stale = format!("{}.99", student.address.rsplit_once('.').unwrap().0);
    school.import(&format!("name,room,ip\nR101-PC01,101,{stale}\n"));
    let bundle = school.agent_bundle("R101-PC01");
    let _agent = Agent::start_in(
        &student,
        &bundle,
        &[
            "--screen",
            "synthetic",
            "--synthetic-size",
            "320x180",
            "--listen",
            &student.address,
            "--session-user",
            "schueler01",
        ],
    );
    let cert = school.room_cert("101", "mueller", "1h");

    // Without mDNS the console only knows the stale address.
    let output = teacher
        .command(&binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["status", "--seconds", "4"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(&format!("R101-PC01 at {stale}:11500: offline")),
        "{said}"
    );

    // With mDNS it finds the device where it announced itself.
    let output = teacher
        .command(&binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["status", "--mdns", "--seconds", "8"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&format!(
            "R101-PC01 at {}:11500: online, user schueler01",
            student.address
        )),
        "{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success());
}

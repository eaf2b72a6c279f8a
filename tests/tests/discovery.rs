//! Finding a device that moved: two hosts (network namespaces joined by a
//! veth pair); the agent announces itself by mDNS, the registry still has an
//! old address, and the console finds the device where it is now. Agents of
//! another room and of another school on the same network are shown as
//! unknown devices (R14) and stored nowhere.

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
    // Two agents the room's certificate does not list: one of room 102 and
    // one of another school, on the same network.
    school.import(&format!(
        "name,room,ip\nR102-PC07,102,{}:11501\n",
        student.address
    ));
    let _other_room = Agent::start_in(
        &student,
        &school.agent_bundle("R102-PC07"),
        &["--screen", "synthetic", "--synthetic-size", "320x180"],
    );
    let elsewhere = School::with_teacher("Realschule Nord");
    elsewhere.import(&format!(
        "name,room,ip\nNORD-PC01,201,{}:11502\n",
        student.address
    ));
    let _other_school = Agent::start_in(
        &student,
        &elsewhere.agent_bundle("NORD-PC01"),
        &["--screen", "synthetic", "--synthetic-size", "320x180"],
    );
    let registry_before = school.registry(&["device", "list", "--json"]);

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
    // R14: the other room's and the other school's agents, by the names they
    // announce and where; not the room's own device.
    for (name, port) in [("NORD-PC01", 11502), ("R102-PC07", 11501)] {
        assert!(
            said.contains(&format!(
                "unknown device {name} at {}:{port}: not in this room's certificate",
                student.address
            )),
            "{said}"
        );
    }
    assert!(!said.contains("unknown device R101-PC01"), "{said}");
    // Stored nowhere: the registry is as it was, and nothing was written
    // beside the room certificate.
    assert_eq!(
        school.registry(&["device", "list", "--json"]),
        registry_before
    );
    let mut beside: Vec<String> = std::fs::read_dir(&cert)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["ca.crt", "room.crt", "room.json", "room.key"]);
}

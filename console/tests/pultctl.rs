//! `pultctl` says clearly what is wrong with its certificate directory or the
//! network, and does not hang on a device that does not answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pult_protocol::DeviceId;
use pult_protocol::credentials::{RoomDevice, RoomManifest};
use pult_protocol::grant::RoomGrant;
use pult_protocol::pki::SchoolCa;

fn pultctl(cert: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pultctl"))
        .arg("--cert")
        .arg(cert)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A room certificate directory whose one device "PC-01" is at `address`.
fn certificate_dir(dir: &Path, address: &str) {
    let ca = SchoolCa::generate("Schule").unwrap();
    let device = DeviceId::random();
    let grant = RoomGrant {
        organisation: "Schule".into(),
        room: "101".into(),
        user: "mueller".into(),
        features: vec!["screenshot".into()],
        steerable: vec![device],
        not_steerable: vec![],
        wake: vec![],
    };
    let issued = ca
        .issue_room_certificate(&grant, Duration::from_secs(600))
        .unwrap();
    let manifest = RoomManifest {
        organisation: "Schule".into(),
        room: "101".into(),
        user: "mueller".into(),
        not_after: issued.not_after,
        devices: vec![RoomDevice {
            name: "PC-01".into(),
            uuid: device,
            address: Some(address.parse().unwrap()),
            position: None,
            steerable: true,
            macs: vec![],
            fingerprint: None,
        }],
    };
    std::fs::write(dir.join("ca.crt"), ca.certificate_pem()).unwrap();
    std::fs::write(dir.join("room.crt"), issued.certificate_pem).unwrap();
    std::fs::write(dir.join("room.key"), issued.key_pem).unwrap();
    std::fs::write(
        dir.join("room.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_missing_certificate_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let (ok, said) = pultctl(&missing, &["open-url", "https://example.org"]);
    assert!(!ok);
    assert!(
        said.contains("nowhere") && said.contains("room.json"),
        "{said}"
    );
}

#[test]
fn a_device_that_does_not_answer_is_reported_not_waited_for_forever() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let address = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    certificate_dir(dir.path(), &address);
    let out = dir.path().join("shot.png");
    let (ok, said) = pultctl(
        dir.path(),
        &["screenshot", "PC-01", "--out", out.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(said.contains("PC-01: cannot reach the agent at"), "{said}");
    assert!(!out.exists());
}

#[test]
fn a_broken_key_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    certificate_dir(dir.path(), "127.0.0.1:9");
    std::fs::write(dir.path().join("room.key"), "not a key").unwrap();
    let (ok, said) = pultctl(dir.path(), &["open-url", "https://example.org"]);
    assert!(!ok);
    assert!(said.contains("private key"), "{said}");
}

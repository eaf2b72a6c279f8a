//! `pult-agent` refuses to start on a broken installation, saying what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn agent(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pult-agent"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_missing_bundle_names_the_file_it_could_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = agent(&[
        "--bundle",
        dir.path().to_str().unwrap(),
        "--screen",
        "synthetic",
    ]);
    assert!(!ok);
    assert!(said.contains("device.json"), "{said}");
}

#[test]
fn a_broken_manifest_and_bad_options_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("device.json"), "{\"name\": 1}").unwrap();
    let (ok, said) = agent(&["--bundle", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(said.contains("not a valid device manifest"), "{said}");

    let (ok, said) = agent(&["--bundle", "x", "--listen", "pc-01"]);
    assert!(!ok);
    assert!(said.contains("'pc-01' is not an IP address"), "{said}");
    let (ok, said) = agent(&["--bundle", "x", "--screen", "vnc"]);
    assert!(!ok);
    assert!(said.contains("vnc"), "{said}");
}

#[cfg(unix)]
#[test]
fn a_device_key_others_can_read_is_refused_as_ssh_does() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("device.json"),
        r#"{"organisation": "Schule", "name": "PC-01",
            "uuid": "6f1c2a52-7a4e-4b8e-9a51-3c2d1e0f9a7b", "listen": null}"#,
    )
    .unwrap();
    let key = dir.path().join("device.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, said) = agent(&[
        "--bundle",
        dir.path().to_str().unwrap(),
        "--screen",
        "synthetic",
    ]);
    assert!(!ok);
    assert!(said.contains(key.to_str().unwrap()), "{said}");
    assert!(said.contains("mode 0644"), "{said}");
    assert!(said.contains("chmod 600"), "{said}");
}

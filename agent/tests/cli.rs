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

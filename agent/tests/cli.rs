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

/// Runs `pult-agent audit verify DIR`: success, and standard output.
fn verify(dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pult-agent"))
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn r17_audit_verify_passes_a_good_log_and_names_an_edited_and_a_deleted_line() {
    use pult_agent::audit::{AuditAction, AuditEntry, AuditLog, RETENTION};

    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), RETENTION).unwrap();
    for action in [
        AuditAction::Connect,
        AuditAction::Status,
        AuditAction::Screenshot,
        AuditAction::Status,
        AuditAction::Disconnect,
    ] {
        log.record(&AuditEntry {
            user: Some("mueller".into()),
            room: Some("101".into()),
            ..AuditEntry::new(action, "10.0.0.5:5000")
        });
    }
    drop(log);
    let (ok, said) = verify(dir.path());
    assert!(ok, "{said}");
    assert!(said.contains("5 lines in 1 files verified"), "{said}");

    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let good = std::fs::read_to_string(&file).unwrap();

    // A screenshot the teacher would rather not have had logged, made a status poll.
    std::fs::write(&file, good.replacen("\"screenshot\"", "\"status\"", 1)).unwrap();
    let (ok, said) = verify(dir.path());
    assert!(!ok);
    assert!(said.contains(&format!("{name} line 3: changed")), "{said}");

    // The screenshot's line deleted instead.
    let without: String = good
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&file, without).unwrap();
    let (ok, said) = verify(dir.path());
    assert!(!ok);
    assert!(
        said.contains(&format!(
            "{name} line 3: the line before this one was deleted"
        )),
        "{said}"
    );

    // A directory that is not there is an error of its own.
    let (ok, _) = verify(&dir.path().join("missing"));
    assert!(!ok);
}

//! The student side's Debian package: built by `packaging/linux/build-deb.sh`
//! from the agent this test run built, its contents and control fields
//! checked, lintian clean, and installed for real with an agent bundle given
//! at install time (then purged): the key is root's alone (needs root, as
//! `dpkg -i` does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pult_e2e::{School, binary, free_address};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn build(out: &Path) -> PathBuf {
    let printed = run(Command::new("bash")
        .arg(repository().join("packaging/linux/build-deb.sh"))
        .arg(binary("pult-agent"))
        .arg(out));
    PathBuf::from(printed.trim())
}

#[test]
fn the_agent_package_holds_service_and_program_and_lintian_finds_nothing() {
    let out = tempfile::tempdir().unwrap();
    let deb = build(out.path());
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for (path, mode) in [
        ("./usr/bin/pult-agent", "-rwxr-xr-x root/root"),
        (
            "./lib/systemd/system/pult-agent.service",
            "-rw-r--r-- root/root",
        ),
        (
            "./usr/share/doc/pult-agent/copyright",
            "-rw-r--r-- root/root",
        ),
        (
            "./usr/share/doc/pult-agent/changelog.gz",
            "-rw-r--r-- root/root",
        ),
    ] {
        assert!(
            contents
                .lines()
                .any(|line| line.starts_with(mode) && line.ends_with(path)),
            "{path} ({mode}) is not in the package:\n{contents}"
        );
    }
    let field = |name: &str| run(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "pult-agent");
    let depends = field("Depends");
    for needed in ["libc6", "libxcb1", "debconf", "fonts-dejavu-core"] {
        assert!(
            depends.contains(needed),
            "Depends lacks {needed}: {depends}"
        );
    }
    let unit =
        std::fs::read_to_string(repository().join("packaging/linux/pult-agent.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/pult-agent service --bundle /var/lib/pult-agent/bundle")
    );
    assert!(unit.contains("UMask=0077"));

    // Errors and warnings fail; the remaining informational tags are
    // explained in packaging/linux/deb/lintian-overrides.
    let lintian = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--info"])
        .arg(&deb)
        .output()
        .expect("lintian is needed for this test; .ci/run installs it");
    let said = String::from_utf8_lossy(&lintian.stdout);
    println!("lintian: {said}");
    assert!(lintian.status.success(), "lintian: {said}");
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{said}"
    );
}

#[test]
fn the_agent_package_installs_with_a_bundle_given_at_install_time_and_purges() {
    assert_eq!(
        std::fs::metadata("/proc/self").unwrap().uid(),
        0,
        "installing a package needs root (CI runs as root)"
    );
    let installed = Command::new("dpkg-query")
        .args(["--show", "--showformat=${Status}", "pult-agent"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&installed.stdout).contains("installed"),
        "pult-agent is installed on this machine; this test installs and purges its own"
    );
    let school = School::with_teacher("Gymnasium Am Park");
    school.import(&format!("name,room,ip\nR101-PC01,101,{}\n", free_address()));
    let bundle = school.agent_bundle("R101-PC01");
    let out = tempfile::tempdir().unwrap();
    let deb = build(out.path());

    let install = Command::new("dpkg")
        .arg("--install")
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PULT_AGENT_BUNDLE", &bundle)
        .output()
        .unwrap();
    let purge = || {
        let _ = Command::new("dpkg")
            .args(["--purge", "pult-agent"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    };
    if !install.status.success() {
        purge();
        panic!(
            "dpkg --install failed: {}{}",
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        );
    }
    let checks = std::panic::catch_unwind(|| {
        let installed = Path::new("/var/lib/pult-agent/bundle");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().mode() & 0o7777;
        assert_eq!(
            mode(installed),
            0o700,
            "the bundle directory is root's alone"
        );
        assert_eq!(
            mode(&installed.join("device.key")),
            0o600,
            "the key is root's alone"
        );
        assert_eq!(
            mode(Path::new("/var/log/pult-agent")),
            0o700,
            "the audit log is root's alone"
        );
        for file in ["ca.crt", "device.crt", "device.json", "device.key"] {
            assert_eq!(
                std::fs::read(installed.join(file)).unwrap(),
                std::fs::read(bundle.join(file)).unwrap(),
                "{file} installed as given"
            );
        }
        let help = run(Command::new("/usr/bin/pult-agent").args(["service", "--help"]));
        assert!(help.contains("--session-user"), "{help}");
    });
    purge();
    assert!(
        !Path::new("/var/lib/pult-agent").exists(),
        "purge removes the key"
    );
    assert!(!Path::new("/usr/bin/pult-agent").exists());
    if let Err(failure) = checks {
        std::panic::resume_unwind(failure);
    }
}

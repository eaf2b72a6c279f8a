//! The student side's Debian package: built by `packaging/linux/build-deb.sh`
//! from the agent this test run built, its contents and control fields
//! checked, lintian clean, and installed for real with an agent bundle given
//! at install time, and with the registry's address and an enrolment token
//! (then purged): the key is root's alone (needs root, as `dpkg -i` does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pult_e2e::{RegistryServer, School, binary, free_address};

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

/// `dpkg --install` of `deb` with `env`; its output, and whether it worked.
fn install(deb: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new("dpkg")
        .arg("--install")
        .arg(deb)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn purge() {
    let _ = Command::new("dpkg")
        .args(["--purge", "pult-agent"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
}

/// The installed bundle's directory, key and log are root's alone.
fn installed_privately() -> PathBuf {
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
    installed.to_owned()
}

/// Runs `checks` on the installed package, then purges it whatever happened,
/// and insists that the purge removed program and key.
fn then_purged(checks: impl FnOnce() + std::panic::UnwindSafe) {
    let checked = std::panic::catch_unwind(checks);
    purge();
    assert!(
        !Path::new("/var/lib/pult-agent").exists(),
        "purge removes the key"
    );
    assert!(!Path::new("/usr/bin/pult-agent").exists());
    if let Err(failure) = checked {
        std::panic::resume_unwind(failure);
    }
}

/// Installs for real, one way after the other (they share the system's
/// paths): with an agent bundle, then with the registry's address and an
/// enrolment token, with which the computer makes its own key and enrols
/// itself; a used-up token fails the installation with the registry's reason.
#[test]
fn the_agent_package_installs_with_a_bundle_or_enrols_with_a_token_and_purges() {
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

    // With a bundle.
    let with_bundle = install(&deb, &[("PULT_AGENT_BUNDLE", bundle.to_str().unwrap())]);
    if !with_bundle.status.success() {
        purge();
        panic!(
            "dpkg --install failed: {}{}",
            String::from_utf8_lossy(&with_bundle.stdout),
            String::from_utf8_lossy(&with_bundle.stderr)
        );
    }
    then_purged(|| {
        let installed = installed_privately();
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

    // With the registry and a token: the computer enrols itself.
    let server = RegistryServer::start(&school, &[]);
    let token = school.token(&["--room", "101"]);
    let env = [
        ("PULT_REGISTRY", server.url.as_str()),
        ("PULT_TOKEN", token.as_str()),
        ("PULT_AGENT_NAME", "R101-PC02"),
    ];
    let enrolled = install(&deb, &env);
    if !enrolled.status.success() {
        purge();
        panic!(
            "dpkg --install with a token failed: {}{}",
            String::from_utf8_lossy(&enrolled.stdout),
            String::from_utf8_lossy(&enrolled.stderr)
        );
    }
    then_purged(|| {
        let installed = installed_privately();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(installed.join("device.json")).unwrap()).unwrap();
        assert_eq!(manifest["name"], "R101-PC02");
        assert_eq!(
            std::fs::read_to_string(installed.join("ca.crt")).unwrap(),
            std::fs::read_to_string(bundle.join("ca.crt")).unwrap(),
            "the school's CA"
        );
        let enrolments = school.log("enrolment");
        assert_eq!(enrolments[0]["subject"], "R101-PC02");
        assert_eq!(enrolments[0]["outcome"], "ok");
        // The token is not kept anywhere the package put things.
        let kept = Command::new("grep")
            .args([
                "-r",
                "-l",
                &token,
                "/var/lib/pult-agent",
                "/var/cache/debconf",
            ])
            .output()
            .unwrap();
        assert!(
            kept.stdout.is_empty(),
            "the token is kept in {}",
            String::from_utf8_lossy(&kept.stdout)
        );
    });

    // The token is used up now: the installation fails, saying why, and
    // leaves no bundle.
    let refused = install(&deb, &env);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    then_purged(|| {
        assert!(
            !refused.status.success(),
            "a used-up token enrolled: {said}"
        );
        assert!(said.contains("used up"), "{said}");
        assert!(!Path::new("/var/lib/pult-agent/bundle/device.json").exists());
    });
}

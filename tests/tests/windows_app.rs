//! The teacher app for Windows (issue 8): cross-compiled here, packed into
//! an MSI with its WebView2 loader and a Start menu entry, installed with a
//! registry and a teacher token (the PC enrols itself as a teacher PC) and
//! removed under Wine (the enrolment forgotten). Wine has no Microsoft Edge WebView2 Runtime, so the
//! window itself cannot open here; what can be shown is that the installed
//! program runs and tells the teacher, in a message box, what is missing.

use std::time::{Duration, Instant};

use pult_e2e::wine::{WinePrefix, build_msi, msi_table, windows_path};
use pult_e2e::{RegistryServer, School, Xvfb};

const PROGRAM: &str = r"C:\Program Files\Pult\App\pult.exe";
const LOADER: &str = r"C:\Program Files\Pult\App\WebView2Loader.dll";
/// Where the installer's enrolment puts the setting and the PC's identity.
const SETTING: &str = r"C:\ProgramData\Pult\registry.json";
const TEACHER_PC: &str = r"C:\ProgramData\Pult\teacher-pc";

#[test]
fn the_app_msi_installs_a_program_that_names_the_missing_web_view_and_uninstalls() {
    let school = School::with_teacher("Gesamtschule Nord");
    let msi = school.path("pult-app.msi");
    build_msi("app", &msi, None);

    let files = msi_table(&msi, "File");
    let names: Vec<&str> = files.iter().map(|row| row[2].as_str()).collect();
    assert!(names.contains(&"pult.exe"), "{names:?}");
    assert!(names.contains(&"WebView2Loader.dll"), "{names:?}");
    let shortcuts = msi_table(&msi, "Shortcut");
    assert!(
        shortcuts
            .iter()
            .any(|row| row[1] == "ProgramMenuFolder" && row[2] == "Pult"),
        "{shortcuts:?}"
    );

    // The teacher PC's enrolment by the installer: as SYSTEM, the token hidden.
    let actions = msi_table(&msi, "CustomAction");
    let enrol = actions
        .iter()
        .find(|row| row[0] == "EnrolTeacherPc")
        .expect("an EnrolTeacherPc custom action");
    assert_eq!(
        enrol[3],
        r#"enroll --registry "[REGISTRY]" --token "[TOKEN]" --name "[NAME]""#
    );
    let kind: u32 = enrol[1].parse().unwrap();
    assert_eq!(kind & (1024 | 2048 | 8192), 1024 | 2048 | 8192, "{enrol:?}");

    // Installed with the registry and a teacher token: the PC enrols itself.
    school.import("name,room,ip\nR204-PC07,204,127.0.0.1:9\n");
    let registry = RegistryServer::start(&school, &[]);
    let token = school.token(&["--room", "204", "--teacher"]);
    let xvfb = Xvfb::start(1024, 768);
    let wine = WinePrefix::new(&xvfb.display);
    let (installed, log) = wine.msiexec_enrolling(&msi, &registry.url, &token, "LEHRER-204");
    assert!(
        installed.status.success(),
        "msiexec /i failed: {}{log}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let setting: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wine.host_path(SETTING)).unwrap()).unwrap();
    assert_eq!(setting["url"], registry.url.as_str());
    let pc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(wine.host_path(TEACHER_PC).join("device.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pc["name"], "LEHRER-204");
    let enrolments = school.log("enrolment");
    assert_eq!(enrolments[0]["subject"], "LEHRER-204");
    assert!(
        enrolments[0]["detail"]
            .as_str()
            .unwrap()
            .contains("teacher PC"),
        "{enrolments:?}"
    );
    for path in [PROGRAM, LOADER] {
        assert!(wine.host_path(path).is_file(), "{path} is missing");
    }
    // The Start menu entry: Windows puts it in the common Start menu of a
    // per-machine install, Wine in the installing user's.
    assert_eq!(menu_entries(&wine).len(), 1, "one Start menu entry");

    let version = wine.wine(&[PROGRAM, "--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("pult {}", env!("CARGO_PKG_VERSION"))
    );

    // Opening a room needs the web view: the teacher is told what is missing.
    let cert = school.room_cert("204", "mueller", "1h");
    let stderr = school.path("app.stderr");
    let mut app = wine.spawn(&[PROGRAM, "--cert", &windows_path(&cert)], &stderr);
    let start = Instant::now();
    while xvfb.windows_named("Pult").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no message box appeared; the app said: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        assert!(
            app.try_wait().unwrap().is_none(),
            "the app ended without a message box: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let said = std::fs::read_to_string(&stderr).unwrap();
    assert!(said.contains("WebView2 Runtime"), "{said}");
    let _ = app.kill();
    let _ = app.wait();

    let removed = wine.wine(&["msiexec", "/x", &windows_path(&msi), "/qn"]);
    assert!(removed.status.success(), "msiexec /x failed");
    for path in [PROGRAM, LOADER, SETTING, TEACHER_PC] {
        assert!(!wine.host_path(path).exists(), "{path} is left");
    }
    assert!(
        menu_entries(&wine).is_empty(),
        "the Start menu entry is left"
    );
}

/// Every `Pult.lnk` in a Start menu of the prefix.
fn menu_entries(wine: &WinePrefix) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![
        wine.host_path(r"C:\ProgramData"),
        wine.host_path(r"C:\users"),
    ];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                folders.push(path);
            } else if path.ends_with("Start Menu/Programs/Pult.lnk") {
                found.push(path);
            }
        }
    }
    found
}

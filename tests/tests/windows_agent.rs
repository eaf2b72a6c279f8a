//! The Windows agent as a district installs it (issue 8): the MSI built here,
//! installed silently with `msiexec /qn REGISTRY=… TOKEN=…` into a Wine
//! prefix on an Xvfb display, the computer making its own key and enrolling
//! itself at a registry server (a broken bundle and a used-up token refused
//! first, with their reasons), its service started by Wine's service manager, and a
//! teacher's `pultctl` on Linux talking QUIC to it: the screenshot shows
//! what the screen shows, with the notice bar the student sees (R1, R2),
//! programs and web pages start in the student's session (R4), the lock
//! screen (R20) and the teacher's broadcast (R7) cover it, every
//! access is in the agent's audit log, and removing the MSI takes service,
//! program, key and audit log with it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pult_e2e::wine::{WinePrefix, build_msi, msi_table, windows_path};
use pult_e2e::{
    RegistryServer, School, Xvfb, audit_entries, binary, free_address, pattern, pultctl,
    recording_opener, wait_until,
};
use pult_screen::{CaptureSource, DesktopCapture, ScreenArea, decode_png, encode_png};

const SERVICE: &str = "PultAgent";
const SERVICE_KEY: &str = r"HKLM\System\CurrentControlSet\Services\PultAgent";
const DATA: &str = r"C:\ProgramData\Pult\Agent";
const PROGRAM: &str = r"C:\Program Files\Pult\Agent\pult-agent.exe";
/// The height of the Windows notice bar.
const NOTICE_BAR: u32 = 30;

#[test]
fn the_msi_installs_a_service_that_serves_the_teacher_and_uninstalls_cleanly() {
    let school = School::with_teacher("Gesamtschule Nord");
    let msi = school.path("pult-agent.msi");
    build_msi("agent", &msi, None);

    // The package itself: the service as LocalSystem with automatic start,
    // the bundle installed by the agent as SYSTEM, a rebuild of the same
    // version taken as an upgrade (IncludeMaximum, which wixl leaves out).
    let services = msi_table(&msi, "ServiceInstall");
    assert_eq!(services.len(), 1, "{services:?}");
    let service = &services[0];
    assert_eq!(service[1], SERVICE, "{service:?}");
    assert_eq!(service[3], "16", "own process: {service:?}");
    assert_eq!(service[4], "2", "automatic start: {service:?}");
    assert_eq!(service[8], "LocalSystem", "{service:?}");
    assert_eq!(service[10], "service", "{service:?}");
    let actions = msi_table(&msi, "CustomAction");
    let install = actions
        .iter()
        .find(|row| row[0] == "InstallBundle")
        .expect("an InstallBundle custom action");
    assert_eq!(install[3], r#"install --bundle "[BUNDLE]\.""#);
    let enrolment = actions
        .iter()
        .find(|row| row[0] == "InstallEnrolment")
        .expect("an InstallEnrolment custom action");
    assert_eq!(
        enrolment[3],
        r#"install --registry "[REGISTRY]" --token "[TOKEN]" --name "[NAME]""#
    );
    // Deferred (1024) and not impersonating (2048): the agent runs as SYSTEM.
    for action in [install, enrolment] {
        let kind: u32 = action[1].parse().unwrap();
        assert_eq!(kind & (1024 | 2048), 1024 | 2048, "{action:?}");
    }
    // The token stays out of msiexec's logs: the action's command line
    // hidden (8192), the property hidden.
    let kind: u32 = enrolment[1].parse().unwrap();
    assert_ne!(kind & 8192, 0, "HideTarget: {enrolment:?}");
    let properties = msi_table(&msi, "Property");
    assert!(
        properties
            .iter()
            .any(|row| row[0] == "MsiHiddenProperties" && row[1].contains("TOKEN")),
        "{properties:?}"
    );
    let upgrade = msi_table(&msi, "Upgrade");
    let replaces = upgrade
        .iter()
        .find(|row| row[6] == "PULT_UPGRADE")
        .expect("an upgrade row");
    let attributes: u32 = replaces[4].parse().unwrap();
    assert_ne!(attributes & 512, 0, "IncludeMaximum: {replaces:?}");

    let xvfb = Xvfb::start(800, 600);
    let drawn = pattern(800, 600, [255, 128, 0, 255]);
    let png = school.path("drawn.png");
    std::fs::write(&png, encode_png(&drawn).unwrap()).unwrap();
    xvfb.show(&png);

    school.import(&format!("name,room,ip\nR204-PC07,204,{}\n", free_address()));
    let bundle = school.agent_bundle("R204-PC07");
    // The district installs with the registry and a token: the computer
    // makes its own key under Wine and enrols itself.
    let registry = RegistryServer::start(&school, &[]);

    let wine = WinePrefix::new(&xvfb.display);
    // Web pages open through Windows' own way (rundll32 url.dll), which
    // Wine hands to the browser named here: a script that notes the URL.
    let browser_dir = school.path("browser");
    std::fs::create_dir(&browser_dir).unwrap();
    let browser = recording_opener(&browser_dir);
    let opened = browser_dir.join("opened.txt");
    let set = wine.wine(&[
        "reg",
        "add",
        r"HKCU\Software\Wine\WineBrowser",
        "/v",
        "Browsers",
        "/d",
        browser.to_str().unwrap(),
        "/f",
    ]);
    assert!(set.status.success(), "could not name the browser");

    // A broken bundle fails the installation with the reason, and leaves
    // neither service nor program nor data behind.
    let broken = school.path("broken-bundle");
    std::fs::create_dir(&broken).unwrap();
    for file in ["device.crt", "device.key", "ca.crt"] {
        std::fs::copy(bundle.join(file), broken.join(file)).unwrap();
    }
    std::fs::write(broken.join("device.json"), "{\"name\": \"R204-PC07\"").unwrap();
    let (refused, log) = wine.msiexec(&[
        "/i",
        &windows_path(&msi),
        "/qn",
        &format!("BUNDLE={}", windows_path(&broken)),
    ]);
    assert!(!refused.status.success(), "a broken bundle was installed");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("device.json"), "the reason: {said}{log}");
    assert_eq!(wine.service_state(SERVICE), None);
    assert!(!wine.host_path(PROGRAM).exists());
    assert!(!wine.host_path(DATA).exists());

    // A token without the registry's address installs nothing.
    let (half, _) = wine.msiexec(&["/i", &windows_path(&msi), "/qn", "TOKEN=abc.def"]);
    assert!(
        !half.status.success(),
        "a token without a registry installed"
    );
    assert_eq!(wine.service_state(SERVICE), None);
    assert!(!wine.host_path(PROGRAM).exists());

    // A used-up token fails the installation with the registry's reason,
    // and leaves nothing behind either.
    let spent = school.token(&["--room", "204"]);
    let spend = registry.agent_enroll(&spent, "R204-PC08", &school.path("pc08"));
    assert!(
        spend.status.success(),
        "{}",
        String::from_utf8_lossy(&spend.stderr)
    );
    let (refused, log) = wine.msiexec_enrolling(&msi, &registry.url, &spent, "R204-PC07");
    assert!(!refused.status.success(), "a used-up token enrolled");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("used up"), "the reason: {said}{log}");
    assert_eq!(wine.service_state(SERVICE), None);
    assert!(!wine.host_path(DATA).exists());

    // The district's silent install: the registry's address and a token.
    let token = school.token(&["--room", "204"]);
    let (installed, log) = wine.msiexec_enrolling(&msi, &registry.url, &token, "R204-PC07");
    assert!(
        installed.status.success(),
        "msiexec /i failed: {}{log}",
        String::from_utf8_lossy(&installed.stderr)
    );
    // The room certificate after the enrolment: it pins the device's new certificate.
    let cert = school.room_cert("204", "mueller", "1h");
    wine.wait_for_service(SERVICE, Some("RUNNING"), Duration::from_secs(30));
    // The service's program path is quoted (the unquoted-path attack).
    let image = wine
        .registry_value(SERVICE_KEY, "ImagePath")
        .expect("the service has an ImagePath");
    assert_eq!(image, format!("\"{PROGRAM}\" service"));
    assert!(wine.host_path(PROGRAM).is_file());
    let data = wine.host_path(DATA);
    // Its own key and certificate, for the registered device, the school's CA.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("bundle/device.json")).unwrap()).unwrap();
    let registered: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("device.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "R204-PC07");
    assert_eq!(manifest["uuid"], registered["uuid"]);
    assert_eq!(
        std::fs::read(data.join("bundle/ca.crt")).unwrap(),
        std::fs::read(bundle.join("ca.crt")).unwrap()
    );
    assert_ne!(
        std::fs::read(data.join("bundle/device.key")).unwrap(),
        std::fs::read(bundle.join("device.key")).unwrap(),
        "a key made on the device"
    );

    // A screenshot from the teacher shows the screen, with the notice bar.
    // The service is running; its helper in the student's session may take
    // a moment more, and until then the agent refuses (it cannot notify).
    let shot_path = school.path("shot.png");
    let started = Instant::now();
    let ctl = loop {
        let ctl = pultctl(
            &cert,
            &[
                "screenshot",
                "R204-PC07",
                "--out",
                shot_path.to_str().unwrap(),
            ],
        );
        if ctl.success || !ctl.stderr.contains("cannot-notify") || started.elapsed().as_secs() > 30
        {
            break ctl;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(ctl.success, "{}{}", ctl.stderr, service_log(&data));
    // The bar is on the screen now (it stays 10 s after a screenshot).
    let bars = xvfb.windows_named("pult-notice");
    assert_eq!(bars, vec![(0, 0, 800, NOTICE_BAR)], "the notice bar");
    let shot = decode_png(&std::fs::read(&shot_path).unwrap()).unwrap();
    assert_eq!((shot.width(), shot.height()), (800, 600));
    for y in NOTICE_BAR..600 {
        for x in 0..800 {
            assert_eq!(shot.pixel(x, y), drawn.pixel(x, y), "pixel ({x}, {y})");
        }
    }
    let [red, green, blue, _] = shot.pixel(4, 4).unwrap();
    assert!(
        red > 150 && green < 60 && blue < 60,
        "the notice bar is red: {:?}",
        shot.pixel(4, 4)
    );

    // A program and a web page start in the student's session.
    let marker = r"C:\users\Public\pult-ran.txt";
    let ctl = pultctl(
        &cert,
        &[
            "run",
            "--on",
            "R204-PC07",
            "cmd.exe",
            "/c",
            &format!("echo ran>{marker}"),
        ],
    );
    assert!(ctl.success, "{}", ctl.stderr);
    wait_until(Duration::from_secs(20), "the program did not run", || {
        std::fs::read_to_string(wine.host_path(marker)).is_ok_and(|text| text.trim() == "ran")
    });
    let url = "https://lernplattform.example.org/kurs/7?tab=aufgaben";
    let ctl = pultctl(&cert, &["open-url", url, "R204-PC07"]);
    assert!(ctl.success, "{}", ctl.stderr);
    wait_until(Duration::from_secs(20), "the page was not opened", || {
        std::fs::read_to_string(&opened).is_ok_and(|text| text.lines().any(|l| l == url))
    });

    // The lock screen (R20) covers the screen, topmost, until unlocked.
    // (Wine has no BlockInput, so keyboard and mouse are not blocked here.)
    let ctl = pultctl(
        &cert,
        &["lock", "R204-PC07", "--message", "Augen nach vorn"],
    );
    assert!(ctl.success, "{}{}", ctl.stderr, service_log(&data));
    assert_eq!(
        xvfb.windows_named("pult-lock"),
        vec![(0, 0, 800, 600)],
        "the lock window over the monitor"
    );
    let status = pultctl(&cert, &["status", "--seconds", "2"]);
    assert!(
        status.stdout.contains("locked by mueller"),
        "{}",
        status.stdout
    );
    let ctl = pultctl(&cert, &["unlock", "R204-PC07"]);
    assert!(ctl.success, "{}", ctl.stderr);
    assert!(xvfb.windows_named("pult-lock").is_empty(), "unlocked");

    // The teacher's broadcast (R7): a 1280x720 screen of their own, over
    // the student's 800x600 scaled to fit (800x450, black above and below),
    // under the notice bar, until it ends.
    let teacher = Xvfb::start(1280, 720);
    let teachers_png = school.path("teacher.png");
    std::fs::write(
        &teachers_png,
        encode_png(&pattern(1280, 720, [255, 32, 0, 255])).unwrap(),
    )
    .unwrap();
    teacher.show(&teachers_png);
    let broadcasting = Command::new(binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .args(["broadcast", "--to", "R204-PC07", "--seconds", "6"])
        .env("DISPLAY", &teacher.display)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), "the broadcast window", || {
        xvfb.windows_named("pult-broadcast") == vec![(0, 0, 800, 600)]
    });
    // Teacher (x, y) lands at (x * 0.625, 75 + y * 0.625).
    let samples = [
        ((125, 137), [255, 32, 0]),  // the accent rectangle at (200, 100)
        ((281, 294), [0, 192, 255]), // the blue square at (450, 350)
        ((562, 450), [32, 48, 64]),  // the ground at (900, 600)
        ((400, 40), [0, 0, 0]),      // the black bar above the picture
        ((400, 590), [0, 0, 0]),     // and below it
    ];
    wait_until(Duration::from_secs(10), "the teacher's picture", || {
        let screen = DesktopCapture::x11(&xvfb.display)
            .capture(ScreenArea::Desktop)
            .unwrap();
        samples.iter().all(|&((x, y), colour)| {
            screen
                .pixel(x, y)
                .is_some_and(|p| (0..3).all(|c| p[c].abs_diff(colour[c]) <= 16))
        })
    });
    let output = broadcasting.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("R204-PC07: shown"),
        "{stdout}{}{}",
        String::from_utf8_lossy(&output.stderr),
        service_log(&data)
    );
    wait_until(Duration::from_secs(5), "the broadcast ended", || {
        xvfb.windows_named("pult-broadcast").is_empty()
    });
    drop(teacher);

    // A message box with the teacher's words, which the student closes.
    let ctl = pultctl(
        &cert,
        &[
            "message",
            "Bitte speichern",
            "R204-PC07",
            "--title",
            "Pause",
        ],
    );
    assert!(ctl.success, "{}{}", ctl.stderr, service_log(&data));
    assert_eq!(xvfb.windows_named("Pause").len(), 1, "the message box");

    // Files (R6): a worksheet and a folder arrive in the receive folder on
    // the student's desktop (asked of Windows with the student's token, and
    // written impersonating them); without --overwrite the worksheet stays;
    // the hand-in folder beside it is collected.
    let material = school.path("Material");
    std::fs::create_dir(&material).unwrap();
    std::fs::write(material.join("Teil 1.txt"), "Aufgabe 1").unwrap();
    let worksheet = school.path("Arbeitsblatt.txt");
    let contents: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&worksheet, &contents).unwrap();
    let (worksheet, material) = (worksheet.to_str().unwrap(), material.to_str().unwrap());
    let ctl = pultctl(&cert, &["send", worksheet, material, "--to", "R204-PC07"]);
    assert!(
        ctl.success,
        "{}{}{}",
        ctl.stdout,
        ctl.stderr,
        service_log(&data)
    );
    let users = wine.host_path(r"C:\users");
    let desktop = std::fs::read_dir(&users)
        .unwrap()
        .flatten()
        .map(|user| user.path().join("Desktop"))
        .find(|desktop| {
            !desktop.starts_with(users.join("Public"))
                && std::fs::read_dir(desktop).is_ok_and(|mut d| d.next().is_some())
        })
        .expect("the student's desktop with the receive folder");
    let (received, hand_in) = if desktop.join("Von der Lehrkraft").is_dir() {
        (desktop.join("Von der Lehrkraft"), desktop.join("Abgabe"))
    } else {
        (desktop.join("From the teacher"), desktop.join("Hand-in"))
    };
    assert_eq!(
        std::fs::read(received.join("Arbeitsblatt.txt")).unwrap(),
        contents
    );
    assert_eq!(
        std::fs::read_to_string(received.join("Material/Teil 1.txt")).unwrap(),
        "Aufgabe 1"
    );
    let names: Vec<_> = std::fs::read_dir(&received)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".pult-")),
        "a temporary file is left: {names:?}"
    );
    std::fs::write(worksheet, b"changed").unwrap();
    let ctl = pultctl(&cert, &["send", worksheet, "--to", "R204-PC07"]);
    assert!(
        !ctl.success && ctl.stderr.contains("exists: Arbeitsblatt.txt"),
        "{}{}",
        ctl.stdout,
        ctl.stderr
    );
    assert_eq!(
        std::fs::read(received.join("Arbeitsblatt.txt")).unwrap(),
        contents
    );
    std::fs::create_dir_all(&hand_in).unwrap();
    std::fs::write(hand_in.join("Aufsatz.txt"), "Mein Aufsatz").unwrap();
    let out = school.path("eingesammelt");
    let ctl = pultctl(
        &cert,
        &[
            "collect",
            "--from",
            "R204-PC07",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(ctl.success, "{}{}", ctl.stderr, service_log(&data));
    let collected: Vec<_> = std::fs::read_dir(out.join("204"))
        .unwrap()
        .flatten()
        .map(|device| device.path().join("Aufsatz.txt"))
        .collect();
    assert_eq!(collected.len(), 1, "{collected:?}");
    assert_eq!(
        std::fs::read_to_string(&collected[0]).unwrap(),
        "Mein Aufsatz"
    );

    // Every access is in the audit log under ProgramData.
    let audit = audit_entries(&data.join("audit"));
    for action in [
        "screenshot",
        "run-program",
        "open-url",
        "lock",
        "unlock",
        "broadcast",
        "broadcast-end",
        "message",
        "files-send",
        "files-sent",
        "files-collect",
        "files-collected",
    ] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"] == action && e["result"] == "ok" && e["user"] == "mueller"),
            "no audit entry for {action}: {audit:#?}"
        );
    }

    // The bar goes when nobody watches any more.
    wait_until(Duration::from_secs(30), "the notice bar stayed", || {
        xvfb.windows_named("pult-notice").is_empty()
    });

    // Removing the MSI takes service, program, key and audit log.
    let (removed, log) = wine.msiexec(&["/x", &windows_path(&msi), "/qn"]);
    assert!(
        removed.status.success(),
        "msiexec /x failed: {}{log}",
        String::from_utf8_lossy(&removed.stderr)
    );
    wine.wait_for_service(SERVICE, None, Duration::from_secs(30));
    assert!(!wine.host_path(PROGRAM).exists(), "the program is left");
    assert!(!data.exists(), "{} is left", data.display());
    wait_until(Duration::from_secs(10), "an agent process is left", || {
        wine.processes("pult-agent").is_empty()
    });
}

fn service_log(data: &Path) -> String {
    std::fs::read_to_string(data.join("service.log"))
        .map(|log| format!("\nservice.log:\n{log}"))
        .unwrap_or_default()
}
